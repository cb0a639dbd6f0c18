"""Quadrature rules on [0, 1] for integrated gradients' path integral."""

from __future__ import annotations

import numpy as np

from ..validate import choice

QUADRATURES = ("gausslegendre", "riemann_trapezoid", "riemann_middle", "clenshaw_curtis")


def quadrature_rule(name: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_k in [0, 1] (ascending) and weights w_k with sum_k w_k g(alpha_k) ~ integral_0^1 g."""
    choice("quadrature", name, QUADRATURES)
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
    return clenshaw_curtis(steps - 1)  # the last of QUADRATURES


def clenshaw_curtis(intervals: int) -> tuple[np.ndarray, np.ndarray]:
    """Points alpha_j = (1 - cos(j pi / n)) / 2, j = 0..n, and weights on [0, 1] (Clenshaw & Curtis
    1960; Trefethen 2008, "Is Gauss quadrature better than Clenshaw-Curtis?": about as accurate
    for smooth integrands, and nested: level n's points are the even points of level 2n).
    Needs an even number of intervals n (an odd number of points)."""
    n = intervals
    if n < 2 or n % 2:
        raise ValueError(f"clenshaw_curtis needs an odd number of points >= 3. Received: steps={n + 1}")
    j = np.arange(n + 1)
    k = np.arange(1, n // 2 + 1)
    b = np.where(k == n // 2, 1.0, 2.0)
    cosines = np.cos(2 * np.outer(j, k) * np.pi / n)  # [n + 1, n / 2]
    c = np.where((j == 0) | (j == n), 1.0, 2.0)
    weights = c / n * (1.0 - cosines @ (b / (4 * k**2 - 1)))  # on [-1, 1], summing to 2
    return (1.0 - np.cos(j * np.pi / n)) / 2, weights / 2
