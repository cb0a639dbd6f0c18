"""gradcallback: see what your transformer text model looks at while it trains."""

from .attribution import Attribution, Prediction, normalize_l1_share, normalize_max_abs
from .explain import METHODS, Explainer, explain

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "Explainer",
    "METHODS",
    "Prediction",
    "explain",
    "normalize_l1_share",
    "normalize_max_abs",
]
