"""Integrated gradients in word-embedding space (Sundararajan et al. 2017, "Axiomatic Attribution
for Deep Networks").

Token t's score:

    s_t = sum_h (x_th - b_th) * integral_0^1 d f(b + a (x - b)) / d x_th da

Completeness: sum_t s_t = f(x) - f(b); `delta` = sum_t s_t - (f(x) - f(b)) is the error left.

Every path point is one row of a batched gradient pass; what a point contributes is kept as
d_p = (x - b) . grad f(point), [T] per point, so a rule is just weights over stored points.

`steps="auto"` (the way to ask for "IG to 1%") uses the nested Clenshaw-Curtis rule: 9 points
(0, 1 and 7 between), then 17, 33, ... Each level reuses every point of the one before and adds
only the new half, and from 17 points on a probe leaves the rounds as soon as
    |delta| <= max(tolerance * |f(x) - f(b)|, atol)
(the 9-point level only starts the rule: a sum that happens to come out right on so few points is
not trusted), so a 32-interval answer costs 33 evaluations (not 8 + 16 + 32 restarts) and an easy
probe stops early. The endpoints are path points, so f(x) and f(b) cost nothing extra.
"""

from __future__ import annotations

import numpy as np

from ..validate import positive_int
from .methods import MethodOutput, chunk_rows, rows_per_call
from .quadrature import clenshaw_curtis, quadrature_rule
from .reporting import advance
from .score import BoundScore, Evaluation

FIRST_LEVEL = 8  # intervals of the first Clenshaw-Curtis level: 9 points


class PathPoints:
    """Evaluates (probe, alpha) points in chunks and keeps f and d_p = (x - b) . grad f per point."""

    def __init__(self, fn: BoundScore, x: np.ndarray, b: np.ndarray, rows: np.ndarray, chunk: int):
        self.fn, self.x, self.b, self.rows, self.chunk = fn, x, b, rows, chunk
        self.diff = x - b  # [N, T, H]

    def run(self, probe: np.ndarray, alpha: np.ndarray, targets: np.ndarray) -> tuple[list[Evaluation], np.ndarray]:
        """Evaluations per chunk, and d_p [P, T] for every point, each point evaluated once."""
        evaluations, dots = [], []
        for lo in range(0, len(probe), self.chunk):
            p = probe[lo: lo + self.chunk]
            a = alpha[lo: lo + self.chunk, None, None].astype(np.float32)
            diff = self.diff[p]  # [m, T, H]
            evaluation, grads = self.fn.value_and_grad(self.b[p] + a * diff, targets[p], self.rows[p])
            evaluations.append(evaluation)
            dots.append(np.einsum("mth,mth->mt", grads, diff))  # [m, T]
            advance(len(p))  # the caller's work sink open around this call, if any
        return evaluations, np.concatenate(dots) if dots else np.zeros((0, self.x.shape[1]))


def integrated_gradients(
    fn: BoundScore,
    embeds: np.ndarray,
    targets: np.ndarray,
    rows=None,
    *,
    baseline: np.ndarray,
    steps: int | str = 32,
    quadrature: str | None = None,
    internal_batch_size: int | str = "auto",
    tolerance: float = 0.01,
    atol: float = 1e-4,
    max_steps: int = 257,
) -> MethodOutput:
    """Integrated gradients at `steps` points of `quadrature` ("gausslegendre" by default,
    "riemann_trapezoid", "riemann_middle", "clenshaw_curtis"), or `steps="auto"`: nested
    Clenshaw-Curtis levels per probe until `tolerance` (relative to |f(x) - f(b)|, with the absolute
    floor `atol`) or `max_steps` points. All points go through batched chunks of `internal_batch_size` rows ("auto": the
    backend's `rows_per_call`, within `chunk_rows`' memory budget). Signed."""
    rows = np.arange(embeds.shape[0]) if rows is None else np.asarray(rows)
    chunk = chunk_rows(internal_batch_size, int(embeds.shape[1]), rows_per_call(fn))
    points = PathPoints(fn, embeds, baseline, rows, chunk)
    if steps == "auto":
        if quadrature not in (None, "clenshaw_curtis"):
            raise ValueError("steps='auto' refines the nested clenshaw_curtis rule; pass steps=<int> for "
                             f"another rule. Received: steps='auto', quadrature={quadrature!r}")
        return _adaptive(points, targets, tolerance, atol, max_steps)
    positive_int("steps", steps)
    quadrature = quadrature or "gausslegendre"
    alphas, weights = quadrature_rule(quadrature, steps)
    if alphas[0] == 0.0 and alphas[-1] == 1.0:
        return _fixed_endpoint_rule(points, targets, alphas, weights, quadrature)
    return _fixed_interior_rule(points, targets, alphas, weights, quadrature)


