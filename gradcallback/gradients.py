"""The one module that computes gradients.

`ScoreFunction` turns (adapter, head) into f: word embeddings [N, T, H] -> one scalar
per row, compiled with `tf.function` once (dynamic batch and length dimensions, so
chunks of any shape reuse one trace). Only the embedding tensor is watched: no
weight gradients are ever computed. Methods call `BoundScore.value_and_grad`;
nothing else in the package opens a `GradientTape`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from .adapters.base import ModelAdapter
from .heads import Head


@dataclass(frozen=True, eq=False)
class Chunk:
    """The padded context of a chunk of probes; rows of a method's batch index into it."""

    ids: tf.Tensor  # int32 [B, T] token ids
    mask: tf.Tensor  # int32 [B, T] attention mask
    segment_ids: tf.Tensor  # int32 [B, T]
    context: tf.Tensor  # int32 [B, T] answer-span candidates (QA)

    @classmethod
    def from_numpy(cls, batch: dict[str, np.ndarray]) -> "Chunk":
        as_int = lambda name: tf.constant(np.asarray(batch[name], dtype=np.int32))  # noqa: E731
        return cls(as_int("ids"), as_int("mask"), as_int("segment_ids"), as_int("context"))


@dataclass(frozen=True, eq=False)
class Evaluation:
    """f at some embeddings, with the targets it was taken at (numpy)."""

    values: np.ndarray  # float32 [N]: the explained logit per row
    targets: np.ndarray  # int32 [N, 2]: targets used (-1 entries resolved to the prediction)
    predicted: np.ndarray  # int32 [N, 2]: the model's own prediction
    outputs: dict[str, np.ndarray]  # the adapter's named outputs


class ScoreFunction:
    """f(embeds) for one model adapter and one head, compiled once.

    With `jit_compile`, XLA also compiles each new chunk shape (seconds for a
    MiniLM-sized model) and then runs faster; worth it when shapes repeat, as in the
    callback's fixed probe set.
    """

    def __init__(self, adapter: ModelAdapter, head: Head, jit_compile: bool = False):
        self.adapter, self.head = adapter, head
        self.trace_count = 0  # incremented only while tracing: a test watches it
        signature = [
            tf.TensorSpec([None, None, adapter.hidden_size], tf.float32),  # embeds [M, T, H]
            tf.TensorSpec([None], tf.int32),  # rows [M]: which chunk probe each row belongs to
            tf.TensorSpec([None, 2], tf.int32),  # targets [M, 2]
            tf.TensorSpec([None, None], tf.int32),  # chunk ids [B, T]
            tf.TensorSpec([None, None], tf.int32),  # chunk mask [B, T]
            tf.TensorSpec([None, None], tf.int32),  # chunk segment ids [B, T]
            tf.TensorSpec([None, None], tf.int32),  # chunk context [B, T]
        ]
        self._evaluate = tf.function(self._evaluate_graph, input_signature=signature, jit_compile=jit_compile)
        self._value_and_grad = tf.function(self._value_and_grad_graph, input_signature=signature,
                                           jit_compile=jit_compile)

    def _run(self, embeds, rows, targets, ids, mask, segment_ids, context):
        ids, mask, segment_ids, context = (tf.gather(t, rows) for t in (ids, mask, segment_ids, context))
        outputs = self.adapter.forward(embeds, ids, mask, segment_ids)
        resolved = self.head.resolve(outputs, targets, context)
        predicted = self.head.resolve(outputs, self.head.prediction_query(targets), context)
        return self.head.score(outputs, resolved), resolved, predicted, outputs

    def _evaluate_graph(self, *args):
        self.trace_count += 1
        return self._run(*args)

    def _value_and_grad_graph(self, embeds, *args):
        self.trace_count += 1
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(embeds)
            values, resolved, predicted, outputs = self._run(embeds, *args)
        # Rows are independent (inference mode, masked attention), so the gradient of
        # the sum is each row's own gradient.
        grads = tape.gradient(values, embeds, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return values, grads, resolved, predicted, outputs

    def bind(self, chunk: Chunk) -> "BoundScore":
        return BoundScore(self, chunk)


class BoundScore:
    """A `ScoreFunction` bound to one chunk of probes: what methods receive."""

    def __init__(self, function: ScoreFunction, chunk: Chunk):
        self.function, self.chunk = function, chunk

    def _args(self, embeds: Any, targets: Any, rows: Any) -> tuple:
        embeds = tf.convert_to_tensor(embeds, tf.float32)
        if rows is None:
            rows = tf.range(tf.shape(embeds)[0], dtype=tf.int32)
        targets = tf.convert_to_tensor(np.asarray(targets, dtype=np.int32))
        rows = tf.convert_to_tensor(rows, tf.int32)
        c = self.chunk
        return embeds, rows, targets, c.ids, c.mask, c.segment_ids, c.context

    def evaluate(self, embeds: Any, targets: Any, rows: Any = None) -> Evaluation:
        """Forward pass only."""
        values, resolved, predicted, outputs = self.function._evaluate(*self._args(embeds, targets, rows))
        return _evaluation(values, resolved, predicted, outputs)

    def value_and_grad(self, embeds: Any, targets: Any, rows: Any = None) -> tuple[Evaluation, tf.Tensor]:
        """Forward pass and d f / d embeds [M, T, H] in one compiled call."""
        values, grads, resolved, predicted, outputs = self.function._value_and_grad(
            *self._args(embeds, targets, rows)
        )
        return _evaluation(values, resolved, predicted, outputs), grads


def _evaluation(values, resolved, predicted, outputs) -> Evaluation:
    return Evaluation(
        values=values.numpy(),
        targets=resolved.numpy(),
        predicted=predicted.numpy(),
        outputs={k: v.numpy() for k, v in outputs.items()},
    )


def score_function(adapter: ModelAdapter, head: Head, jit_compile: bool = False) -> ScoreFunction:
    """The cached `ScoreFunction` for (adapter, head, jit_compile): traced once, reused every call."""
    cache = adapter.__dict__.setdefault("_score_functions", {})
    key = (head.name, bool(jit_compile))
    if key not in cache:
        cache[key] = ScoreFunction(adapter, head, jit_compile)
    return cache[key]
