"""Checkpoint folders for `gradcallback explain`: what a folder holds (from its files), and loading it.

A folder with a keras-hub `metadata.json` loads with keras-hub's `from_preset` (on the backend
in `KERAS_BACKEND`). A Hugging Face BERT classifier folder (`model.safetensors`, `tokenizer.json`)
loads with keras-hub on JAX when the user set no `KERAS_BACKEND` (or set jax) and jax is installed:
the quick path (`quick_backend`), about half the time of transformers TF, whose import alone takes
longer than the whole quick path. Any other folder loads with transformers TF
(`adapters.pretrained.load_pretrained`, the library's own loader, no torch), as does `--loader
transformers` always. A head the folder lacks starts from a seed, the same head on either path.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..adapters.pretrained import keras_hub_can_load  # NumPy only: no framework yet

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
    loader: str = "transformers"  # what loaded it, and on which backend (the output says)
    backend: str = "tensorflow"
    options: dict = field(default_factory=dict)  # engine options the loader knows (`explain(**options)`)


def seed_new_heads(seed: int, loader: str) -> None:
    """Seeds whatever initializes a head the folder lacks, so that the same call gives the same numbers."""
    import keras

    keras.utils.set_random_seed(seed)  # Python, NumPy, TensorFlow and the Keras 3 backend (keras-hub)
    if loader == "transformers":  # transformers' TF layers are tf-keras's: once a tf-keras seed was set in this
        import tf_keras  # process, its unseeded initializers draw from tf-keras's own generator, not TF's

        tf_keras.utils.set_random_seed(seed)


def quick_backend(folder: Path, task: str) -> str | None:
    """"jax" when `--loader auto` takes the quick path for this folder: a classifier keras-hub converts
    (`adapters.pretrained.keras_hub_can_load`) and Keras on JAX: the backend of the Keras this process
    already imported, else KERAS_BACKEND, else (the user chose none) JAX when it is installed. Else None."""
    keras = sys.modules.get("keras")
    if keras is not None:
        backend = keras.backend.backend()  # chosen for this process when Keras was imported
    else:
        backend = os.environ.get("KERAS_BACKEND") or ("jax" if importlib.util.find_spec("jax") else None)
    return "jax" if backend == "jax" and task == "classification" and keras_hub_can_load(folder) else None


@contextlib.contextmanager
def tensorflow_hidden(backend: str | None) -> Iterator[None]:
    """For the quick path: `import tensorflow` failing as if it were not installed, KERAS_BACKEND=`backend`
    if the user set none and Keras is not imported yet, and `compilation_cache()` if jax is not imported yet,
    while inside (then all restored); a no-op for None or once TensorFlow is imported.

    keras-hub imports TensorFlow whenever it is installed (about 5 s on 2 cores here), though a JAX model
    and the Rust tokenizer never use it. Only this command's process does this, for its own load and
    explanation: importing gradcallback never hides anything.
    """
    hide = backend is not None and "tensorflow" not in sys.modules
    choose = hide and "keras" not in sys.modules and "KERAS_BACKEND" not in os.environ
    cache = compilation_cache() if hide and "jax" not in sys.modules else {}
    if choose:
        os.environ["KERAS_BACKEND"] = backend  # read once, when Keras is imported
    os.environ.update(cache)  # read once, when jax is imported
    if hide:  # also on a later call in the same process: Keras' set_random_seed imports TensorFlow if it can
        sys.modules["tensorflow"] = None  # `import tensorflow` now raises ImportError
    try:
        yield
    finally:
        if hide and sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]
        for name in ["KERAS_BACKEND"] * choose + list(cache):
            os.environ.pop(name, None)


def compilation_cache() -> dict[str, str]:
    """JAX's persistent compilation cache for the quick path, as the environment variables jax reads when
    imported: `$XDG_CACHE_HOME/gradcallback/jax` (~/.cache/...), programs that took over 0.2 s to compile.

    Compiling the gradient is the largest part of one call (MiniLM: about 3.3 s of 8.3, for 0.04 s of work);
    the next call with the same padded shape reads it back (1.3 s). A few hundred KB. None when the user
    set JAX_COMPILATION_CACHE_DIR or JAX_ENABLE_COMPILATION_CACHE (false turns it off)."""
    if {"JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE"} & set(os.environ):
        return {}
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return {"JAX_COMPILATION_CACHE_DIR": str(root / "gradcallback" / "jax"),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.2"}


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
    auto, loader = loader == "auto", ("keras-hub" if hub else "transformers") if loader == "auto" else loader
    found = head_of_folder(folder, loader)
    if task is None and found is None:
        names = _class_names(folder, loader)
        held = " / ".join(n for n in names if n) or "model"
        raise CommandError(f"{folder} holds a {held} without a task head: pass --task {' or '.join(TASKS)} "
                           "(the new head starts untrained)")
    task = task or found
    if task == "causal_lm":  # keras-hub's own converters read a Hugging Face causal-LM folder too
        return "keras-hub", task
    if auto and not hub and quick_backend(folder, task):
        loader = "keras-hub"
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


def load_transformers(folder: Path, task: str, seed: int = 0) -> Loaded:
    """A transformers TF model and its tokenizer, with no torch and no download; a head a `model.safetensors`
    lacks is `adapters.pretrained.new_head(seed)`, as on the keras-hub path."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder, never a download
    from transformers import AutoTokenizer

    from ..adapters.pretrained import load_pretrained

    if not any((folder / name).exists() for name in TOKENIZER_FILES):
        raise CommandError(f"--model {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}): "
                           f"save the tokenizer there too, tokenizer.save_pretrained({str(folder)!r})")
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = load_pretrained(folder, task, head_seed=seed)
    names = _label_names(model.config.id2label) if task != "question_answering" else None
    return Loaded(model, tokenizer, task, names)


def load_keras_hub(folder: Path, task: str, seed: int = 0) -> Loaded:
    """A keras-hub text classifier from a preset folder, or from a Hugging Face folder (the quick path for
    the families `adapters.pretrained` converts, its tokenizer through `tokenizers`; else a new 2-class head
    and keras-hub's own preprocessor), or a causal LM from either kind of folder."""
    import keras
    import keras_hub

    backend = keras.backend.backend()
    if task == "causal_lm":
        model = keras_hub.models.CausalLM.from_preset(str(folder))
        return Loaded(model, model.preprocessor, task, None, loader="keras-hub", backend=backend)
    if (folder / "task.json").exists():
        model = keras_hub.models.TextClassifier.from_preset(str(folder))
    elif keras_hub_can_load(folder):
        from ..adapters.pretrained import load_keras_hub_classifier
        from ..adapters.rust_tokenizer import tokenizer_from_folder

        model, _ = load_keras_hub_classifier(folder, seed)
        names = _label_names(_read_json(folder / "config.json").get("id2label") or {})
        return Loaded(model, tokenizer_from_folder(folder), task, names, loader="keras-hub", backend=backend,
                      options={"output": "logits"})  # its head has no activation: no need to probe for one
    else:
        model = keras_hub.models.TextClassifier.from_preset(str(folder), num_classes=2)
    return Loaded(model, model.preprocessor, task, None, loader="keras-hub", backend=backend)


def _label_names(id2label: dict) -> list[str] | None:
    """Class names by index, or None when they are transformers' placeholders (LABEL_0, ...), which say nothing."""
    names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    return None if all(re.fullmatch(r"LABEL_\d+", n) for n in names) else names
