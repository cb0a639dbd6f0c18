"""TensorFlow: one `tf.function` per (adapter, head) with a GradientTape watching only the embeddings.

Dynamic batch and length dimensions, so chunks of any shape reuse one trace; with
`jit_compile` XLA compiles each new shape once (the engine pads to buckets) and then runs
faster. Traced without autograph (`_traced`): a tiny transformers BERT's first call took 1.8 s
instead of 8.3 s (4.0 s instead of 9.8 s with XLA) on 2 CPU cores. With `eager` nothing is traced:
a one-off call (`gradcallback explain`) skips the trace, which still costs more than running a
BERT's few hundred ops one at a time. Serves Keras 3 models on the TensorFlow backend,
transformers TF and tf-keras models.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from ..heads import Head, run_head


class TFScore:
    """The score function of one (adapter, head) as two `tf.function`s: values alone, and values with gradients.

    `jit_compile` compiles them with XLA, one program per shape (`static_shapes`); without it one
    trace serves every batch and length. `eager` runs the same code without `tf.function`.
    """

    def __init__(self, adapter: Any, head: Head, jit_compile: bool, eager: bool = False):
        self.adapter, self.head = adapter, head
        self.static_shapes = bool(jit_compile) and not eager
        # Rows per call of methods' "auto" chunks and of forward-only perturbation passes. Measured on 2 CPU
        # cores without XLA (MiniLM, 24 short probes, benchmarks/RESULTS.md "Step cost"): 8-point IG in
        # chunks of 32/64/128/192 rows and 192 forward rows in chunks of 24-192 ran within the machine's
        # noise of each other, so 128 stays (larger chunks only cost memory); XLA pads rows to powers of two.
        self.rows_per_call = 128
        self.trace_count = 0  # incremented only while tracing: a test watches it
        if eager:
            self._evaluate, self._value_and_grad = _on_tensors(self._forward), _on_tensors(self._forward_and_grad)
            return
        signature = [
            tf.TensorSpec([None, None, adapter.hidden_size], tf.float32),  # embeds [M, T, H]
            tf.TensorSpec([None, 2], tf.int32),  # targets [M, 2]
            *[tf.TensorSpec([None, None], tf.int32)] * 4,  # ids, mask, segment ids, context [M, T]
        ]
        self._evaluate = _traced(self._evaluate_graph, signature, jit_compile)
        self._value_and_grad = _traced(self._value_and_grad_graph, signature, jit_compile)

    def _evaluate_graph(self, *arrays):
        self.trace_count += 1
        return self._forward(*arrays)

    def _value_and_grad_graph(self, *arrays):
        self.trace_count += 1
        return self._forward_and_grad(*arrays)

    def _forward(self, embeds, targets, ids, mask, segment_ids, context):
        return run_head(self.adapter, self.head, embeds, targets, ids, mask, segment_ids, context)

    def _forward_and_grad(self, embeds, targets, ids, mask, segment_ids, context):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(embeds)
            values, resolved, predicted, outputs = run_head(self.adapter, self.head, embeds, targets, ids, mask,
                                                            segment_ids, context)
        # Rows are independent (inference mode, masked attention), so the gradient of
        # the sum is each row's own gradient.
        grads = tape.gradient(values, embeds, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return values, grads, resolved, predicted, outputs

    def evaluate(self, *arrays: np.ndarray) -> tuple:
        """(values, resolved, predicted, outputs) at (embeds, targets, ids, mask, segment_ids, context), as numpy."""
        return _numpy(self._evaluate(*arrays))

    def value_and_grad(self, *arrays: np.ndarray) -> tuple:
        """(values, grads, resolved, predicted, outputs) as numpy: `evaluate` plus d values / d embeds per row."""
        return _numpy(self._value_and_grad(*arrays))


def _traced(function: Callable, signature: list, jit_compile: bool) -> Callable:
    """`function` as a `tf.function`, traced without autograph unless the model needs it.

    Autograph rewrites every layer's Python code at the first trace (6.5 of a tiny transformers BERT's
    8.3 s first call on 2 CPU cores), for models that branch on no tensor. A model whose code
    does (`if tensor:`) fails that trace with OperatorNotAllowedInGraphError and is traced again with it.
    """
    options = {"input_signature": signature, "jit_compile": jit_compile}
    traced = tf.function(function, autograph=False, **options)

    def call(*arrays):
        nonlocal traced
        try:
            return traced(*arrays)
        except tf.errors.OperatorNotAllowedInGraphError:
            traced = tf.function(function, autograph=True, **options)
            return traced(*arrays)

    return call


def _on_tensors(function: Any) -> Any:
    """`function` called eagerly on the arrays as tensors (a `tf.function` converts them itself)."""
    return lambda *arrays: function(*(tf.convert_to_tensor(a) for a in arrays))


def differentiable_input_gradient(score: Callable[[Any], Any], embeds: Any) -> Any:
    """The gradient d score(embeds) / d embeds [N, T, H], itself differentiable with respect to the weights.

    A nested `GradientTape`: run inside the trainer's own tape, which records the inner gradient's
    ops, so a penalty on it trains (second order, as "Right for the Right Reasons" needs). Zeros
    where the score ignores the embeddings.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(embeds)
        value = score(embeds)
    return tape.gradient(value, embeds, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def _numpy(results: tuple) -> tuple:
    return tuple({k: v.numpy() for k, v in r.items()} if isinstance(r, dict) else r.numpy() for r in results)


def has_accelerator() -> bool:
    """Whether TensorFlow sees a GPU or TPU: where `jit_compile="auto"` compiles with XLA."""
    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def compile(adapter: Any, head: Head, jit_compile: bool, eager: bool = False) -> TFScore:  # noqa: A001 - protocol
    """The TensorFlow score function for (adapter, head), traced on its first call (never, when `eager`)."""
    return TFScore(adapter, head, jit_compile, eager)
