"""Load local Hugging Face checkpoints, with no torch and no network: into transformers TF classes, or
(BERT classifiers) into keras-hub's classes on any Keras backend.

transformers 4.x's TF loader cannot read a PyTorch-format `model.safetensors` without
torch installed; we read it with `safetensors.numpy` and hand the arrays to
transformers' own PyTorch->TF weight mapping.

A head the checkpoint lacks is drawn by `new_head` from a seed with NumPy, the same numbers
whichever loader and backend run: a bare encoder explained through transformers TF and through
keras-hub on JAX gets the same head, so the two give the same scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..validate import choice

TASK_CLASSES = {
    "classification": "TFAutoModelForSequenceClassification",
    "question_answering": "TFAutoModelForQuestionAnswering",
    "token_classification": "TFAutoModelForTokenClassification",
}


def load_pretrained(path: str | Path, task: str, num_labels: int | None = None, head_seed: int | None = None) -> Any:
    """A transformers TF model for `task` with the weights in the directory `path`.

    Reads `tf_model.h5` when present, else `model.safetensors` (PyTorch layout). Heads
    that the checkpoint lacks (e.g. a classifier on a sentence-embedding model) are
    newly initialized, as `from_pretrained` would do, or, with `head_seed`, drawn by `new_head`.
    """
    import transformers
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    choice("task", task, tuple(TASK_CLASSES))
    path = Path(path)
    auto = getattr(transformers, TASK_CLASSES[task])
    if task == "question_answering":
        num_labels = 2  # start and end logits, whatever the checkpoint's config says
    kwargs = {"num_labels": num_labels} if num_labels else {}
    if (path / "tf_model.h5").exists():
        return auto.from_pretrained(str(path), local_files_only=True, **kwargs)
    weights = path / "model.safetensors"
    if not weights.exists():
        raise ValueError(f"Expected tf_model.h5 or model.safetensors in the directory. Received: path={str(path)!r}")
    config = transformers.AutoConfig.from_pretrained(str(path), local_files_only=True, **kwargs)
    model = auto.from_config(config)
    model.build_in_name_scope()  # the weights from their shapes, as from_pretrained does: no forward pass
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, _with_model_prefix(weights, model.base_model_prefix), tf_inputs=False, allow_missing_keys=True,
        skip_logger_warnings=True, output_loading_info=True,
    )
    if head_seed is not None and info["missing_keys"]:
        _seed_missing(model, set(info["missing_keys"]), head_seed)
    return model


def _seed_missing(model: Any, missing: set[str], seed: int) -> None:
    """The weights the checkpoint lacked (named as PyTorch names them), drawn by `new_head` in model order."""
    from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

    weights = [w for w in model.weights if convert_tf_weight_name_to_pt_weight_name(
        w.name, start_prefix_to_remove="", tf_weight_shape=w.shape)[0] in missing]
    for weight, value in zip(weights, new_head([tuple(w.shape) for w in weights], seed,
                                               model.config.initializer_range)):
        weight.assign(value)


def new_head(shapes: Sequence[tuple[int, ...]], seed: int, stddev: float = 0.02) -> list[np.ndarray]:
    """Weights for a new task head, in order: kernels ([in, out]) from a normal distribution cut at two
    standard deviations (BERT's initializer, `initializer_range`), biases zero; from `seed`, with NumPy."""
    rng = np.random.default_rng(seed)
    values = []
    for shape in shapes:
        if len(shape) < 2:
            values.append(np.zeros(shape, np.float32))
            continue
        draw = rng.standard_normal(shape)
        while (outside := np.abs(draw) > 2).any():
            draw[outside] = rng.standard_normal(int(outside.sum()))
        values.append((draw * stddev).astype(np.float32))
    return values


def _with_model_prefix(weights: Path, prefix: str) -> dict:
    """State dict whose keys carry the base-model prefix (`bert.`), as task checkpoints do.

    A bare encoder checkpoint (sentence-transformers' BertModel) stores `embeddings...`.
    """
    from safetensors.numpy import load_file

    state = load_file(str(weights))
    if any(k.startswith(prefix + ".") for k in state):
        return state
    return {f"{prefix}.{k}": v for k, v in state.items()}


# model_type -> keras-hub (backbone, classifier) classes whose conversion from a Hugging Face folder gives
# transformers' scores (tests/test_cli_explain.py); other families load through transformers TF.
KERAS_HUB_CLASSIFIERS = {"bert": ("BertBackbone", "BertTextClassifier")}


def keras_hub_can_load(path: str | Path) -> bool:
    """Whether `load_keras_hub_classifier` reads this folder: a PyTorch-layout `model.safetensors` of a
    family in `KERAS_HUB_CLASSIFIERS`, and a `tokenizer.json` for the fast tokenizer."""
    path = Path(path)
    config = _config(path)
    return config.get("model_type") in KERAS_HUB_CLASSIFIERS and all(
        (path / name).exists() for name in ("model.safetensors", "tokenizer.json"))


def load_keras_hub_classifier(path: str | Path, head_seed: int = 0) -> tuple[Any, bool]:
    """(a keras-hub text classifier with no preprocessor, whether its head is new) from a Hugging Face
    folder, on the current Keras backend, without TensorFlow. The checkpoint's `classifier.*` weights
    are its head when present, else `new_head(seed)` draws one (the classes: `num_labels` of config.json).

    Building the model first initializes every weight with its random initializer: on JAX each shape
    compiles once, about 8 s for MiniLM on 2 cores, for numbers the checkpoint then overwrites. So the
    model is built inside a `keras.StatelessScope`, which defers initialization, and each variable gets
    its checkpoint value (or head) directly.
    """
    import keras
    import keras_hub

    path = Path(path)
    config = _config(path)
    backbone_name, classifier_name = KERAS_HUB_CLASSIFIERS[config.get("model_type")]
    classes = len(config.get("id2label") or {}) or 2  # transformers' default num_labels
    with keras.StatelessScope(initialize_variables=False) as scope:
        backbone = getattr(keras_hub.models, backbone_name).from_preset(str(path))
    _materialize(backbone, scope)
    # Outside the scope: the task compiles itself (an optimizer, whose variables a scope refuses).
    model = getattr(keras_hub.models, classifier_name)(backbone, num_classes=classes, preprocessor=None)
    head = [model.output_dense.kernel, model.output_dense.bias]
    stored = _stored_head(path, [tuple(v.shape) for v in head])
    values = stored or new_head([tuple(v.shape) for v in head], head_seed, config.get("initializer_range", 0.02))
    for variable, value in zip(head, values):
        variable.assign(value)
    return model, stored is None


def _stored_head(path: Path, shapes: list[tuple[int, ...]]) -> list[np.ndarray] | None:
    """The checkpoint's classifier kernel ([in, out], transposed from PyTorch's Linear) and bias, if it has them."""
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "np") as weights:
        if not {"classifier.weight", "classifier.bias"} <= set(weights.keys()):
            return None
        kernel, bias = weights.get_tensor("classifier.weight").T, weights.get_tensor("classifier.bias")
    if [kernel.shape, bias.shape] != shapes:
        raise ValueError(f"Expected a classifier of shapes {shapes} (num_labels in config.json). "
                         f"Received: classifier.weight {kernel.T.shape} in {path}")
    return [np.ascontiguousarray(kernel), bias]


def _materialize(model: Any, scope: Any) -> None:
    """Gives each variable built inside `scope` the value the scope recorded (the converter's `assign`s), else
    its own initializer; then takes them off Keras' list of variables still to initialize, which the next
    `StatelessScope` (every `stateless_call`) would otherwise initialize again, and fail on ("already
    initialized"). Keras has no public call for this; `global_state` is its own registry."""
    from keras.src.backend.common import global_state

    for variable in model.variables:
        value = scope.get_current_value(variable)
        variable.assign(variable._initializer(variable.shape, dtype=variable.dtype) if value is None else value)
    pending = global_state.get_global_attribute("uninitialized_variables")
    if pending:
        pending[:] = [v for v in pending if v._value is None]


def _config(path: Path) -> dict:
    file = path / "config.json"
    value = json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}
    return value if isinstance(value, dict) else {}
