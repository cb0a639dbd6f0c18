"""keras.distribution.ModelParallel on 2 host devices (JAX): continuation attributions of a tiny Llama 3
equal the single-device ones, and one process writes. JAX-only, run from the default suite in a
subprocess (the 2 host devices must be asked for before JAX starts: XLA_FLAGS)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.large  # a JAX subprocess compiling a fit (make test runs it; -m 'not large' skips it)

JOB = Path(__file__).with_name("model_parallel_job.py")


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> dict:
    if importlib.util.find_spec("jax") is None:
        pytest.skip("ModelParallel here runs on Keras' JAX backend, and jax is not installed.")
    from llm_long import build_long_llama

    tmp = tmp_path_factory.mktemp("model_parallel")
    folder = build_long_llama(tmp / "llama", positions=64, kv_heads=2, even_vocab=True)  # 2 divides what is split
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_FLAGS="--xla_force_host_platform_device_count=2",
               TF_CPP_MIN_LOG_LEVEL="3", GRADCALLBACK_STRICT="1", CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(JOB.parent.parent), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, str(JOB), str(folder), str(tmp / "out.json"), str(tmp / "logs")],
                          env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("mesh", ["2x1", "1x2"])
def test_attributions_equal_single_device(job, mesh):
    """Sequence rows, per-token rows and scores within rtol 1e-4 of one device's (the job asserts each value)."""
    assert job["devices"] == 2
    assert job[mesh]["max_rel"] <= 1e-4
    vocab, hidden = job[mesh]["table"]
    assert len(job[mesh]["shards"]) == 1 and job[mesh]["shards"][0] != [vocab, hidden]  # the table is split


def test_one_process_writes(job):
    """Process 0 writes one event file and one records file for steps 0 and 1; process 1 explains the same
    steps (its compiled program is collective with process 0's) and leaves no file behind."""
    first, other = job["callback"], job["process1"]
    assert first["chief"] and other["chief"]
    assert first["steps"] == [0, 1] and len(other["steps"]) == 2  # the same callback's next fit: steps 0 and 2
    assert sum(f.startswith("attributions/events.out") for f in first["files"]) == 1
    assert sum(f.endswith("records.jsonl") for f in first["files"]) == 1
    assert other["files"] == [] and not other["scratch_left"]
