"""Adapter for transformers TF models (TFBert*, TFDistilBert*, TFRoberta*, TFElectra*, ...).

Uses only public transformers API: `get_input_embeddings()` for the word-embedding
matrix and the `inputs_embeds` argument to run the model from embeddings. Served by the
TensorFlow backend whatever Keras 3's own backend is.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import tensorflow as tf

from .base import ModelAdapter, task_from_class_name


def is_transformers_tf(model: Any) -> bool:
    """True for a transformers TF model (a TF* class from `transformers` with `get_input_embeddings()`)."""
    return any(c.__module__.startswith("transformers.") for c in type(model).__mro__) and hasattr(
        model, "get_input_embeddings") and type(model).__name__.startswith("TF")


class TransformersTFAdapter(ModelAdapter):
    """Drives a transformers TF model through its public API: `inputs_embeds` in place of `input_ids`.

    There is no layer to pick: the word embeddings are always `get_input_embeddings()`, so
    `embedding_layer` is ignored.
    """

    backend = "tensorflow"

    @staticmethod
    def matches(model: Any) -> bool:
        """True for a transformers TF model (see `is_transformers_tf`)."""
        return is_transformers_tf(model)

    def __init__(self, model: Any, embedding_layer: Any = None, output: str = "auto"):
        super().__init__(model, output=output)  # the word embeddings are always get_input_embeddings()
        params = inspect.signature(model.call).parameters
        self._takes_segments = "token_type_ids" in params
        # RoBERTa-style embeddings derive positions from the ids (skipping padding); with
        # `inputs_embeds` they would count from 0 instead, so we ask the layer itself.
        embeddings = model.get_input_embeddings()
        self._positions = getattr(embeddings, "create_position_ids_from_input_ids", None)
        self._positions = self._positions if "position_ids" in params else None

    def _variable(self) -> tf.Variable:
        layer = self.model.get_input_embeddings()
        for name in ("weight", "embeddings"):  # TF*Embeddings layers / keras Embedding
            if isinstance(getattr(layer, name, None), tf.Variable):
                return getattr(layer, name)
        raise ValueError(
            "Expected `model.get_input_embeddings()` to have a `weight` or `embeddings` variable. "
            f"Received: layer={type(layer).__name__}"
        )

    def embedding_matrix(self) -> np.ndarray:
        """The input embeddings' current weights as float32 numpy, [vocab, hidden]."""
        return np.asarray(self._variable().numpy(), np.float32)

    @property
    def embedding_shape(self) -> tuple[int, int]:
        """(vocab, hidden) of the input embeddings' variable."""
        shape = self._variable().shape
        return int(shape[0]), int(shape[1])

    def word_embeddings(self, ids: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
        """E[ids] as float32 [N, T, H], gathered with `tf.gather` so E is never copied whole.

        `matrix`: a copy of E the caller already holds, to take the rows from instead.
        """
        if matrix is not None:
            return super().word_embeddings(ids, matrix)
        return tf.cast(tf.gather(self._variable(), np.asarray(ids)), tf.float32).numpy()  # no full copy of E

    def embedding_lookup(self, ids: Any) -> Any:
        """E[ids] [N, T, H] with `tf.gather`, differentiable with respect to E inside a GradientTape."""
        return tf.cast(tf.gather(self._variable(), tf.cast(ids, tf.int32)), tf.float32)

    def training_keras(self) -> Any:
        """The Keras the model trains with: transformers TF models are tf-keras (Keras 2) layers."""
        from transformers import modeling_tf_utils

        return modeling_tf_utils.keras

    def forward(self, embeds: Any, ids: Any, mask: Any, segment_ids: Any, state: Any = None) -> dict[str, Any]:
        """Runs the model with `inputs_embeds`; RoBERTa-style positions still come from `ids`. `state` is unused."""
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
        """The task from the class name (TFBertForSequenceClassification -> "classification", ...)."""
        return task_from_class_name(type(self.model).__name__)

    @property
    def max_length(self) -> int | None:
        """`max_position_embeddings`, less the positions RoBERTa-style models reserve before the first token."""
        config = self.model.config
        limit = getattr(config, "max_position_embeddings", None)
        if limit and self._positions is not None:
            # RoBERTa positions start after the padding index
            limit -= getattr(self.model.get_input_embeddings(), "padding_idx", config.pad_token_id) + 1
        return int(limit) if limit else None
