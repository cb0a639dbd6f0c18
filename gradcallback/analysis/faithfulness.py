"""Faithfulness of attributions (ERASER, DeYoung et al. 2020; ferret): does removing the tokens a
method ranks highest change the prediction (comprehensiveness), and do they alone keep it
(sufficiency)? Removal replaces ids by [MASK] (or [PAD]) in place, so length carries no signal.

    comprehensiveness@k = p(y | x) - p(y | x without its top-k tokens)      (higher = more faithful)
    sufficiency@k       = p(y | x) - p(y | only its top-k tokens)           (lower = more faithful)
    AOPC                = mean comprehensiveness over k in 1%, 5%, 10%, 20%, 50% of the content tokens

All perturbed inputs of a call are scored in one batched forward-only engine call.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ..adapters.tokenizers import Encoding
from ..attribution import Attribution
from ..views.tables import words

KS: tuple[Any, ...] = (1, 3, 5, 0.1, 0.2)
AOPC_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


def k_label(k: Any) -> str:
    """The tag suffix of a faithfulness cut-off: `k3` for 3 tokens, `p10` for 10% of the content tokens."""
    return f"k{k}" if isinstance(k, int) else f"p{round(100 * k)}"


def _count(k: Any, n_content: int) -> int:
    return min(n_content, k if isinstance(k, int) else max(1, int(round(k * n_content))))


def ranking(a: Attribution, rng: np.random.Generator | None = None) -> np.ndarray:
    """Content-token positions, highest |score| first (or shuffled when `rng` is given: the random baseline)."""
    content = np.flatnonzero(~a.special_mask)
    if rng is not None:
        return rng.permutation(content)
    return content[np.argsort(-np.abs(a.scores[content]), kind="stable")]


def replaced(encoding: Encoding, positions: Any, replacement: int) -> Encoding:
    """`encoding` with the ids at `positions` (indices or a boolean mask) set to `replacement`, in place."""
    ids = encoding.ids.copy()
    ids[positions] = replacement
    return replace(encoding, ids=ids)


def faithfulness(explainer: Any, attributions: Sequence[Attribution], encodings: Sequence[Encoding], *,
                 replacement: int, ks: Sequence[Any] = KS, seed: int | None = None) -> dict[str, float]:
    """Mean comprehensiveness and sufficiency at each k, and AOPC, over the probes.

    With `seed`, tokens are ranked randomly instead: the baseline a method should beat.
    """
    rng = np.random.default_rng(seed) if seed is not None else None
    perturbed, keys, targets = [], [], []
    for i, (a, enc) in enumerate(zip(attributions, encodings)):
        order, content = ranking(a, rng), np.flatnonzero(~a.special_mask)
        for kind, k in [("comprehensiveness", k) for k in ks] + [("sufficiency", k) for k in ks] + \
                       [("aopc", b) for b in AOPC_BINS]:
            top = order[: _count(k, len(content))]
            drop = top if kind != "sufficiency" else np.setdiff1d(content, top)
            perturbed.append(replaced(enc, drop, replacement))
            keys.append((kind, k, i))
            targets.append(a.target)
    if not perturbed:
        return {}
    probabilities = explainer.class_probabilities(perturbed, targets)
    full = {i: float(a.prediction.probabilities[a.target]) for i, a in enumerate(attributions)}
    sums: dict[tuple[str, Any], list[float]] = {}
    for (kind, k, i), p in zip(keys, probabilities):
        sums.setdefault((kind, k), []).append(full[i] - float(p))
    out = {f"{kind}/{k_label(k)}": float(np.mean(v)) for (kind, k), v in sums.items() if kind != "aopc"}
    out["aopc"] = float(np.mean([np.mean(v) for (kind, _), v in sums.items() if kind == "aopc"]))
    return out


def plausibility(attributions: Sequence[Attribution], rationales: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Agreement with human rationales (word level): F1 of the top-k words, and AUPRC of the ranking."""
    f1s, aps = [], []
    for a, rationale in zip(attributions, rationales):
        expected = {w.lower() for w in rationale}
        labels, scores, special = words(a)
        content = [j for j in np.argsort(-np.abs(scores), kind="stable") if not special[j]]
        relevant = np.array([labels[j].lower() in expected for j in content])
        if not expected or not relevant.any():
            continue
        top = relevant[:k]
        precision, recall = top.mean() if top.size else 0.0, top.sum() / relevant.sum()
        f1s.append(0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
        hits = np.cumsum(relevant)
        aps.append(float(np.mean((hits / np.arange(1, len(relevant) + 1))[relevant])))
    return {"f1": float(np.mean(f1s)) if f1s else float("nan"), "auprc": float(np.mean(aps)) if aps else float("nan")}
