"""Attribution methods: small pure functions over a score function and word embeddings.

Every method takes `fn` (a `BoundScore`: f(embeds) -> one logit per row, and its
gradient), `embeds` [N, T, H] float32, `targets` [N, 2] int32 (-1 = explain the
prediction) and optional `rows` [N] (which chunk probe each row is), and returns a
`MethodOutput` with one score per token. None of them knows the model or tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from .gradients import BoundScore, Evaluation
from .progress import advance  # progress hook: IG points and SmoothGrad samples


@dataclass(frozen=True, eq=False)
class MethodOutput:
    scores: np.ndarray  # float32 [N, T]
    evaluation: Evaluation  # f at the input, with resolved targets and predictions
    delta: np.ndarray | None = None  # [N] integrated gradients' convergence delta
    info: dict[str, Any] = field(default_factory=dict)  # shared details (quadrature, ...)
    per_probe: dict[str, np.ndarray] = field(default_factory=dict)  # [N] details (IG steps)


def gradient_norm(fn: BoundScore, embeds: tf.Tensor, targets: np.ndarray, rows=None) -> MethodOutput:
    """L2 norm of the gradient per token: s_t = || d f / d e_t ||_2.

    Gradient sensitivity (Simonyan et al. 2014, "Deep Inside Convolutional Networks";
    Li et al. 2016, "Visualizing and Understanding Neural Models in NLP"). Unsigned.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    return MethodOutput(tf.norm(grads, axis=-1).numpy(), evaluation)


def gradient_x_input(fn: BoundScore, embeds: tf.Tensor, targets: np.ndarray, rows=None) -> MethodOutput:
    """Gradient times input summed over the embedding: s_t = sum_h (d f / d e_th) * e_th.

    Shrikumar et al. 2016, "Not Just a Black Box"; Denil et al. 2014. Signed.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    return MethodOutput(tf.reduce_sum(grads * embeds, axis=-1).numpy(), evaluation)


def vanilla_gradients(
    fn: BoundScore, embeds: tf.Tensor, targets: np.ndarray, rows=None, *, gram: tf.Tensor
) -> MethodOutput:
    """The seeds' formulation: L2 norm of the gradient w.r.t. a one-hot input, over the vocabulary.

    With e_t = E^T o_t (o_t one-hot, E the [V, H] word-embedding matrix),
    d f / d o_t = E g_t where g_t = d f / d e_t, so
        s_t = || E g_t ||_2 = sqrt(g_t^T (E^T E) g_t),
    computed with the [H, H] Gram matrix `gram` = E^T E: no tokens x vocab tensor.
    """
    evaluation, grads = fn.value_and_grad(embeds, targets, rows)
    quad = tf.einsum("nth,hk,ntk->nt", grads, gram, grads)  # g^T G g, [N, T]
    return MethodOutput(tf.sqrt(tf.maximum(quad, 0.0)).numpy(), evaluation)


QUADRATURES = ("gausslegendre", "riemann_trapezoid", "riemann_middle")


def quadrature_rule(name: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_k in [0, 1] and weights w_k with sum_k w_k g(alpha_k) ~ integral_0^1 g."""
    if name == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return (nodes + 1) / 2, weights / 2
    if name == "riemann_trapezoid":
        if steps < 2:
            raise ValueError(f"riemann_trapezoid needs steps >= 2. Received: steps={steps}")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    if name == "riemann_middle":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1.0 / steps)
    raise ValueError(f"Expected quadrature in {QUADRATURES}. Received: quadrature={name!r}")


TOKENS_PER_CHUNK = 16384  # 128 rows of 128 tokens


