"""gradcallback: see what your transformer text model looks at while it trains.

Public names are imported on first use (PEP 562), so that `import gradcallback.dashboard`,
TensorBoard's plugin entry point, stays tiny: importing the package itself must not pull in
TensorFlow, and a plugin whose import fails or hangs takes all of TensorBoard down with it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Attribution": "attribution",
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
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time `__getattr__` imports on demand
    from .attribution import Attribution, Prediction, normalize_l1_share, normalize_max_abs  # noqa: F401
    from .callback import AttributionCallback  # noqa: F401
    from .explain import METHODS, Explainer, explain  # noqa: F401
    from .probes import ProbeSet  # noqa: F401
    from .spurious import SpuriousAttributionError  # noqa: F401
    from .vocabulary import VocabularyCheck, coverage  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcallback' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(types.ModuleType):
    """`explain` names both a submodule and the function the package exports. Importing the submodule
    binds the package attribute to the module (the eager `__init__` used to rebind it to the function
    afterwards), so the function is served by a property whose setter ignores that binding."""

    @property
    def explain(self) -> Any:
        return importlib.import_module(".explain", __name__).explain

    @explain.setter
    def explain(self, value: Any) -> None:
        pass


sys.modules[__name__].__class__ = _Package
