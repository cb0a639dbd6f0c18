"""Backends: the only code that imports a framework's autodiff, one small module each.

Each module has `compile(adapter, head, jit_compile, eager)` returning an object with
`evaluate(embeds, targets, ids, mask, segment_ids, context)` -> (values, resolved, predicted, outputs)
and `value_and_grad(...)` -> (values, grads, resolved, predicted, outputs), numpy in and out,
plus `static_shapes` (compiles per shape: pad to buckets) and `trace_count`, and optionally
`rows_per_call` (the rows per call it runs fastest at: methods' "auto" chunks; 128 when absent).

Each module also has `differentiable_input_gradient(score, embeds)`: d score / d embeds, itself
differentiable with respect to the weights, for training penalties (`remedies.AttributionPrior`).

The backend is the adapter's: a Keras 3 model's is `keras.backend.backend()`; transformers TF
models are always served by TensorFlow.
"""

from __future__ import annotations

import importlib
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")


def check_backend(adapter: Any) -> str:
    """The adapter's backend, or a ValueError naming it and what is supported."""
    name = getattr(adapter, "backend", None)
    if name not in BACKENDS:
        raise ValueError(f"gradcallback computes gradients with the {', '.join(BACKENDS)} backends. "
                         f"Received: a model on the {name!r} backend (KERAS_BACKEND={name})")
    if name == "tensorflow" and type(adapter).__name__ == "TransformersTFAdapter":
        import keras

        if keras.backend.backend() != "tensorflow":  # the heads are written in keras.ops
            raise ValueError("transformers TF models need Keras 3's TensorFlow backend in the same process "
                             f"(KERAS_BACKEND=tensorflow). Received: KERAS_BACKEND={keras.backend.backend()}")
    return name


def compile_score(adapter: Any, head: Any, jit_compile: bool, eager: bool = False) -> Any:
    """The adapter's backend module's compiled score for `head` (see the module docstring for its interface)."""
    module = importlib.import_module(f"{__name__}.{check_backend(adapter)}")
    return module.compile(adapter, head, jit_compile, eager)


def resolve_jit_compile(adapter: Any, jit_compile: bool | str) -> bool:
    """`jit_compile` as a bool: "auto" asks the adapter's backend whether an accelerator is there.

    XLA pays on a GPU or TPU; on a CPU it compiled each new shape for 4-13 s on MiniLM (four shapes,
    about 27 s of a 38 s first logged step) and ran the warm passes no faster than a plain trace.
    """
    if jit_compile == "auto":
        module = importlib.import_module(f"{__name__}.{check_backend(adapter)}")
        return bool(getattr(module, "has_accelerator", lambda: False)())
    if not isinstance(jit_compile, bool):
        raise ValueError('Expected jit_compile to be True, False or "auto" (XLA when a GPU or TPU is visible). '
                         f"Received: jit_compile={jit_compile!r}")
    return jit_compile


def second_order(adapter: Any) -> Any:
    """The adapter's backend's `differentiable_input_gradient`, or a ValueError when the backend has no
    second-order gradients (Keras' numpy and openvino backends do not differentiate at all)."""
    try:
        name = check_backend(adapter)
    except ValueError as error:
        raise ValueError(f"An attribution penalty needs second-order gradients, which gradcallback computes on "
                         f"the {', '.join(BACKENDS)} backends. {error}") from None
    return importlib.import_module(f"{__name__}.{name}").differentiable_input_gradient
