"""benchmarks/backends.py runs end to end on a tiny model on every backend (no timings asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.large  # the benchmark scripts' smoke runs, in subprocesses (-m 'not large' skips them)

ROOT = Path(__file__).resolve().parents[1]


def test_backends_benchmark_smoke(tmp_path):
    """Every backend's process runs the engine and a fit with the callback (tiny keras-hub BERT)."""
    out = tmp_path / "RESULTS.md"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "backends.py"), "--tiny", "--repeats", "1",
                    "--out", str(out)], check=True, env=env, capture_output=True, timeout=600)
    text = out.read_text()
    assert "## Backends" in text and all(f"| {b} | " in text for b in ("tensorflow", "jax", "torch"))
