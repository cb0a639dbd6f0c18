"""Adapter for Keras 3 models: keras-hub tasks and any model with a token `Embedding` layer.

Like Captum's layer attributions, it intercepts the token embedding layer: the
layer instance's `call` is wrapped so that, while an attribution runs, it returns
the (watched) embeddings we pass in instead of looking them up itself.
"""

from __future__ import annotations

import threading
from typing import Any

import keras
import tensorflow as tf

from .base import ModelAdapter, task_from_class_name


def _all_layers(model: Any) -> list[Any]:
    seen, stack, out = set(), [model], []
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(getattr(layer, "layers", None) or [])
        stack.extend(getattr(layer, "_layers", None) or [])
        for name in ("backbone", "token_embedding"):
            if getattr(layer, name, None) is not None:
                stack.append(getattr(layer, name))
    return out


def find_token_embedding(model: Any, embedding_layer: Any = None) -> keras.layers.Embedding:
    """The model's token `Embedding` layer: the named one, `backbone.token_embedding`, or the largest."""
    layers = [l for l in _all_layers(model) if isinstance(l, keras.layers.Embedding)]
    if isinstance(embedding_layer, keras.layers.Layer):
        return embedding_layer
    if isinstance(embedding_layer, str):
        named = [l for l in layers if l.name == embedding_layer]
        if not named:
            raise ValueError(
                f"No Embedding layer named {embedding_layer!r}; found {[l.name for l in layers]}. "
                f"Received: embedding_layer={embedding_layer!r}"
            )
        return named[0]
    backbone_token = getattr(getattr(model, "backbone", None), "token_embedding", None)
    if isinstance(backbone_token, keras.layers.Embedding):
        return backbone_token
    if not layers:
        raise ValueError(
            "Expected a Keras model with a token `keras.layers.Embedding` layer (or pass "
            f"`embedding_layer=`). Received: model={type(model).__name__}"
        )
    return max(layers, key=lambda l: l.input_dim)


class _EmbeddingOverride:
    """Wraps one Embedding layer's `call` so an attribution can substitute its output."""

    def __init__(self, layer: keras.layers.Embedding):
        self._local = threading.local()
        original = layer.call

        def call(inputs, *args, **kwargs):
            override = getattr(self._local, "value", None)
            if override is not None and not kwargs.get("reverse", False):
                return override
            return original(inputs, *args, **kwargs)

        layer.call = call

    def set(self, value: tf.Tensor | None) -> None:
        self._local.value = value


class KerasAdapter(ModelAdapter):
    @staticmethod
    def matches(model: Any) -> bool:
        return isinstance(model, keras.Model)

    def __init__(self, model: Any, embedding_layer: Any = None):
        super().__init__(model)
        self.layer = find_token_embedding(model, embedding_layer)
        if not hasattr(self.layer, "_gradcallback_override"):
            # Stored outside Keras attribute tracking: one wrapper per layer instance.
            object.__setattr__(self.layer, "_gradcallback_override", _EmbeddingOverride(self.layer))
        self._override = self.layer._gradcallback_override
        self._input_roles = _input_roles(model)

    def embedding_matrix(self) -> tf.Variable:
        return self.layer.embeddings

    def forward(self, embeds: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        by_role = {"ids": ids, "mask": mask, "segments": segment_ids}
        if self._input_roles is None:
            inputs = ids
        else:
            inputs = {name: by_role[role] for name, role in self._input_roles.items()}
        self._override.set(tf.cast(embeds, self.layer.compute_dtype))
        try:
            outputs = self.model(inputs, training=False)
        finally:
            self._override.set(None)
        return _name_outputs(outputs)

    def detect_task(self) -> str | None:
        by_name = task_from_class_name(type(self.model).__name__)
        if by_name:
            return by_name
        outputs = getattr(self.model, "outputs", None)
        if not outputs:
            return None
        if len(outputs) == 2 and all(len(o.shape) == 2 for o in outputs):
            return "question_answering"
        if len(outputs) == 1:
            return {2: "classification", 3: "token_classification"}.get(len(outputs[0].shape))
        return None

    @property
    def max_length(self) -> int | None:
        backbone = getattr(self.model, "backbone", None)
        limit = getattr(backbone, "max_sequence_length", None)
        if limit:
            return int(limit)
        inputs = getattr(self.model, "inputs", None) or []
        lengths = [i.shape[1] for i in inputs if len(i.shape) >= 2 and i.shape[1]]
        return int(min(lengths)) if lengths else None


def _input_roles(model: Any) -> dict[str, str] | None:
    """Map each named model input to "ids", "mask" or "segments"; None for a single-input model."""
    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) == 1:
        return None
    roles = {}
    for tensor in inputs:
        name = tensor.name.split(":")[0]
        low = name.lower()
        roles[name] = "mask" if "mask" in low else "segments" if ("segment" in low or "type" in low) else "ids"
    return roles


def _name_outputs(outputs: Any) -> dict[str, tf.Tensor]:
    if isinstance(outputs, dict):
        return {k: tf.cast(v, tf.float32) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)) and len(outputs) == 2:
        return {"start_logits": tf.cast(outputs[0], tf.float32), "end_logits": tf.cast(outputs[1], tf.float32)}
    return {"logits": tf.cast(outputs, tf.float32)}
