"""A Keras model's outputs as the engine names them, whatever its final activation.

Classification outputs become "logits" [N, C] whose softmax is the model's own probability,
plus "class_scores" when what is explained per class differs from "logits":
  - C logits:                 logits as they are.
  - 1 logit z (binary):       logits [0, z] (softmax = [1 - sigmoid(z), sigmoid(z)], exactly the
                              model's p > 0.5 rule), explained scores [-z, z] (class 0's evidence is -z).
  - C probabilities p:        logits log p (softmax gives p back), explained scores p.
  - 1 probability p:          logits log [1 - p, p], explained scores [1 - p, p].
"""

from __future__ import annotations

from typing import Any

import keras

ACTIVATIONS = ("softmax", "sigmoid")


def final_activation(model: Any) -> tuple[Any, str] | None:
    """(layer, "softmax" | "sigmoid") when the model's single output comes out of one, else None."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    layer = history[0] if history else (model.layers[-1] if getattr(model, "layers", None) else None)
    if layer is None:
        return None
    if isinstance(layer, keras.layers.Softmax):
        return layer, "softmax"
    activation = getattr(getattr(layer, "activation", None), "__name__", None)
    if activation in ACTIVATIONS and (hasattr(layer, "kernel") or isinstance(layer, keras.layers.Activation)):
        return layer, activation
    return None


def standard_outputs(outputs: Any, kind: str) -> dict[str, Any]:
    """Name the outputs; `kind` is "logits" or "probabilities" (what the model's outputs are)."""
    ops = keras.ops
    if isinstance(outputs, dict):
        return {k: ops.cast(v, "float32") for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)) and len(outputs) == 2:
        return {"start_logits": ops.cast(outputs[0], "float32"), "end_logits": ops.cast(outputs[1], "float32")}
    x = ops.cast(outputs, "float32")
    if len(x.shape) != 2:
        return {"logits": x}
    if kind == "probabilities":
        p = ops.concatenate([1.0 - x, x], axis=1) if x.shape[1] == 1 else x
        return {"logits": ops.log(ops.maximum(p, 1e-30)), "class_scores": p}
    if x.shape[1] == 1:
        return {"logits": ops.concatenate([ops.zeros_like(x), x], axis=1),
                "class_scores": ops.concatenate([-x, x], axis=1)}
    return {"logits": x}
