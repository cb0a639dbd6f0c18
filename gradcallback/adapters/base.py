"""The interface every model adapter implements.

An adapter is the only code that knows a model family's internals: where the word
embedding matrix lives, how to run the model from word embeddings instead of ids,
and what its outputs are called. Everything else sees `ModelAdapter`.
"""

from __future__ import annotations

import abc
from typing import Any

import tensorflow as tf


class ModelAdapter(abc.ABC):
    """Runs a text model from its word embeddings.

    `forward` returns float32 tensors under these names:
    "logits" [N, C] (classification) or [N, T, C] (token classification), or
    "start_logits" and "end_logits" [N, T] (question answering).
    """

    def __init__(self, model: Any, embedding_layer: Any = None):
        self.model = model

    @staticmethod
    @abc.abstractmethod
    def matches(model: Any) -> bool:
        """True if this adapter can drive `model`."""

    @abc.abstractmethod
    def embedding_matrix(self) -> tf.Variable:
        """The word-embedding matrix E, [vocab, hidden]."""

    @abc.abstractmethod
    def forward(self, embeds: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor, segment_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        """Outputs of the model run from word embeddings [N, T, H] instead of looking up `ids`.

        `ids`, `mask` and `segment_ids` are [N, T]; `ids` are passed for models that derive
        something else from them (a Keras `mask_zero` mask), never for the lookup itself.
        """

    def detect_task(self) -> str | None:
        """"classification", "question_answering", "token_classification", or None if unknown."""
        return None

    @property
    def max_length(self) -> int | None:
        """Longest sequence the model takes (position embeddings), or None if unbounded/unknown."""
        return None

    @property
    def vocab_size(self) -> int:
        return int(self.embedding_matrix().shape[0])

    @property
    def hidden_size(self) -> int:
        return int(self.embedding_matrix().shape[1])

    def word_embeddings(self, ids: tf.Tensor) -> tf.Tensor:
        """E[ids] as float32 [N, T, H]: the tensor attributions are taken with respect to."""
        return tf.cast(tf.gather(self.embedding_matrix(), ids), tf.float32)


def task_from_class_name(name: str) -> str | None:
    """Task of a model class from the naming conventions of transformers and keras-hub."""
    if "QuestionAnswering" in name:
        return "question_answering"
    if "TokenClassif" in name:
        return "token_classification"
    if "SequenceClassification" in name or "TextClassifier" in name:
        return "classification"
    return None