def _grid(n: int, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(probe, point index) for every probe and point, probe-major."""
    return np.repeat(np.arange(n), len(alphas)), np.tile(np.arange(len(alphas)), n)


def _fixed_interior_rule(points: PathPoints, targets, alphas, weights, quadrature) -> MethodOutput:
    """Gauss-Legendre or midpoints: f(x) and f(b) need their own forward passes."""
    n = points.x.shape[0]
    at_input = points.fn.evaluate(points.x, targets, points.rows)
    targets = at_input.targets  # fix the explained target at the input, not along the path
    f_base = points.fn.evaluate(points.b, targets, points.rows).values
    probe, index = _grid(n, alphas)
    _, dots = points.run(probe, alphas[index], targets)
    scores = (dots * weights[index, None]).reshape(n, len(alphas), -1).sum(axis=1)
    return _output(scores, at_input, f_base, quadrature, np.full(n, len(alphas)))


def _fixed_endpoint_rule(points: PathPoints, targets, alphas, weights, quadrature) -> MethodOutput:
    """A rule whose points include 0 and 1: the input's pass fixes the targets and gives f(x)."""
    n = points.x.shape[0]
    at_input, dots_x = _at_input(points, targets)
    inner = np.arange(len(alphas) - 1)  # every point but alpha = 1, in order: alphas[0] = 0
    probe, index = _grid(n, alphas[inner])
    evaluations, dots = points.run(probe, alphas[inner][index], at_input.targets)
    values = np.concatenate([e.values for e in evaluations]).reshape(n, len(inner))
    per_point = np.concatenate([dots.reshape(n, len(inner), -1), dots_x[:, None]], axis=1)  # [N, K, T]
    scores = (per_point * weights[None, :, None]).sum(axis=1)
    return _output(scores, at_input, values[:, 0], quadrature, np.full(n, len(alphas)))


def _at_input(points: PathPoints, targets: np.ndarray) -> tuple[Evaluation, np.ndarray]:
    """The pass at alpha = 1 for every probe: the prediction, targets resolved there, and d_p."""
    n = points.x.shape[0]
    evaluations, dots = points.run(np.arange(n), np.ones(n), np.asarray(targets, np.int32))
    return _concat(evaluations), dots


def _concat(evaluations: list[Evaluation]) -> Evaluation:
    return Evaluation(np.concatenate([e.values for e in evaluations]),
                      np.concatenate([e.targets for e in evaluations]),
                      np.concatenate([e.predicted for e in evaluations]),
                      {k: np.concatenate([e.outputs[k] for e in evaluations]) for k in evaluations[0].outputs})


def _adaptive(points: PathPoints, targets, tolerance: float, atol: float, max_steps: int) -> MethodOutput:
    n, length = points.x.shape[:2]
    finest = FIRST_LEVEL
    while finest * 2 + 1 <= max_steps:
        finest *= 2
    at_input, dots_x = _at_input(points, targets)
    grid = np.full((n, finest + 1, length), np.nan)  # d_p on the finest grid, filled as levels need them
    grid[:, finest] = dots_x  # alpha = 1 is the last point of every level
    f_base = np.full(n, np.nan)
    scores, used = np.zeros((n, length)), np.zeros(n, np.int64)
    todo, level = np.arange(n), FIRST_LEVEL
    while todo.size:
        stride = finest // level
        new = [j for j in range(0, finest, stride) if np.isnan(grid[todo[0], j, 0])]  # same for all of todo
        probe, index = np.repeat(todo, len(new)), np.tile(new, len(todo))
        alphas = clenshaw_curtis(finest)[0]
        evaluations, dots = points.run(probe, alphas[index], at_input.targets)
        grid[probe, index] = dots
        if 0 in new:  # alpha = 0 is in the first level: f(b)
            values = np.concatenate([e.values for e in evaluations]).reshape(len(todo), len(new))
            f_base[todo] = values[:, new.index(0)]
        weights = clenshaw_curtis(level)[1]
        estimate = np.einsum("nkt,k->nt", grid[todo][:, ::stride], weights)  # [todo, T]
        gap = at_input.values[todo] - f_base[todo]
        complete = np.abs(estimate.sum(axis=1) - gap) <= np.maximum(tolerance * np.abs(gap), atol)
        done = (complete & (level > FIRST_LEVEL)) | (level >= finest)
        scores[todo], used[todo] = estimate, level + 1
        todo, level = todo[~done], level * 2
    return _output(scores, at_input, f_base, "clenshaw_curtis", used)


def _output(scores, at_input: Evaluation, f_base, quadrature: str, used) -> MethodOutput:
    gap = at_input.values - f_base
    delta = scores.sum(axis=1) - gap
    return MethodOutput(scores.astype(np.float32), at_input, delta.astype(np.float32), {"quadrature": quadrature},
                        {"steps": np.asarray(used), "baseline_score": np.asarray(f_base, np.float32)})
