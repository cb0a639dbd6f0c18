"""gradcallback: see what your transformer text model looks at while it trains."""

from .attribution import Attribution, Prediction, normalize_l1_share, normalize_max_abs
from .callback import AttributionCallback
from .engine import METHODS, Explainer, explain
from .probes import ProbeSet
from .spurious import SpuriousAttributionError
from .vocabulary import VocabularyCheck, coverage

__version__ = "0.1.0"

__all__ = [
    "Attribution",
    "AttributionCallback",
    "Explainer",
    "METHODS",
    "Prediction",
    "VocabularyCheck",
    "coverage",
    "ProbeSet",
    "SpuriousAttributionError",
    "explain",
    "normalize_l1_share",
    "normalize_max_abs",
]
