"""Remedies: train a shortcut away once the callback has caught it.

`AttributionPrior` adds a penalty on a group's attribution to the training loss (second-order gradients,
every backend); `counterfactual_augment` is the cheap data-side alternative to compare it against.
Above `analysis` (group matching) and the engine's backends, below `monitors` (`on_alert="penalize"`).
"""

from __future__ import annotations

from .augment import counterfactual_augment
from .prior import AttributionPrior

__all__ = ["AttributionPrior", "counterfactual_augment"]
