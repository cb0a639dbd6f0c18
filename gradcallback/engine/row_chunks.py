"""At most a budget of rows per backend call, whatever a method hands in at once.

A method gets all of a chunk's rows in one call; for a causal-LM continuation that is 1 + K rows of
the same long sequence (the sequence row and one per continuation token), and a backend that pads rows
to a power of two makes 8 of 5. At 2,048 tokens and beyond one row of attention scores is what fills
memory (`methods.chunk_rows`: 1 row past 1,024 tokens), so the rows go through in slices of that
many and the results are concatenated: the same numbers, the memory of one slice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .methods import chunk_rows
from .score import BoundScore, Evaluation


class RowSlices:
    """A `BoundScore` whose `evaluate` and `value_and_grad` run at most `budget` rows per backend call.

    `budget` None: `chunk_rows("auto", tokens)`, from the rows' length.
    """

    def __init__(self, bound: BoundScore, budget: int | None = None):
        self.bound, self.budget = bound, budget
        self.function, self.chunk = bound.function, bound.chunk

    def _slices(self, embeds: Any) -> list[slice]:
        n = len(embeds)
        step = self.budget or chunk_rows("auto", int(np.shape(embeds)[1]))
        return [slice(lo, min(lo + step, n)) for lo in range(0, n, step)]

    def evaluate(self, embeds: Any, targets: Any, rows: Any = None) -> Evaluation:
        """Forward passes only, `budget` rows at a time."""
        rows, targets = _rows(embeds, rows), np.asarray(targets).reshape(len(embeds), 2)
        return _concatenate([self.bound.evaluate(embeds[s], targets[s], rows[s]) for s in self._slices(embeds)])

    def value_and_grad(self, embeds: Any, targets: Any, rows: Any = None) -> tuple[Evaluation, np.ndarray]:
        """Forward passes and d f / d embeds [M, T, H], `budget` rows at a time."""
        rows, targets = _rows(embeds, rows), np.asarray(targets).reshape(len(embeds), 2)
        parts = [self.bound.value_and_grad(embeds[s], targets[s], rows[s]) for s in self._slices(embeds)]
        return _concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _rows(embeds: Any, rows: Any) -> np.ndarray:
    return np.arange(len(embeds)) if rows is None else np.asarray(rows, np.int64)


def _concatenate(parts: list[Evaluation]) -> Evaluation:
    if len(parts) == 1:
        return parts[0]
    return Evaluation(values=np.concatenate([p.values for p in parts]),
                      targets=np.concatenate([p.targets for p in parts]),
                      predicted=np.concatenate([p.predicted for p in parts]),
                      outputs={k: np.concatenate([p.outputs[k] for p in parts]) for k in parts[0].outputs})
