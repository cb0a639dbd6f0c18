"""Does the model *use* a cue? Ground truth from behaviour, not from attributions.

Take held-out texts of the other class in pairs, without the cue and with it (the cue replacing
words, so the length does not change; for a length cue, the same text made longer). The flip rate
is the share of pairs the cue moves to `to_class`:

    flip_rate = mean over pairs of [pred(without) != to_class and pred(with) == to_class]

A model that ignores the cue scores 0; one that follows it over the text's content scores ~1.
`benchmarks/detection.py` calls a shortcut learned at the first logged step where the rate passes
`LEARNED` (0.5), and a run whose rate never passes `UNUSED` (0.2) a run where any alert is false.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

LEARNED = 0.5
UNUSED = 0.2


def predicted_classes(explainer: Any, texts: Sequence[str]) -> np.ndarray:
    """Each text's predicted class, from batched forward passes (any backend, any adapter)."""
    return explainer.class_distributions(explainer.encode(list(texts), "classification")).argmax(axis=1)


def flip_rate(explainer: Any, without: Sequence[str], with_cue: Sequence[str], to_class: int = 1) -> float:
    """Share of the (without, with) pairs that the cue flips to `to_class` (see the module docstring)."""
    if len(without) != len(with_cue) or not without:
        raise ValueError(f"Expected two equally long, non-empty lists of texts. "
                         f"Received: {len(without)} and {len(with_cue)} texts")
    before = predicted_classes(explainer, without)
    after = predicted_classes(explainer, with_cue)
    return float(np.mean((before != to_class) & (after == to_class)))


def learned_at(rates: Sequence[float], steps: Sequence[int], level: float = LEARNED) -> int | None:
    """The first logged step whose flip rate reaches `level` (None: never)."""
    return next((step for step, rate in zip(steps, rates) if rate >= level), None)
