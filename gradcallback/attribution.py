"""The `Attribution` record every method returns, and the normalizations built on it.

Images, tables and monitors are built from `Attribution` objects, never from raw
tensors, so everything downstream sees the same tokens, scores and target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

TASKS = ("classification", "question_answering", "token_classification", "causal_lm")


@dataclass(frozen=True, eq=False)
class Prediction:
    """What the model predicted for one probe.

    Classification: `label` and `probabilities` (softmax over classes).
    Token classification: `label` and `probabilities` at the target position.
    Question answering: `answer` text, token `span` (start, end inclusive) and
    `probability` (product of the start and end softmax probabilities).
    `probability` is always the probability of what was predicted.
    """

    label: int | None = None
    probabilities: np.ndarray | None = None
    answer: str | None = None
    span: tuple[int, int] | None = None
    probability: float = float("nan")

    def as_dict(self) -> dict[str, Any]:
        """The prediction as JSON-serialisable values: the probability, and each other field that is set."""
        out: dict[str, Any] = {"probability": float(self.probability)}
        if self.label is not None:
            out["label"] = int(self.label)
        if self.probabilities is not None:
            out["probabilities"] = [float(p) for p in self.probabilities]
        if self.span is not None:
            out["span"] = [int(self.span[0]), int(self.span[1])]
        if self.answer is not None:
            out["answer"] = self.answer
        return out


@dataclass(frozen=True, eq=False)
class Attribution:
    """Token attributions for one probe, as produced by one method.

    Attributes:
        tokens: the model's tokens, special tokens included, padding removed.
        token_ids: their ids, int32, same length as `tokens`.
        scores: float32, one raw (unnormalized) score per token.
        method: the method's name, e.g. "gradient_norm".
        target: what was explained: a class index, (start, end) for question
            answering, or (position, class) for token classification.
        prediction: what the model predicted (see `Prediction`).
        convergence_delta: integrated gradients only: sum(scores) - (f(x) - f(baseline)).
        task: "classification", "question_answering" or "token_classification".
        text: the probe as given (a string, or a (question, context) pair).
        special_mask: bool per token, True for [CLS]/[SEP]-like tokens.
        segment_ids: 0 for the first text, 1 for the second (QA context).
        score: the target's value f(x) that was differentiated (a logit).
        info: method details, e.g. IG's steps, quadrature and baseline.
        scheme: how the tokens make words, from the tokenizer ("wordpiece", "bpe", "sentencepiece",
            "whole": `gradcallback.adapters.words`); None guesses it from the tokens' markers.
    """

    tokens: list[str]
    token_ids: np.ndarray
    scores: np.ndarray
    method: str
    target: Any
    prediction: Prediction
    convergence_delta: float | None = None
    task: str = "classification"
    text: Any = None
    special_mask: np.ndarray | None = None
    segment_ids: np.ndarray | None = None
    score: float = float("nan")
    info: Mapping[str, Any] = field(default_factory=dict)
    scheme: str | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    def top_k(self, k: int, *, include_special: bool = False) -> list[tuple[int, str, float]]:
        """The k tokens with the largest |score|, as (position, token, score)."""
        order = np.argsort(-np.abs(self.scores), kind="stable")
        if not include_special and self.special_mask is not None:
            order = [i for i in order if not self.special_mask[i]]
        return [(int(i), self.tokens[i], float(self.scores[i])) for i in list(order)[:k]]

    def _repr_html_(self) -> str:
        """Jupyter shows the tokens coloured by score (`gradcallback.views.notebook`)."""
        from .views.notebook import attribution_html  # lazily: only notebooks need it

        return attribution_html(self)


class AttributionList(list):
    """A list of `Attribution`s (what `explain()` returns) that Jupyter shows as coloured tokens.

    A plain list; `gradcallback.views.notebook.show` adds label names and true labels.
    """

    def __getitem__(self, index: Any) -> Any:
        item = super().__getitem__(index)
        return AttributionList(item) if isinstance(index, slice) else item

    def _repr_html_(self) -> str:
        from .views.notebook import attributions_html

        return attributions_html(self)


def normalize_max_abs(scores: np.ndarray) -> np.ndarray:
    """Scale scores into [-1, 1] by their largest magnitude (the seeds' "normalize by max").

    An all-zero (or empty) vector stays all zeros, never NaN.
    """
    scores = np.asarray(scores, dtype=np.float32)
    peak = float(np.max(np.abs(scores))) if scores.size else 0.0
    if not np.isfinite(peak) or peak == 0.0:
        return np.zeros_like(scores)
    return scores / peak


def normalize_l1_share(scores: np.ndarray) -> np.ndarray:
    """Each token's share of the total attribution mass: |s_i| / sum_j |s_j|.

    Shares are non-negative and sum to 1; an all-zero vector gives all zeros.
    """
    mass = np.abs(np.asarray(scores, dtype=np.float32))
    total = float(mass.sum())
    if not np.isfinite(total) or total == 0.0:
        return np.zeros_like(mass)
    return mass / total
