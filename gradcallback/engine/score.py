"""The gradient interface every method uses: f(embeds) -> one scalar per row, and d f / d embeds.

`ScoreFunction` is built once per (adapter, head, jit_compile, eager) by the backend that serves the
adapter (`engine/backends/`: TensorFlow, JAX or PyTorch) and reused. Methods receive a
`BoundScore`, the function bound to one chunk of probes. Everything here is numpy in, numpy
out; only the backend touches framework tensors and autodiff.

Compiled shapes stay bounded: where the backend compiles per shape (jax.jit, TF with XLA),
lengths are padded to a few buckets by the engine and rows to powers of two here, so a fixed
probe set compiles a handful of shapes once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # heads import keras.ops, which imports the backend's framework
    from .heads import Head


@dataclass(frozen=True, eq=False)
class Chunk:
    """The padded context of a chunk of probes; rows of a method's batch index into it."""

    ids: np.ndarray  # int32 [B, T] token ids
    mask: np.ndarray  # int32 [B, T] attention mask
    segment_ids: np.ndarray  # int32 [B, T]
    context: np.ndarray  # int32 [B, T] answer-span candidates (QA)

    @classmethod
    def from_numpy(cls, batch: dict[str, np.ndarray]) -> "Chunk":
        """The chunk from a batch dict with "ids", "mask", "segment_ids" and "context", as contiguous int32."""
        as_int = lambda name: np.ascontiguousarray(batch[name], dtype=np.int32)  # noqa: E731
        return cls(as_int("ids"), as_int("mask"), as_int("segment_ids"), as_int("context"))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """f at some embeddings, with the targets it was taken at (numpy)."""

    values: np.ndarray  # float32 [N]: the explained value per row
    targets: np.ndarray  # int32 [N, 2]: targets used (-1 entries resolved to the prediction)
    predicted: np.ndarray  # int32 [N, 2]: the model's own prediction
    outputs: dict[str, np.ndarray]  # what the head kept of the adapter's outputs


ROWS_PER_CALL = 128  # rows per compiled call where the backend names no `rows_per_call` of its own
LENGTH_BUCKETS = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)


