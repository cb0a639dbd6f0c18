"""The interface every model adapter implements.

An adapter is the only code that knows a model family's internals: where the word
embedding matrix lives, how to run the model from word embeddings instead of ids,
which backend computes its gradients, and what its outputs are called. Everything
else sees `ModelAdapter`. Adapters never differentiate: that is the backends' job
(`gradcallback/engine/backends/`).
"""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Iterator

import numpy as np

OUTPUT_KINDS = ("auto", "logits", "probabilities")


class ModelAdapter(abc.ABC):
    """Runs a text model from its word embeddings.

    `forward` returns float32 backend tensors under these names:
    "logits" [N, C] (classification, causal LM [N, T, V]) or [N, T, C] (token classification),
    "start_logits" and "end_logits" [N, T] (question answering); classification may add
    "probabilities" (when the model's outputs are probabilities) and "class_scores" (what is
    explained per class, when it differs from "logits": single-unit binary models).
    """

    backend: str = "tensorflow"  # which engine backend differentiates this model

    def __init__(self, model: Any, embedding_layer: Any = None, output: str = "auto"):
        self.model = model
        self.output = output

    @staticmethod
    @abc.abstractmethod
    def matches(model: Any) -> bool:
        """True if this adapter can drive `model`."""

    @abc.abstractmethod
    def embedding_matrix(self) -> np.ndarray:
        """The word-embedding matrix E as float32 numpy, [vocab, hidden] (current weights)."""

    @property
    @abc.abstractmethod
    def embedding_shape(self) -> tuple[int, int]:
        """(vocab, hidden) of E, without copying it."""

    @abc.abstractmethod
    def forward(self, embeds: Any, ids: Any, mask: Any, segment_ids: Any, state: Any = None) -> dict[str, Any]:
        """Outputs of the model run from word embeddings [N, T, H] instead of looking up `ids`.

        `ids`, `mask` and `segment_ids` are [N, T] backend tensors; `ids` are passed for models that
        derive something else from them (a Keras `mask_zero` mask, RoBERTa positions), never for the
        lookup itself. `state`: weights passed as arguments (JAX's stateless call), or None.
        """

    def detect_task(self) -> str | None:
        """"classification", "question_answering", "token_classification", "causal_lm", or None."""
        return None

    @property
    def max_length(self) -> int | None:
        """Longest sequence the model takes (position embeddings), or None if unbounded/unknown."""
        return None

    @property
    def vocab_size(self) -> int:
        """Number of rows of the word-embedding matrix E."""
        return int(self.embedding_shape[0])

    @property
    def hidden_size(self) -> int:
        """Width of one word embedding (columns of E)."""
        return int(self.embedding_shape[1])

    def word_embeddings(self, ids: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
        """E[ids] as float32 [N, T, H]: the array attributions are taken with respect to."""
        matrix = self.embedding_matrix() if matrix is None else matrix
        return np.asarray(matrix[np.asarray(ids)], np.float32)

    def embedding_lookup(self, ids: Any) -> Any:
        """E[ids] as a backend tensor [N, T, H] that stays differentiable with respect to E (for training
        penalties, inside the trainer's step); adapters that support training override it."""
        raise NotImplementedError(f"{type(self).__name__} cannot look embeddings up inside a training step")

    def training_keras(self) -> Any:
        """The Keras module the model trains with (its metrics and losses): Keras 3 unless overridden."""
        import keras

        return keras

    def sync(self) -> None:
        """Make the model's variables current before reading them (JAX's trainer holds them apart).

        A no-op here: only adapters whose backend keeps the state apart override it.
        """
        return None

    def state(self) -> Any:
        """The weights as arguments for `forward(state=...)`; None when the backend reads them itself."""
        return None

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """While inside, the model can be run from embeddings; nothing stays attached after."""
        yield

    def describe_output(self) -> str:
        """What is explained, for tag descriptions: e.g. "logit" or "probability (final softmax)"."""
        return "logit"


def task_from_class_name(name: str) -> str | None:
    """Task of a model class from the naming conventions of transformers and keras-hub."""
    if "QuestionAnswering" in name:
        return "question_answering"
    if "TokenClassif" in name:
        return "token_classification"
    if "SequenceClassification" in name or "TextClassifier" in name:
        return "classification"
    if "CausalLM" in name or name.endswith("LMHeadModel"):  # transformers' GPT2LMHeadModel
        return "causal_lm"
    return None
