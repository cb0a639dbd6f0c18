"""Monitors: objects the callback runs at every logged step, passed in a list like Keras callbacks.

    AttributionCallback(probes, log_dir, monitors=[SpuriousGroups({"names": [...]}), VocabularyCheck(...),
                                                   Faithfulness(), ShortcutDiscovery(), Drift()])

Each is bound to one attribution method, validates its own arguments, and writes its own tags,
`report` columns and progress-line fragment. `Monitor` documents the protocol a user's own
monitor follows (examples/custom_monitor.py).
"""

from .base import DEFAULT_METHOD, Monitor, RunContext
from .drift import Drift
from .perturbation import Faithfulness, ShortcutDiscovery
from .spurious import SpuriousGroups
from .vocabulary import VocabularyCheck

__all__ = ["DEFAULT_METHOD", "Drift", "Faithfulness", "Monitor", "RunContext", "ShortcutDiscovery",
           "SpuriousGroups", "VocabularyCheck"]