def length_bucket(length: int, limit: int | None = None) -> int:
    """The padded length for a chunk whose longest probe has `length` tokens (at most `limit`)."""
    bucket = next((b for b in LENGTH_BUCKETS if b >= length), -(-length // 512) * 512)
    return max(length, min(bucket, limit)) if limit else bucket


def row_bucket(rows: int) -> int:
    """Rows padded to the next power of two (at most 2x the work, in the last chunk only)."""
    return 1 << max(0, int(rows - 1).bit_length())


class ScoreFunction:
    """f(embeds) for one adapter and one head, compiled once by its backend.

    `calls` and `rows` count backend calls and the (unpadded) rows they evaluated: tests
    check that a method evaluates each point once, benchmarks report them.
    """

    def __init__(self, adapter: Any, head: Head, jit_compile: bool = False, eager: bool = False):
        from .backends import compile_score

        self.adapter, self.head = adapter, head
        self.compiled = compile_score(adapter, head, jit_compile, eager)
        self.static_shapes = bool(self.compiled.static_shapes)
        self.rows_per_call = int(getattr(self.compiled, "rows_per_call", ROWS_PER_CALL))
        self.calls = self.rows = 0

    @property
    def trace_count(self) -> int:
        """How many times the backend traced (compiled) the score function so far."""
        return self.compiled.trace_count

    def bind(self, chunk: Chunk, memo: "InputMemo | None" = None) -> "BoundScore":
        """This function bound to the probes of `chunk` (with `memo`, looking up inputs already evaluated)."""
        return BoundScore(self, chunk, memo)


class InputMemo:
    """The evaluations (f, targets, predictions) at the inputs one logged step has run, found again by their exact
    inputs: the step's gradient_norm pass at the probes gives integrated gradients its f(x) without a forward pass.

    For one step only (`Explainer.remembering`): the weights do not change inside it. Inputs are kept by reference
    (the engine builds a new array for every pass and never writes into one), compared element for element."""

    def __init__(self):
        self._seen: dict[tuple, list[tuple[np.ndarray, Evaluation]]] = {}
        self.hits = 0

    @staticmethod
    def _key(head: str, args: tuple) -> tuple:
        embeds, *context = args  # targets and the chunk's ids, mask, segment ids and answer context
        return (head, embeds.shape, *(a.tobytes() for a in context))

    def find(self, head: str, args: tuple) -> Evaluation | None:
        """The evaluation at exactly these inputs, or None."""
        for embeds, evaluation in self._seen.get(self._key(head, args), []):
            if np.array_equal(embeds, args[0]):
                self.hits += 1
                return evaluation
        return None

    def keep(self, head: str, args: tuple, evaluation: Evaluation) -> Evaluation:
        """Remember `evaluation` at these inputs; returns it."""
        self._seen.setdefault(self._key(head, args), []).append((args[0], evaluation))
        return evaluation


class BoundScore:
    """A `ScoreFunction` bound to one chunk of probes: what methods receive."""

    def __init__(self, function: ScoreFunction, chunk: Chunk, memo: InputMemo | None = None):
        self.function, self.chunk, self.memo = function, chunk, memo

    @property
    def rows_per_call(self) -> int:
        """Rows per compiled call the backend runs fastest at: methods size their "auto" chunks with it."""
        return self.function.rows_per_call

    def _args(self, embeds: Any, targets: Any, rows: Any) -> tuple[int, tuple]:
        embeds = np.asarray(embeds, np.float32)
        m = embeds.shape[0]
        rows = np.arange(m) if rows is None else np.asarray(rows, np.int64)
        targets = np.asarray(targets, np.int32).reshape(m, 2)
        padded = row_bucket(m) if self.function.static_shapes else m
        if padded > m:  # extra rows repeat row 0: valid inputs whose results are dropped
            fill = np.zeros(padded - m, np.int64)
            embeds = np.concatenate([embeds, embeds[fill]])
            targets, rows = np.concatenate([targets, targets[fill]]), np.concatenate([rows, rows[fill]])
        c = self.chunk
        return m, (embeds, targets, c.ids[rows], c.mask[rows], c.segment_ids[rows], c.context[rows])

    def evaluate(self, embeds: Any, targets: Any, rows: Any = None) -> Evaluation:
        """Forward pass only (none when the step's memo holds these inputs' evaluation)."""
        m, args = self._args(embeds, targets, rows)
        if self.memo is not None and (found := self.memo.find(self.function.head.name, args)) is not None:
            return found
        return self._kept(args, self._forward(m, args))

    def value_and_grad(self, embeds: Any, targets: Any, rows: Any = None) -> tuple[Evaluation, np.ndarray]:
        """Forward pass and d f / d embeds [M, T, H] in one compiled call."""
        m, args = self._args(embeds, targets, rows)
        evaluation, grads = self._forward_and_grad(m, args)
        return self._kept(args, evaluation), grads

    def _forward(self, m: int, args: tuple) -> Evaluation:
        """The backend's forward call on `m` rows (padded in `args`); counted."""
        self.function.calls += 1
        self.function.rows += m
        values, resolved, predicted, outputs = self.function.compiled.evaluate(*args)
        return _evaluation(m, values, resolved, predicted, outputs)

    def _forward_and_grad(self, m: int, args: tuple) -> tuple[Evaluation, np.ndarray]:
        """The backend's forward and gradient call on `m` rows (padded in `args`); counted."""
        self.function.calls += 1
        self.function.rows += m
        values, grads, resolved, predicted, outputs = self.function.compiled.value_and_grad(*args)
        return _evaluation(m, values, resolved, predicted, outputs), np.asarray(grads[:m], np.float32)

    def _kept(self, args: tuple, evaluation: Evaluation) -> Evaluation:
        return evaluation if self.memo is None else self.memo.keep(self.function.head.name, args, evaluation)


def _evaluation(m: int, values, resolved, predicted, outputs) -> Evaluation:
    return Evaluation(values=np.asarray(values[:m], np.float32), targets=np.asarray(resolved[:m], np.int32),
                      predicted=np.asarray(predicted[:m], np.int32),
                      outputs={k: np.asarray(v[:m], np.float32) for k, v in outputs.items()})


def score_function(adapter: Any, head: Head, jit_compile: bool = False, eager: bool = False) -> ScoreFunction:
    """The cached `ScoreFunction` for (adapter, head, jit_compile, eager): compiled once, reused every call."""
    cache = adapter.__dict__.setdefault("_score_functions", {})
    key = (head.name, bool(jit_compile), bool(eager))
    if key not in cache:
        cache[key] = ScoreFunction(adapter, head, jit_compile, eager)
    return cache[key]
