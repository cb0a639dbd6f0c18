"""Model-free statistics of the detection benchmark, written so they can move into the library:

- `null_z`: the watched group's where-present share against a per-run null that shuffles group
  membership over each probe's content tokens (as many tokens as the group holds there); it lives in
  the library now (`gradcallback.analysis.groups.membership_z`, which `SpuriousGroups(z=...)` reads);
- `word_flips` and `beats_random_words`: a discovery candidate counts only if masking it flips more of
  its probes than masking a random other word of the same probes does (same number of probes).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

# Internal modules (being moved into subpackages): fix these imports only.
from gradcallback.analysis.faithfulness import replaced
from gradcallback.analysis.groups import membership_z as null_z  # noqa: F401 (the library's, re-exported here)
from gradcallback.views.tables import word_groups, words


def word_flips(explainer: Any, attributions: Sequence[Any], encodings: Sequence[Any], *,
               replacement: int, probes: Any = None) -> list[list[tuple[str, bool]]]:
    """Per probe: (word, whether masking it, all its pieces, flips the predicted class), every content
    word (one batched forward pass); only the probes in `probes` when given (the others stay empty)."""
    jobs, where = [], []
    for i, (a, enc) in enumerate(zip(attributions, encodings)):
        if probes is not None and i not in probes:
            continue
        labels = words(a)[0]
        for label, group in zip(labels, word_groups(a)):
            if not a.special_mask[group[0]]:
                jobs.append(replaced(enc, group, replacement))
                where.append((i, label.lower()))
    out: list[list[tuple[str, bool]]] = [[] for _ in attributions]
    if not jobs:
        return out
    predicted = explainer.class_distributions(jobs).argmax(axis=1)
    for (i, label), p in zip(where, predicted):
        out[i].append((label, int(p) != attributions[i].prediction.label))
    return out


def beats_random_words(token: str, probes: Sequence[int], flip_rate: float, flips: Sequence[Sequence[tuple[str, bool]]],
                       level: float = 0.95, draws: int = 2000, seed: int = 0) -> bool:
    """Whether a candidate's flip rate over its probes is above the `level` quantile of the flip rate
    of random other words of the same probes, one drawn per probe (the same number of probes)."""
    own = set(token.split(" "))
    rates = []
    for i in probes:
        others = [flipped for word, flipped in flips[i] if word not in own]
        rates.append(np.mean(others) if others else 0.0)
    rng = np.random.default_rng(seed)
    null = (rng.random((draws, len(rates))) < np.array(rates)).mean(axis=1)
    return bool(flip_rate > np.quantile(null, level))
