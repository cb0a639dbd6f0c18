"""Does the model's behaviour depend on a group of tokens? Mask them and see (numpy, one forward call).

A group's attribution says where the gradient points; masking says what the prediction does without the
group. In each probe holding the group, every token of the group is replaced in place by [MASK] (length
unchanged) and the class distribution is compared with the probe's own:

    change   = mean over those probes of TV(p(. | x), p(. | x with the group masked)),  TV = 1/2 sum_c |p_c - q_c|
    flips    = share of those probes whose predicted class changes
    z        = (change - mu) sqrt(n) / max(sigma, 0.01),   mu, sigma: the same TV when as many random other
               content tokens of the same probes are masked instead (`draws` sets a probe, pooled), n probes;
               the floor: a model that random masks move by less than a point of probability would otherwise
               give any change a huge z

z is in the null's units, so it does not depend on how confident one model is: a group whose masking moves
the prediction no more than masking any other tokens of its probes has z near 0. This is the behavioural
counterpart of `groups.membership_z` (benchmarks/DETECTION.md, "The alert statistic, rule by rule").
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from ..attribution import Attribution
from .faithfulness import replaced
from .groups import group_mask

DRAWS = 3  # random sets a probe for the null: four forward rows a probe holding the group, in all
SIGMA_FLOOR = 0.01  # the null's spread is taken as at least this (probability units)


def masking_effect(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], spec: Any, *,
                   replacement: int, draws: int = DRAWS, seed: int = 0) -> dict[str, float]:
    """{"change", "flips", "z", "probes", "null_mean", "null_sd"} for the group `spec` (a `check_groups`
    value) over the probes holding it (classification: `attributions` carry each probe's class
    probabilities); zeros when none does."""
    rng = np.random.default_rng(seed)
    rows, owners, is_null = [], [], []
    for i, (a, enc) in enumerate(zip(attributions, encodings)):
        mask = group_mask(a, spec)
        if not mask.any():
            continue
        rows.append(replaced(enc, mask, replacement))
        owners.append(i)
        is_null.append(False)
        others = np.flatnonzero(~a.special_mask & ~mask)  # content tokens outside the group
        for _ in range(draws if len(others) >= mask.sum() else 0):
            rows.append(replaced(enc, rng.choice(others, int(mask.sum()), replace=False), replacement))
            owners.append(i)
            is_null.append(True)
    if not rows:
        return {"change": 0.0, "flips": 0.0, "z": 0.0, "probes": 0, "null_mean": 0.0, "null_sd": 0.0}
    after = explainer.class_distributions(rows)  # [rows, C]
    before = np.array([attributions[i].prediction.probabilities for i in owners])  # [rows, C]
    tv = 0.5 * np.abs(before - after).sum(axis=1)
    flipped = after.argmax(axis=1) != before.argmax(axis=1)
    null, observed = np.array(is_null), ~np.array(is_null)
    change = float(tv[observed].mean())
    mu, sigma = (float(tv[null].mean()), float(tv[null].std())) if null.any() else (0.0, 0.0)
    z = (change - mu) * np.sqrt(observed.sum()) / max(sigma, SIGMA_FLOOR) if null.any() else 0.0
    return {"change": change, "flips": float(flipped[observed].mean()), "z": float(z), "probes": int(observed.sum()),
            "null_mean": mu, "null_sd": sigma}
