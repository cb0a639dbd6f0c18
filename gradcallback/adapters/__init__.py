"""Adapters: the only code that knows model and tokenizer internals.

A new model family is one small module with a `ModelAdapter` subclass, listed in
`MODEL_ADAPTERS`.
"""

from __future__ import annotations

import weakref
from typing import Any

from .base import ModelAdapter
from .keras import KerasAdapter
from .tokenizers import Encoding, HFTokenizer, KerasHubTokenizer, wrap_tokenizer
from .transformers_tf import TransformersTFAdapter

MODEL_ADAPTERS: tuple[type[ModelAdapter], ...] = (TransformersTFAdapter, KerasAdapter)

_cache: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def get_adapter(model: Any, embedding_layer: Any = None) -> ModelAdapter:
    """The adapter for `model`, created once per (model, embedding_layer) and reused."""
    if isinstance(model, ModelAdapter):
        return model
    try:
        per_model = _cache.setdefault(model, {})
    except TypeError:  # not weak-referenceable: no cache
        return _make_adapter(model, embedding_layer)
    key = embedding_layer if isinstance(embedding_layer, (str, type(None))) else id(embedding_layer)
    if key not in per_model:
        per_model[key] = _make_adapter(model, embedding_layer)
    return per_model[key]


def _make_adapter(model: Any, embedding_layer: Any) -> ModelAdapter:
    for adapter in MODEL_ADAPTERS:
        if adapter.matches(model):
            return adapter(model, embedding_layer)
    raise ValueError(
        "Expected a transformers TF model (with `get_input_embeddings()`) or a Keras 3 model "
        "with a token `Embedding` layer (keras-hub tasks included). "
        f"Received: model={type(model).__module__}.{type(model).__name__}"
    )


__all__ = [
    "Encoding",
    "HFTokenizer",
    "KerasAdapter",
    "KerasHubTokenizer",
    "MODEL_ADAPTERS",
    "ModelAdapter",
    "TransformersTFAdapter",
    "get_adapter",
    "wrap_tokenizer",
]
