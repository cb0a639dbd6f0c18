"""Adapter for Keras 3 models on any backend: keras-hub tasks and any model with a token `Embedding`.

Like Captum's layer attributions, it intercepts the token embedding layer: while an
attribution runs (`attached()`), the layer instance's `call` returns the embeddings we
pass in instead of looking them up itself; the override is removed afterwards. A final
softmax or sigmoid (a Dense activation, or a Softmax/Activation layer) is bypassed the
same way, so the pre-activation logit is explained and probabilities come out exact.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any, Iterator

import keras
import numpy as np

from .base import ModelAdapter, task_from_class_name
from .outputs import final_activation, standard_outputs


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
    layers = [layer for layer in _all_layers(model) if isinstance(layer, keras.layers.Embedding)]
    if isinstance(embedding_layer, keras.layers.Layer):
        return embedding_layer
    if isinstance(embedding_layer, str):
        named = [layer for layer in layers if layer.name == embedding_layer]
        if not named:
            raise ValueError(
                f"No Embedding layer named {embedding_layer!r}; found {[layer.name for layer in layers]}. "
                f"Received: embedding_layer={embedding_layer!r}"
            )
        return named[0]
    backbone_token = getattr(getattr(model, "backbone", None), "token_embedding", None)
    if isinstance(backbone_token, keras.layers.Embedding):
        return backbone_token
    if not layers:
        raise ValueError(
            "Expected a Keras model with a token `keras.layers.Embedding` layer (or pass "
            f"`embedding_layer=`). Received: model={type(model).__name__} with layers "
            f"{[type(layer).__name__ for layer in getattr(model, 'layers', [])][:8]}"
        )
    return max(layers, key=lambda layer: layer.input_dim)


class _Patch:
    """Replaces one layer instance's `call` while installed; restores whatever was there before."""

    def __init__(self, layer: Any, make_call: Any):
        self.layer, self.make_call, self.previous = layer, make_call, None

    def install(self) -> None:
        self.previous = self.layer.__dict__.get("call")  # another adapter's patch, or None
        object.__setattr__(self.layer, "call", self.make_call(self.layer.call))  # outside Keras tracking

    def remove(self) -> None:
        if self.previous is None:
            object.__delattr__(self.layer, "call")
        else:
            object.__setattr__(self.layer, "call", self.previous)


