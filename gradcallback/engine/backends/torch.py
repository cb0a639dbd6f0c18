"""PyTorch: a leaf embeddings tensor with `requires_grad`, and `torch.autograd.grad` with respect
to it alone, so parameters' `.grad` stay as they were; the model runs with `training=False`
and its train/eval mode is not touched. Eager: no compilation, any shape.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import numpy as np
import torch

from ..heads import Head, run_head


class TorchScore:
    """The score function of one (adapter, head), run eagerly in PyTorch: nothing is compiled or traced.

    `jit_compile` and `eager` are ignored (it is always eager); `trace_count` stays 0.
    """

    static_shapes = False
    trace_count = 0

    def __init__(self, adapter: Any, head: Head, jit_compile: bool, eager: bool = False):
        self.adapter, self.head = adapter, head

    def _run(self, embeds: torch.Tensor, arrays: tuple) -> tuple:
        tensors = [keras.ops.convert_to_tensor(a) for a in arrays]
        return run_head(self.adapter, self.head, embeds, *tensors)

    def evaluate(self, embeds: np.ndarray, *arrays: np.ndarray) -> tuple:
        """(values, resolved, predicted, outputs) under `torch.no_grad()`, as numpy."""
        with torch.no_grad():
            return _numpy(self._run(keras.ops.convert_to_tensor(embeds), arrays))

    def value_and_grad(self, embeds: np.ndarray, *arrays: np.ndarray) -> tuple:
        """(values, grads, resolved, predicted, outputs) as numpy, by `torch.autograd.grad` on a leaf copy of embeds.

        Parameters' `.grad` are left alone; grads are zeros when the values do not depend on the embeddings.
        """
        leaf = keras.ops.convert_to_tensor(embeds).detach().requires_grad_(True)
        with torch.enable_grad():
            values, resolved, predicted, outputs = self._run(leaf, arrays)
            (grads,) = torch.autograd.grad(values.sum(), leaf, allow_unused=True)
        grads = torch.zeros_like(leaf) if grads is None else grads  # the output ignores the input
        return _numpy((values, grads, resolved, predicted, outputs))


def differentiable_input_gradient(score: Callable[[Any], Any], embeds: Any) -> Any:
    """The gradient d score(embeds) / d embeds [N, T, H], itself differentiable with respect to the weights.

    `torch.autograd.grad(..., create_graph=True)` keeps the gradient in the graph, so the trainer's
    backward goes through it (second order). Embeddings of a frozen table get a leaf of their own.
    Attention runs on SDPA's math kernel: the fused CPU kernels (flash attention) have no double
    backward ("derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented").
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if not embeds.requires_grad:
        embeds = embeds.detach().requires_grad_(True)
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH):
        value = score(embeds)
        (grads,) = torch.autograd.grad(value, embeds, create_graph=True, allow_unused=True)
    return torch.zeros_like(embeds) if grads is None else grads


def _numpy(results: tuple) -> tuple:
    as_numpy = lambda t: t.detach().cpu().numpy()  # noqa: E731
    return tuple({k: as_numpy(v) for k, v in r.items()} if isinstance(r, dict) else as_numpy(r) for r in results)


def compile(adapter: Any, head: Head, jit_compile: bool, eager: bool = False) -> TorchScore:  # noqa: A001 - protocol
    """The PyTorch score function for (adapter, head)."""
    return TorchScore(adapter, head, jit_compile, eager)