def chunk_rows(internal_batch_size: int | str, length: int) -> int:
    """Rows per chunk: the given number, or "auto": 128 rows up to 128 tokens, fewer beyond, so a
    chunk never holds more than TOKENS_PER_CHUNK tokens (attention memory grows with length)."""
    if internal_batch_size == "auto":
        return max(1, min(128, TOKENS_PER_CHUNK // max(length, 1)))
    if not isinstance(internal_batch_size, int) or internal_batch_size < 1:
        raise ValueError(f"Expected internal_batch_size to be a positive int or 'auto'. "
                         f"Received: internal_batch_size={internal_batch_size!r}")
    return internal_batch_size


def integrated_gradients(
    fn: BoundScore,
    embeds: tf.Tensor,
    targets: np.ndarray,
    rows=None,
    *,
    baseline: tf.Tensor,
    steps: int | str = 32,
    quadrature: str = "gausslegendre",
    internal_batch_size: int | str = "auto",
    tolerance: float = 0.01,
    max_steps: int = 512,
) -> MethodOutput:
    """Integrated gradients in word-embedding space (Sundararajan et al. 2017, "Axiomatic
    Attribution for Deep Networks"):

        s_t = sum_h (x_th - b_th) * integral_0^1 d f(b + a (x - b)) / d x_th da

    approximated with `quadrature` at `steps` points. Completeness: sum_t s_t ~ f(x) - f(b);
    `delta` = sum_t s_t - (f(x) - f(b)). All (probe, step) points are evaluated in batched
    chunks of `internal_batch_size` rows ("auto": see `chunk_rows`). `steps="auto"` starts at 16 and doubles, per probe,
    until |delta| <= tolerance * |f(x) - f(b)| or `max_steps`. Signed.
    """
    rows = np.arange(embeds.shape[0], dtype=np.int32) if rows is None else np.asarray(rows, np.int32)
    internal_batch_size = chunk_rows(internal_batch_size, int(embeds.shape[1]))
    at_input = fn.evaluate(embeds, targets, rows)
    targets = at_input.targets  # fix the explained target at the input, not along the path
    f_base = fn.evaluate(baseline, targets, rows).values
    gap = at_input.values - f_base
    if steps != "auto":
        scores = _integrate(fn, embeds, baseline, targets, rows, int(steps), quadrature, internal_batch_size)
        used = np.full(len(rows), int(steps))
    else:
        scores, used = _integrate_auto(fn, embeds, baseline, targets, rows, gap, quadrature,
                                       internal_batch_size, tolerance, max_steps)
    delta = scores.sum(axis=1) - gap
    info = {"quadrature": quadrature}
    return MethodOutput(scores, at_input, delta, info, {"steps": used, "baseline_score": f_base})


def _integrate(fn, x, b, targets, rows, steps, quadrature, internal_batch_size) -> np.ndarray:
    alphas, weights = quadrature_rule(quadrature, steps)
    n = int(x.shape[0])
    total = tf.zeros_like(x)  # sum_k w_k * grad(b + alpha_k (x - b)), [N, T, H]
    for lo in range(0, n * steps, internal_batch_size):
        pair = np.arange(lo, min(lo + internal_batch_size, n * steps))
        probe, step = pair // steps, pair % steps
        x_p, b_p = tf.gather(x, probe), tf.gather(b, probe)
        alpha = tf.constant(alphas[step], tf.float32)[:, None, None]
        _, grads = fn.value_and_grad(b_p + alpha * (x_p - b_p), targets[probe], rows[probe])
        weighted = grads * tf.constant(weights[step], tf.float32)[:, None, None]
        total += tf.math.unsorted_segment_sum(weighted, probe, n)
        advance(len(pair))  # progress hook
    return tf.reduce_sum((x - b) * total, axis=-1).numpy()


def _integrate_auto(fn, x, b, targets, rows, gap, quadrature, internal_batch_size, tolerance, max_steps):
    scores = np.zeros(x.shape[:2], np.float32)
    used = np.zeros(len(rows), np.int64)
    todo, steps = np.arange(len(rows)), 16
    while todo.size:
        part = _integrate(fn, tf.gather(x, todo), tf.gather(b, todo), targets[todo], rows[todo],
                          steps, quadrature, internal_batch_size)
        delta = part.sum(axis=1) - gap[todo]
        done = (np.abs(delta) <= tolerance * np.abs(gap[todo])) | (steps >= max_steps)
        scores[todo[done]], used[todo[done]] = part[done], steps
        todo, steps = todo[~done], min(steps * 2, max_steps)
    return scores, used


def smoothgrad(
    fn: BoundScore,
    embeds: tf.Tensor,
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
    """SmoothGrad noise tunnel (Smilkov et al. 2017): the mean of `base` over noisy inputs,

        s_t = 1/K sum_k base(x + eps_k)_t,   eps_k ~ N(0, sigma_t^2 I),
        sigma_t = noise * ||x_t||_2 / sqrt(H)   (so E||eps_t|| ~ noise * ||x_t||),

    all K * N noisy rows in batched chunks. Sample k's standard noise comes from
    `seed` and k alone, so a probe gets the same noise whatever chunk it is in
    (batch invariance) and every call is deterministic. Wraps any method taking `rows`.
    """
    rows = np.arange(embeds.shape[0], dtype=np.int32) if rows is None else np.asarray(rows, np.int32)
    internal_batch_size = chunk_rows(internal_batch_size, int(embeds.shape[1]))
    at_input = fn.evaluate(embeds, targets, rows)
    targets = at_input.targets
    n, hidden = int(embeds.shape[0]), int(embeds.shape[-1])
    sigma = noise * tf.norm(embeds, axis=-1, keepdims=True) / np.sqrt(hidden)  # [N, T, 1]
    # Row-major draws: the first L*H values, a probe's real tokens, do not depend on the padded length.
    unit = np.stack([np.random.default_rng([seed, k]).standard_normal(embeds.shape[1:]) for k in range(samples)])
    total = tf.zeros(embeds.shape[:2], tf.float32)
    for lo in range(0, n * samples, internal_batch_size):
        pair = np.arange(lo, min(lo + internal_batch_size, n * samples))
        probe, sample = pair // samples, pair % samples
        eps = tf.constant(unit[sample], tf.float32)  # [m, T, H]
        noisy = tf.gather(embeds, probe) + eps * tf.gather(sigma, probe)
        part = base(fn, noisy, targets[probe], rows[probe], **base_options)
        total += tf.math.unsorted_segment_sum(part.scores, probe, n)
        advance(len(pair))  # progress hook
    return MethodOutput((total / samples).numpy(), at_input, info={"samples": samples, "noise": noise})
