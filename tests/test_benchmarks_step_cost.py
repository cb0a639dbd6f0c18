"""benchmarks/step_cost.py and benchmarks/remedies.py run end to end on tiny settings (no timings asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.large  # the benchmark scripts' smoke runs, in subprocesses (-m 'not large' skips them)

ROOT = Path(__file__).resolve().parents[1]


def test_step_cost_benchmark_smoke(tmp_path):
    """The logged step's parts add up to the measured step (within 10%): no big part goes unaccounted."""
    import json

    out, raw = tmp_path / "RESULTS.md", tmp_path / "steps.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_cost.py"), "--tiny", "--probes", "6",
                    "--configs", "demo", "--backends", "tensorflow", "--warm", "1", "--repeats", "1",
                    "--out", str(out), "--json", str(raw)], check=True, env=env, capture_output=True, timeout=600)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from step_cost import accounting

    (result,) = json.loads(raw.read_text())["steps"]
    assert accounting(result) <= 0.10
    assert {"gradient_norm pass", "integrated_gradients pass", "discovery", "delete-vs-mask", "faithfulness",
            "images", "payload", "writing"} <= set(result["warm"][0]["seconds"])
    assert "## Step cost" in out.read_text() and "| **logged step** |" in out.read_text()


def test_remedies_benchmark_quick(tmp_path):
    """benchmarks/remedies.py --quick: no remedy, the prior and augmentation on the real snippets' decoy."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import real_sentences

    if real_sentences.corpus_path() is None:
        pytest.skip(real_sentences.MISSING)
    runs = tmp_path / "runs.jsonl"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "remedies.py"), "--quick", "--runs", str(runs)],
                          check=True, env=env, capture_output=True, text=True, timeout=600)
    rows = [line for line in runs.read_text().splitlines() if line]
    assert len(rows) == 3 and "| decoy | prior input_gradient w=100 | 1 |" in done.stdout
