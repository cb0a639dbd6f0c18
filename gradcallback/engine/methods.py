"""Attribution methods: small pure functions over a score function and word embeddings.

Every method takes `fn` (a `BoundScore`: f(embeds) -> one value per row, and its gradient),
`embeds` [N, T, H] float32 numpy, `targets` [N, 2] int32 (-1 = explain the prediction) and
optional `rows` [N] (which chunk probe each row is), and returns a `MethodOutput` with one
score per token. None of them knows the model, the tokenizer or the framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..validate import positive_int
from .reporting import advance
from .score import ROWS_PER_CALL, BoundScore, Evaluation


@dataclass(frozen=True, eq=False)
class MethodOutput:
    """What an attribution method returns: one score per token, and f at the input it explained."""

    scores: np.ndarray  # float32 [N, T]
    evaluation: Evaluation  # f at the input, with resolved targets and predictions
    delta: np.ndarray | None = None  # [N] integrated gradients' convergence delta
    info: dict[str, Any] = field(default_factory=dict)  # shared details (quadrature, ...)
    per_probe: dict[str, np.ndarray] = field(default_factory=dict)  # [N] details (IG steps)


def gradient_norm(fn: BoundScore, embeds: np.ndarray, targets: np.ndarray, rows=None) -> MethodOutput:
    """L2 norm of the gradient per token: s_t = || d f / d e_t ||_2.

    Gradient sensitivity (Simonyan et al. 2014, "Deep Inside Convolutional Networks";
    Li et al. 2016, "Visualizing and Understanding Neural Models in NLP"). Unsigned.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    return MethodOutput(np.linalg.norm(grads, axis=-1).astype(np.float32), evaluation)


def gradient_x_input(fn: BoundScore, embeds: np.ndarray, targets: np.ndarray, rows=None) -> MethodOutput:
    """Gradient times input summed over the embedding: s_t = sum_h (d f / d e_th) * e_th.

    Shrikumar et al. 2016, "Not Just a Black Box"; Denil et al. 2014. Signed.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    return MethodOutput(np.einsum("nth,nth->nt", grads, embeds).astype(np.float32), evaluation)


def vanilla_gradients(fn: BoundScore, embeds: np.ndarray, targets: np.ndarray, rows=None, *,
                      gram: np.ndarray) -> MethodOutput:
    """The seeds' formulation: L2 norm of the gradient w.r.t. a one-hot input, over the vocabulary.

    With e_t = E^T o_t (o_t one-hot, E the [V, H] word-embedding matrix),
    d f / d o_t = E g_t where g_t = d f / d e_t, so
        s_t = || E g_t ||_2 = sqrt(g_t^T (E^T E) g_t),
    computed with the [H, H] Gram matrix `gram` = E^T E: no tokens x vocab tensor.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    quad = np.einsum("nth,hk,ntk->nt", grads, gram, grads, optimize=True)  # g^T G g, [N, T]
    return MethodOutput(np.sqrt(np.maximum(quad, 0.0)).astype(np.float32), evaluation)


TOKENS_PER_CHUNK = 16384  # 128 rows of 128 tokens: activations grow with rows x tokens
PAIRS_PER_CHUNK = 128 * 128 * 64  # attention scores grow with rows x tokens^2


def chunk_rows(internal_batch_size: int | str, length: int, max_rows: int = ROWS_PER_CALL) -> int:
    """Rows per chunk: the given number, or "auto": `max_rows` rows (the backend's `rows_per_call`) for
    short inputs, fewer for long ones, so a chunk holds at most TOKENS_PER_CHUNK tokens and
    PAIRS_PER_CHUNK attention pairs (rows x T^2: at 512 tokens attention, not the hidden states, is
    what fills memory)."""
    if internal_batch_size == "auto":
        length = max(length, 1)
        return max(1, min(max_rows, TOKENS_PER_CHUNK // length, PAIRS_PER_CHUNK // length**2))
    return positive_int("internal_batch_size", internal_batch_size)


def rows_per_call(fn: Any) -> int:
    """The rows per compiled call that `fn`'s backend runs fastest at (ROWS_PER_CALL when it says nothing)."""
    return int(getattr(fn, "rows_per_call", ROWS_PER_CALL))


def smoothgrad(
    fn: BoundScore,
    embeds: np.ndarray,
    targets: np.ndarray,
    rows=None,
    *,
    base: Callable[..., MethodOutput] = gradient_norm,
    samples: int = 8,
    noise: float = 0.1,
    seed: int = 0,
    internal_batch_size: int | str = "auto",
    **base_options: Any,
) -> MethodOutput:
    """SmoothGrad noise tunnel (Smilkov et al. 2017): the mean of `base` over noisy inputs.

        s_t = 1/K sum_k base(x + eps_k)_t,   eps_k ~ N(0, sigma_t^2 I),
        sigma_t = noise * ||x_t||_2 / sqrt(H)   (so E||eps_t|| ~ noise * ||x_t||),

    All K * N noisy rows go through batched chunks. Sample k's standard noise comes from
    `seed` and k alone, so a probe gets the same noise whatever chunk it is in
    (batch invariance) and every call is deterministic. Wraps any method taking `rows`.
    """
    rows = np.arange(embeds.shape[0]) if rows is None else np.asarray(rows)
    chunk = chunk_rows(internal_batch_size, int(embeds.shape[1]), rows_per_call(fn))
    at_input = fn.evaluate(embeds, targets, rows)
    targets = at_input.targets
    n, hidden = embeds.shape[0], embeds.shape[-1]
    sigma = noise * np.linalg.norm(embeds, axis=-1, keepdims=True) / np.sqrt(hidden)  # [N, T, 1]
    # Row-major draws: the first L*H values, a probe's real tokens, do not depend on the padded length.
    unit = np.stack([np.random.default_rng([seed, k]).standard_normal(embeds.shape[1:]) for k in range(samples)])
    total = np.zeros(embeds.shape[:2], np.float64)
    for lo in range(0, n * samples, chunk):
        pair = np.arange(lo, min(lo + chunk, n * samples))
        probe, sample = pair // samples, pair % samples
        noisy = (embeds[probe] + unit[sample] * sigma[probe]).astype(np.float32)  # [m, T, H]
        part = base(fn, noisy, targets[probe], rows[probe], **base_options)
        np.add.at(total, probe, part.scores)
        advance(len(pair))  # the caller's work sink open around this call, if any
    info = {"samples": samples, "noise": noise, "base": base.__name__}  # the base decides is_signed
    return MethodOutput((total / samples).astype(np.float32), at_input, info=info)
