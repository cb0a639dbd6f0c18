"""Checkpoint folders for `gradcallback explain`: what a folder holds (from its files), and loading it.

A folder with a keras-hub `metadata.json` loads with keras-hub's `from_preset` (on the backend
in `KERAS_BACKEND`); any other folder with transformers TF (`adapters.pretrained.load_pretrained`,
the library's own loader, no torch). A head the folder lacks starts from a seed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

TASKS = ("classification", "question_answering", "token_classification", "causal_lm")
LOADERS = ("auto", "transformers", "keras-hub")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")
SAVED_BY = "a folder written by save_pretrained (transformers) or save_to_preset (keras-hub)"


class CommandError(Exception):
    """A user's mistake; the message says what to do."""


@dataclass
class Loaded:
    """A checkpoint folder, loaded: model, tokenizer, task, class names (None when they are placeholders), and
    the seed of a task head the folder lacked (None when the head was in the folder)."""

    model: Any
    tokenizer: Any
    task: str
    label_names: list[str] | None
    new_head_seed: int | None = None


def seed_new_heads(seed: int, loader: str) -> None:
    """Seeds whatever initializes a head the folder lacks, so that the same call gives the same numbers."""
    import keras

    keras.utils.set_random_seed(seed)  # Python, NumPy, TensorFlow and the Keras 3 backend (keras-hub)
    if loader == "transformers":  # transformers' TF layers are tf-keras's: once a tf-keras seed was set in this
        import tf_keras  # process, its unseeded initializers draw from tf-keras's own generator, not TF's

        tf_keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def torch_hidden(hide: bool) -> Iterator[None]:
    """USE_TORCH=0 for transformers' import (about 1.3 s of torch saved), unless the user set it; then unset."""
    added = hide and "USE_TORCH" not in os.environ
    if added:
        os.environ["USE_TORCH"] = "0"
    try:
        yield
    finally:
        if added:
            os.environ.pop("USE_TORCH", None)


def inspect_folder(folder: Path, task: str | None, loader: str) -> tuple[str, str]:
    """(loader, task) for a checkpoint folder, from its files alone (nothing is loaded yet)."""
    if not folder.is_dir():
        raise CommandError(f"--model {folder}: no such folder. Pass a local checkpoint folder, {SAVED_BY}")
    if task is not None and task not in TASKS:
        raise CommandError(f"unknown --task {task!r}: use one of {', '.join(TASKS)}")
    if loader not in LOADERS:
        raise CommandError(f"unknown --loader {loader!r}: use one of {', '.join(LOADERS)}")
    if not (folder / "config.json").exists():
        raise CommandError(f"--model {folder} has no config.json: pass {SAVED_BY}")
    hub = _read_json(folder / "metadata.json").get("keras_hub_version") is not None
    loader = ("keras-hub" if hub else "transformers") if loader == "auto" else loader
    found = head_of_folder(folder, loader)
    if task is None and found is None:
        names = _class_names(folder, loader)
        held = " / ".join(n for n in names if n) or "model"
        raise CommandError(f"{folder} holds a {held} without a task head: pass --task {' or '.join(TASKS)} "
                           "(the new head starts untrained)")
    task = task or found
    if task == "causal_lm":  # keras-hub's own converters read a Hugging Face causal-LM folder too
        return "keras-hub", task
    if loader == "keras-hub" and task != "classification":
        raise CommandError(f"keras-hub loading here covers text classifiers and causal LMs only: use --loader "
                           f"transformers for a {task} model")
    return loader, task


def head_of_folder(folder: Path, loader: str) -> str | None:
    """The task whose head the folder's weights hold, from its class names (None: a bare encoder)."""
    from ..adapters.base import task_from_class_name

    return next((t for t in map(task_from_class_name, _class_names(folder, loader)) if t), None)


def _class_names(folder: Path, loader: str) -> list[str]:
    if loader == "keras-hub":
        return [_read_json(folder / "task.json").get("class_name", "")]
    return _read_json(folder / "config.json").get("architectures") or []


def _read_json(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise CommandError(f"{path} is not valid JSON: is the folder complete?") from None
    return value if isinstance(value, dict) else {}


def load_transformers(folder: Path, task: str) -> Loaded:
    """A transformers TF model and its tokenizer, with no torch and no download."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder, never a download
    from transformers import AutoTokenizer

    from ..adapters.pretrained import load_pretrained

    if not any((folder / name).exists() for name in TOKENIZER_FILES):
        raise CommandError(f"--model {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}): "
                           f"save the tokenizer there too, tokenizer.save_pretrained({str(folder)!r})")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = load_pretrained(folder, task)
    names = ([str(model.config.id2label[i]) for i in sorted(model.config.id2label)]
             if task != "question_answering" else [])
    generic = all(re.fullmatch(r"LABEL_\d+", n) for n in names)  # transformers' placeholders say nothing
    return Loaded(model, tokenizer, task, None if generic else names)


def load_keras_hub(folder: Path, task: str) -> Loaded:
    """A keras-hub text classifier from a preset folder (or a Hugging Face folder: a new 2-class head), or a
    causal LM from either kind of folder."""
    import keras_hub

    if task == "causal_lm":
        model = keras_hub.models.CausalLM.from_preset(str(folder))
        return Loaded(model, model.preprocessor, task, None)

    if (folder / "task.json").exists():
        model = keras_hub.models.TextClassifier.from_preset(str(folder))
    else:
        model = keras_hub.models.TextClassifier.from_preset(str(folder), num_classes=2)
    return Loaded(model, model.preprocessor, task, None)