class KerasAdapter(ModelAdapter):
    """Drives a Keras 3 model by patching its token `Embedding` layer (and any final activation) while attached.

    `embedding_layer` picks the layer (an instance or a name) when the model has several; `output`
    is "auto", "logits" or "probabilities" (see `OUTPUT_KINDS`).
    """

    @staticmethod
    def matches(model: Any) -> bool:
        """True for any `keras.Model`."""
        return isinstance(model, keras.Model)

    def __init__(self, model: Any, embedding_layer: Any = None, output: str = "auto"):
        super().__init__(model, output=output)
        self.backend = keras.backend.backend()
        self.layer = find_token_embedding(model, embedding_layer)
        self._override = threading.local()
        self._input_roles = _input_roles(model)
        self._final = final_activation(model) if output == "auto" else None  # (layer, "softmax"|"sigmoid")
        self.output_kind = output if output != "auto" else "logits"
        self._probed, self._depth = output != "auto", 0
        self._patches = [_Patch(self.layer, self._embedding_call)]
        if self._final is not None:
            self._patches.append(_Patch(self._final[0], _bypass_activation))

    def _embedding_call(self, original: Any) -> Any:
        def call(inputs, *args, **kwargs):
            value = getattr(self._override, "value", None)
            if value is not None and not kwargs.get("reverse", False):
                return value
            return original(inputs, *args, **kwargs)

        return call

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """While inside, the embedding layer returns the embeddings `forward` passes and a final activation is bypassed.

        Reentrant: the patches go in on the outermost entry and come out on its exit. The first entry also
        checks once whether a classifier's outputs are probabilities.
        """
        if self._depth == 0:
            for patch in self._patches:
                patch.install()
        self._depth += 1
        try:
            self._probe_outputs()
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                for patch in reversed(self._patches):
                    patch.remove()

    def embedding_matrix(self) -> np.ndarray:
        """The embedding layer's current weights as float32 numpy, [vocab, hidden]."""
        return np.asarray(keras.ops.convert_to_numpy(self.layer.embeddings), np.float32)

    @property
    def embedding_shape(self) -> tuple[int, int]:
        """(input_dim, output_dim) of the embedding layer."""
        return int(self.layer.input_dim), int(self.layer.output_dim)

    def word_embeddings(self, ids: np.ndarray, matrix: np.ndarray | None = None) -> np.ndarray:
        """E[ids] as float32 [N, T, H], gathered on the backend so E is never copied whole.

        `matrix`: a copy of E the caller already holds, to take the rows from instead.
        """
        if matrix is not None:
            return super().word_embeddings(ids, matrix)
        rows = keras.ops.take(self.layer.embeddings, keras.ops.convert_to_tensor(np.asarray(ids, np.int32)), axis=0)
        return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(rows, "float32")))  # no full copy of E

    def embedding_lookup(self, ids: Any) -> Any:
        """E[ids] [N, T, H] on the backend, differentiable with respect to E (inside JAX's stateless
        scope the variable reads as the trainer's traced value)."""
        rows = keras.ops.take(self.layer.embeddings, keras.ops.cast(ids, "int32"), axis=0)
        return keras.ops.cast(rows, "float32")

    def sync(self) -> None:
        """Writes the JAX trainer's weights back into the variables, if it holds them apart.

        Mid-epoch, Keras' JAX trainer holds the weights apart from the variables (purged); Keras'
        own Callback.model property syncs them the same way before a callback reads them.
        """
        sync = getattr(self.model, "jax_state_sync", None)
        if callable(sync):
            sync()

    def state(self) -> Any:
        """(trainable, non-trainable) variable values for `stateless_call` on JAX; None on other backends."""
        if self.backend != "jax":
            return None
        return ([v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables])

    def forward(self, embeds: Any, ids: Any, mask: Any, segment_ids: Any, state: Any = None) -> dict[str, Any]:
        """Runs the model on `embeds` in place of its own lookup, feeding each named input its ids, mask or segments.

        Must be called inside `attached()`. With `state`, runs `stateless_call` (JAX).
        """
        by_role = {"ids": ids, "mask": mask, "segments": segment_ids}
        inputs = ids if self._input_roles is None else {n: by_role[r] for n, r in self._input_roles.items()}
        self._override.value = keras.ops.cast(embeds, self.layer.compute_dtype)
        try:
            if state is None:
                outputs = self.model(inputs, training=False)
            else:
                outputs, _ = self.model.stateless_call(state[0], state[1], inputs, training=False)
        finally:
            self._override.value = None
        return standard_outputs(outputs, self.output_kind)

    def _probe_outputs(self) -> None:
        """Once: with no final activation to bypass, check whether a classifier's outputs are
        probabilities (non-negative rows summing to 1), and if so explain those, with a warning."""
        if self._probed or self._final is not None or self.detect_task() != "classification":
            return
        self._probed = True
        self.sync()
        ids = np.ones((1, 4), np.int32)
        by_role = {"ids": ids, "mask": np.ones_like(ids), "segments": np.zeros_like(ids)}
        inputs = ids if self._input_roles is None else {n: by_role[r] for n, r in self._input_roles.items()}
        out = keras.ops.convert_to_numpy(self.model(inputs, training=False))
        if out.ndim == 2 and out.shape[1] > 1 and (out >= 0).all() \
                and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
            self.output_kind = "probabilities"
            warnings.warn("The model's outputs are probabilities and its logits cannot be reached: explaining "
                          "the probability of each class. Pass output='logits' or 'probabilities' to say so.",
                          stacklevel=4)

    def describe_output(self) -> str:
        """"logit", "probability", or the logit before the final activation that `attached()` bypasses."""
        if self._final is not None:
            return f"logit before the model's final {self._final[1]}"
        return "probability" if self.output_kind == "probabilities" else "logit"

    def detect_task(self) -> str | None:
        """The task from the model's class name (keras-hub), else from the number and ranks of its outputs."""
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
        """The backbone's `max_sequence_length`, else the shortest fixed sequence length of the model's inputs."""
        backbone = getattr(self.model, "backbone", None)
        limit = getattr(backbone, "max_sequence_length", None)
        if limit:
            return int(limit)
        inputs = getattr(self.model, "inputs", None) or []
        lengths = [i.shape[1] for i in inputs if len(i.shape) >= 2 and i.shape[1]]
        return int(min(lengths)) if lengths else None


def _bypass_activation(original: Any) -> Any:
    """A final Softmax/Activation layer's call becomes the identity; a Dense's activation is skipped."""
    layer = original.__self__
    if not hasattr(layer, "kernel"):
        return lambda inputs, *args, **kwargs: inputs

    def call(inputs, *args, **kwargs):
        activation, layer.activation = layer.activation, keras.activations.linear
        try:
            return original(inputs, *args, **kwargs)
        finally:
            layer.activation = activation

    return call


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
