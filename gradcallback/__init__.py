"""gradcallback: see what your transformer text model looks at while it trains.

Names are imported on first use (PEP 562): `import gradcallback` loads no framework, so the
command line can quiet TensorFlow's start-up logging before TensorFlow is imported, and
`gradcallback report` or a notebook showing saved attributions stays light.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Attribution": "attribution",
    "AttributionList": "attribution",
    "Prediction": "attribution",
    "normalize_l1_share": "attribution",
    "normalize_max_abs": "attribution",
    "AttributionCallback": "callback",
    "METHODS": "explain",
    "Explainer": "explain",
    "explain": "explain",
    "ProbeSet": "probes",
    "SpuriousAttributionError": "spurious",
    "VocabularyCheck": "vocabulary",
    "coverage": "vocabulary",
    "show": "notebook",
    "side_by_side": "notebook",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """Keeps `gradcallback.explain` the function: importing the `explain` submodule would
    otherwise rebind the package attribute to the module (eager imports used to rebind it back)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name:
            self.__dict__.pop(name, None)  # resolved again by __getattr__, to the function
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
