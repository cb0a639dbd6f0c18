"""Scalar statistics over a probe set's `Attribution`s (logged every epoch by the callback)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from ..adapters.words import SPACE_MARKERS
from ..attribution import Attribution, normalize_l1_share


def special_token_share(attributions: Sequence[Attribution]) -> float:
    """Mean over probes of the share of |attribution| mass on special tokens ([CLS], [SEP], ...)."""
    shares = [float(normalize_l1_share(a.scores)[a.special_mask].sum()) for a in attributions]
    return float(np.mean(shares)) if shares else 0.0


def mean_confidence(attributions: Sequence[Attribution]) -> float:
    """Mean probability of what the model predicted."""
    return float(np.mean([a.prediction.probability for a in attributions]))


def correct(a: Attribution, label: Any) -> bool | None:
    """Whether the model predicted probe `a` right; None when it has no label. The one definition:
    `probes/accuracy` and the dashboard's `correct` (payload) both read it.

    Args:
        a: the probe's attribution (its `prediction` is read).
        label: the probe's label as `ProbeSet` stores it: a class index (classification; token
            classification: the class at the explained position, or a list of one class per token),
            the answer text (question answering), the expected next token as text or id (causal LM).

    Returns:
        Classification: predicted class == label. Question answering: the predicted span's text
        (the context's characters under the span's tokens) == the answer text; causal LM: the
        predicted next token == the target token; both case- and space-insensitive, ignoring the
        word-start markers Ġ and ▁, so a BPE token "Ġmat" matches the target " mat".
    """
    if label is None:
        return None
    if a.task == "causal_lm" and "greedy_matches" in a.info:
        return _continuation_correct(a, label)
    if a.task == "causal_lm" and isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return a.prediction.label is not None and int(a.prediction.label) == int(label)  # a target token id
    if a.task in ("question_answering", "causal_lm"):
        return _norm(a.prediction.answer) == _norm(label)
    if a.task == "token_classification" and isinstance(label, (list, tuple, np.ndarray)):
        label = label[a.target[0]]  # per-token labels: the one at the explained position
    return a.prediction.label is not None and int(a.prediction.label) == int(label)


def _continuation_correct(a: Attribution, label: Any) -> bool:
    """A continuation is predicted right when the greedy continuation equals the expected one (one argmax per
    continuation token, teacher forced: all match exactly when greedy decoding would produce it)."""
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        label = [int(label)]
    if isinstance(label, (list, tuple, np.ndarray)):
        explained = [int(i) for i in label] == list(a.info["target_ids"])
    else:
        explained = _norm(str(label)) == _norm(a.info.get("target_text"))
    return bool(a.info["greedy_matches"]) if explained else _norm(a.prediction.answer) == _norm(str(label))


def accuracy(attributions: Sequence[Attribution], labels: Sequence) -> float:
    """Share of the labelled probes predicted right (`correct`); NaN when none is labelled."""
    hits = [c for c in map(correct, attributions, labels) if c is not None]
    return float(np.mean(hits)) if hits else float("nan")


def _norm(text: str | None) -> str:
    text = text or ""
    for marker in SPACE_MARKERS:
        text = text.replace(marker, " ")
    return " ".join(text.lower().split())


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; 1.0 when either side is constant and both are equal, else 0.0 if constant."""
    ra, rb = rankdata(np.asarray(a, np.float64)), rankdata(np.asarray(b, np.float64))
    sa, sb = ra.std(), rb.std()
    if sa == 0 or sb == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(((ra - ra.mean()) * (rb - rb.mean())).mean() / (sa * sb))


def rank_stability(current: Sequence[Attribution], previous: Sequence[Attribution]) -> float:
    """Mean over probes of the Spearman correlation of |scores| with another logged step."""
    return float(np.mean([spearman(np.abs(a.scores), np.abs(b.scores)) for a, b in zip(current, previous)]))


def convergence_stats(attributions: Sequence[Attribution]) -> dict[str, float]:
    """Integrated gradients' |delta|, absolute and relative to |f(x) - f(baseline)|."""
    deltas = np.array([abs(a.convergence_delta) for a in attributions])
    gaps = np.array([abs(a.score - a.info.get("baseline_score", np.nan)) for a in attributions])
    rel = np.where(gaps > 0, deltas / np.where(gaps > 0, gaps, 1.0), 0.0)
    return {"mean_abs": float(deltas.mean()), "max_abs": float(deltas.max()),
            "mean_rel": float(rel.mean()), "max_rel": float(rel.max())}


def token_mass(rows: Iterable[tuple[Sequence[str], np.ndarray]], k: int) -> list[tuple[str, float]]:
    """The k tokens with the largest mean share of |attribution| mass per probe, from (tokens, scores)
    pairs (special tokens included: a model leaning on [SEP] should show it)."""
    rows = list(rows)
    mass: dict[str, float] = defaultdict(float)
    for tokens, scores in rows:
        for token, share in zip(tokens, normalize_l1_share(np.asarray(scores, np.float64))):
            mass[token] += float(share) / len(rows)
    return sorted(mass.items(), key=lambda item: -item[1])[:k]
