"""gradcallback: see what your transformer text model looks at while it trains.

Public names are imported on first use (PEP 562): `import gradcallback` loads no framework and
almost nothing else, so TensorBoard's plugin entry point (`gradcallback.dashboard`) stays tiny
and cannot fail, the command line can quiet TensorFlow before anything imports it, and the engine
imports the backend a model needs only when a model is explained.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.4.0.dev0"

_EXPORTS = {
    "Alert": "alerts",
    "Attribution": "attribution",
    "AttributionList": "attribution",
    "Prediction": "attribution",
    "normalize_l1_share": "attribution",
    "normalize_max_abs": "attribution",
    "AttributionCallback": "callback",
    "Display": "summaries",
    "METHODS": "engine",
    "Explainer": "engine",
    "explain": "explaining",
    "Drift": "monitors",
    "Faithfulness": "monitors",
    "Monitor": "monitors",
    "ShortcutDiscovery": "monitors",
    "SpuriousGroups": "monitors",
    "VocabularyCheck": "monitors",
    "ProbeSet": "probes",
    "AttributionPrior": "remedies",
    "counterfactual_augment": "remedies",
    "SpuriousAttributionError": "analysis.groups",
    "coverage": "analysis.coverage",
    "show": "views.notebook",
    "side_by_side": "views.notebook",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time `__getattr__` imports on demand
    from .alerts import Alert  # noqa: F401
    from .analysis.coverage import coverage  # noqa: F401
    from .analysis.groups import SpuriousAttributionError  # noqa: F401
    from .attribution import Attribution, AttributionList, Prediction, normalize_l1_share, normalize_max_abs  # noqa: F401
    from .callback import AttributionCallback  # noqa: F401
    from .engine import METHODS, Explainer  # noqa: F401
    from .explaining import explain  # noqa: F401
    from .monitors import Drift, Faithfulness, Monitor, ShortcutDiscovery, SpuriousGroups, VocabularyCheck  # noqa: F401
    from .probes import ProbeSet  # noqa: F401
    from .remedies import AttributionPrior, counterfactual_augment  # noqa: F401
    from .summaries import Display  # noqa: F401
    from .views.notebook import show, side_by_side  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcallback' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
