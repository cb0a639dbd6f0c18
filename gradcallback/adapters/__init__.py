"""Adapters: the only code that knows model and tokenizer internals.

A new model family is one small module with a `ModelAdapter` subclass, added to `_pick`.
Importing this package imports no framework: an adapter module is imported only when a
model of its family shows up (a transformers TF model brings TensorFlow with it anyway).
"""

from __future__ import annotations

import sys
from typing import Any

from ..validate import choice
from .base import OUTPUT_KINDS, ModelAdapter
from .tokenizers import Encoding, HFTokenizer, KerasHubTokenizer, wrap_tokenizer

_CACHE_ATTRIBUTE = "_gradcallback_adapters"


def get_adapter(model: Any, embedding_layer: Any = None, output: str = "auto") -> ModelAdapter:
    """The adapter for `model`, created once per (model, embedding_layer, output) and reused.

    The cache lives on the model itself (model -> adapter -> model is a cycle the garbage
    collector frees), so gradcallback never keeps a model alive that its user dropped.
    """
    if isinstance(model, ModelAdapter):
        return model
    choice("output", output, OUTPUT_KINDS)
    key = (embedding_layer if isinstance(embedding_layer, (str, type(None))) else id(embedding_layer), output)
    cache = getattr(model, "__dict__", {}).get(_CACHE_ATTRIBUTE)
    if cache is not None and key in cache:
        return cache[key]
    adapter = _pick(model)(model, embedding_layer, output)
    try:
        if cache is None:
            cache = {}
            object.__setattr__(model, _CACHE_ATTRIBUTE, cache)  # outside Keras attribute tracking
        cache[key] = adapter
    except (AttributeError, TypeError):  # a model that takes no attributes: no cache
        pass
    return adapter


def _pick(model: Any) -> type[ModelAdapter]:
    mro = type(model).__mro__
    if any(c.__module__.startswith("transformers.") for c in mro) and type(model).__name__.startswith("TF"):
        from .transformers_tf import TransformersTFAdapter

        return TransformersTFAdapter
    keras = sys.modules.get("keras")  # a Keras 3 model means Keras is already imported
    if keras is not None and isinstance(model, keras.Model):
        from .keras import KerasAdapter

        return KerasAdapter
    raise ValueError(
        "Expected a transformers TF model (with `get_input_embeddings()`) or a Keras 3 model "
        "with a token `Embedding` layer (keras-hub tasks included). "
        f"Received: model={type(model).__module__}.{type(model).__name__}"
    )


__all__ = [
    "Encoding",
    "HFTokenizer",
    "KerasHubTokenizer",
    "ModelAdapter",
    "OUTPUT_KINDS",
    "get_adapter",
    "wrap_tokenizer",
]
