"""The benchmark scripts run end to end on a tiny model, so they cannot rot (no timings asserted).

One file per heavy smoke run or pair (test_benchmarks_*.py): `--dist loadfile` gives each file to one worker,
so split they run on both workers at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.large  # the benchmark scripts' smoke runs, in subprocesses (-m 'not large' skips them)

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_script_smoke(tmp_path):
    out = tmp_path / "RESULTS.md"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny", "--repeats", "1", "--out", str(out)],
                   check=True, env=env, capture_output=True, timeout=600)
    text = out.read_text()
    assert text.startswith("# Benchmark results") and "cores" in text
    for measure in ("faithfulness monitor, 32 probes", "speed-up of gradient_norm XLA over the seeds' method",
                    "gradient_norm XLA / training step",
                    "integrated_gradients 64 steps", "IG steps for |delta| <= 1% on every probe, riemann_middle",
                    "IG steps for |delta| <= 1% on every probe, adaptive clenshaw_curtis",
                    "render one heatmap image", "gradient_norm, 128 probes x 32 tokens",
                    "peak RSS: IG 64 probes x 64 steps, internal_batch_size=32", "callback overhead per epoch",
                    "time inside the callback per logged epoch"):
        assert f"| {measure}" in text, measure


def test_bounded_benchmark_smoke(tmp_path):
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bounded.py"), "--steps", "800", "--out", str(out)],
                   check=True, capture_output=True, timeout=600)
    assert "| event-file bytes per logged step |" in out.read_text()
