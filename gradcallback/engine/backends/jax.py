"""JAX: `jax.jit(jax.value_and_grad(...))` over the model's stateless call.

The weights are arguments of the compiled function, read current at every call
(`adapter.state()`, after `adapter.sync()`): calling the model object inside `jit` would bake
the weights of the first trace in as constants, and attributions would go stale as training
moves them. jit has no dynamic shapes: the engine pads lengths and rows to buckets, so a
fixed probe set compiles a few shapes once (enable JAX's persistent compilation cache to
keep them across processes).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

from ..heads import Head, run_head


class JaxScore:
    """The score function of one (adapter, head) as two `jax.jit` programs over the model's stateless call.

    The weights go in as arguments on every call, so training never leaves them stale; `jit_compile`
    and `eager` are ignored (everything is jitted), and every new shape compiles once (`static_shapes`).
    """

    static_shapes = True

    def __init__(self, adapter: Any, head: Head, jit_compile: bool, eager: bool = False):
        self.adapter, self.head = adapter, head
        self.trace_count = 0

        def run(embeds, state, targets, ids, mask, segment_ids, context):
            self.trace_count += 1  # a Python side effect: runs only while tracing
            return run_head(adapter, head, embeds, targets, ids, mask, segment_ids, context, state)

        def summed(embeds, *args):
            values, resolved, predicted, outputs = run(embeds, *args)
            # Rows are independent, so the gradient of the sum is each row's own gradient.
            return values.sum(), (values, resolved, predicted, outputs)

        self._evaluate = jax.jit(run)
        self._value_and_grad = jax.jit(jax.value_and_grad(summed, has_aux=True))

    def evaluate(self, embeds: np.ndarray, *arrays: np.ndarray) -> tuple:
        """(values, resolved, predicted, outputs) at the current weights, as numpy."""
        return _numpy(self._evaluate(embeds, self.adapter.state(), *arrays))

    def value_and_grad(self, embeds: np.ndarray, *arrays: np.ndarray) -> tuple:
        """(values, grads, resolved, predicted, outputs) at the current weights: `evaluate` plus d values / d embeds."""
        (_, (values, resolved, predicted, outputs)), grads = self._value_and_grad(
            embeds, self.adapter.state(), *arrays)
        return _numpy((values, grads, resolved, predicted, outputs))


def differentiable_input_gradient(score: Callable[[Any], Any], embeds: Any) -> Any:
    """The gradient d score(embeds) / d embeds [N, T, H], itself differentiable with respect to the weights.

    A nested `jax.grad`: inside the trainer's stateless loss the variables read as the traced values of
    its own `value_and_grad`, so the outer gradient goes through this one (second order). The score
    must not write state (run the model with `training=False`: no dropout seeds, no moving statistics).
    """
    return jax.grad(score)(embeds)


def _numpy(results: tuple) -> tuple:
    return tuple({k: np.asarray(v) for k, v in r.items()} if isinstance(r, dict) else np.asarray(r)
                 for r in results)


def compile(adapter: Any, head: Head, jit_compile: bool, eager: bool = False) -> JaxScore:  # noqa: A001 - protocol
    """The JAX score function for (adapter, head); each shape compiles on its first call."""
    return JaxScore(adapter, head, jit_compile, eager)
