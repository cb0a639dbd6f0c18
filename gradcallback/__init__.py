"""gradcallback: see what your transformer text model looks at while it trains.

Importing it imports no deep-learning framework: the engine imports the backend a model needs
when a model is explained.
"""

__version__ = "0.2.0"

from .attribution import Attribution, AttributionList, Prediction, normalize_l1_share, normalize_max_abs  # noqa: E402
from .callback import AttributionCallback  # noqa: E402
from .engine import METHODS, Explainer, explain  # noqa: E402
from .monitors import Drift, Faithfulness, Monitor, ShortcutDiscovery, SpuriousGroups, VocabularyCheck  # noqa: E402
from .notebook import show, side_by_side  # noqa: E402
from .probes import ProbeSet  # noqa: E402
from .spurious import SpuriousAttributionError  # noqa: E402
from .summaries import Display  # noqa: E402
from .vocabulary import coverage  # noqa: E402

__all__ = [
    "Attribution",
    "AttributionCallback",
    "AttributionList",
    "Display",
    "Drift",
    "Explainer",
    "Faithfulness",
    "METHODS",
    "Monitor",
    "Prediction",
    "ProbeSet",
    "ShortcutDiscovery",
    "SpuriousAttributionError",
    "SpuriousGroups",
    "VocabularyCheck",
    "coverage",
    "explain",
    "normalize_l1_share",
    "normalize_max_abs",
    "show",
    "side_by_side",
]
