"""Load local Hugging Face checkpoints into transformers TF classes, with no torch and no network.

transformers 4.x's TF loader cannot read a PyTorch-format `model.safetensors` without
torch installed; we read it with `safetensors.numpy` and hand the arrays to
transformers' own PyTorch->TF weight mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..validate import choice

TASK_CLASSES = {
    "classification": "TFAutoModelForSequenceClassification",
    "question_answering": "TFAutoModelForQuestionAnswering",
    "token_classification": "TFAutoModelForTokenClassification",
}


def load_pretrained(path: str | Path, task: str, num_labels: int | None = None) -> Any:
    """A transformers TF model for `task` with the weights in the directory `path`.

    Reads `tf_model.h5` when present, else `model.safetensors` (PyTorch layout). Heads
    that the checkpoint lacks (e.g. a classifier on a sentence-embedding model) are
    newly initialized, as `from_pretrained` would do.
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
    load_pytorch_state_dict_in_tf2_model(
        model, _with_model_prefix(weights, model.base_model_prefix), tf_inputs=False, allow_missing_keys=True,
        skip_logger_warnings=True,
    )
    return model


def _with_model_prefix(weights: Path, prefix: str) -> dict:
    """State dict whose keys carry the base-model prefix (`bert.`), as task checkpoints do.

    A bare encoder checkpoint (sentence-transformers' BertModel) stores `embeddings...`.
    """
    from safetensors.numpy import load_file

    state = load_file(str(weights))
    if any(k.startswith(prefix + ".") for k in state):
        return state
    return {f"{prefix}.{k}": v for k, v in state.items()}
