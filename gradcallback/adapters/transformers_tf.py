"""Adapter for transformers TF models (TFBert*, TFDistilBert*, TFRoberta*, TFElectra*, ...).

Uses only public transformers API: `get_input_embeddings()` for the word-embedding
matrix and the `inputs_embeds` argument to run the model from embeddings.
"""

from __future__ import annotations

import inspect
from typing import Any

import tensorflow as tf

from .base import ModelAdapter, task_from_class_name


class TransformersTFAdapter(ModelAdapter):
    @staticmethod
    def matches(model: Any) -> bool:
        return any(c.__module__.startswith("transformers.") for c in type(model).__mro__) and hasattr(
            model, "get_input_embeddings"
        )

    def __init__(self, model: Any, embedding_layer: Any = None):
        super().__init__(model)  # the word embeddings are always get_input_embeddings()
        params = inspect.signature(model.call).parameters
        self._takes_segments = "token_type_ids" in params
        # RoBERTa-style embeddings derive positions from the ids (skipping padding); with
        # `inputs_embeds` they would count from 0 instead, so we ask the layer itself.
        embeddings = model.get_input_embeddings()
        self._positions = getattr(embeddings, "create_position_ids_from_input_ids", None)
        self._positions = self._positions if "position_ids" in params else None

    def embedding_matrix(self) -> tf.Variable:
        layer = self.model.get_input_embeddings()
        for name in ("weight", "embeddings"):  # TF*Embeddings layers / keras Embedding
            if isinstance(getattr(layer, name, None), tf.Variable):
                return getattr(layer, name)
        raise ValueError(
            "Expected `model.get_input_embeddings()` to have a `weight` or `embeddings` variable. "
            f"Received: layer={type(layer).__name__}"
        )

    def forward(self, embeds: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        dtype = self.model.get_input_embeddings().compute_dtype or tf.float32
        inputs = {"inputs_embeds": tf.cast(embeds, dtype), "attention_mask": mask}
        if self._takes_segments:
            inputs["token_type_ids"] = segment_ids
        if self._positions is not None:
            inputs["position_ids"] = self._positions(ids)
        outputs = self.model(inputs, training=False)
        names = ("start_logits", "end_logits") if hasattr(outputs, "start_logits") else ("logits",)
        return {name: tf.cast(getattr(outputs, name), tf.float32) for name in names}

    def detect_task(self) -> str | None:
        return task_from_class_name(type(self.model).__name__)

    @property
    def max_length(self) -> int | None:
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None)
        if limit and self._positions is not None:
            # RoBERTa positions start after the padding index
            limit -= getattr(self.model.get_input_embeddings(), "padding_idx", config.pad_token_id) + 1
        return int(limit) if limit else None
