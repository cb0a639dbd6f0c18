"""tf.distribute: MirroredStrategy over 2 logical CPUs, MultiWorkerMirroredStrategy with 2 worker
processes on loopback. The chief alone explains and writes; weights are unchanged by the callback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_callback import read_events

pytestmark = pytest.mark.large  # multi-process TensorFlow jobs (make test runs it; -m 'not large' skips it)

JOB = Path(__file__).with_name("distributed_job.py")


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(mode: str, out: Path, log_dir: Path, tf_config: dict | None = None) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", GRADCALLBACK_STRICT="1", CUDA_VISIBLE_DEVICES="")
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, str(JOB), mode, str(out), str(log_dir)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, out: Path) -> dict:
    output, _ = process.communicate(timeout=400)
    assert process.returncode == 0, output[-4000:]
    return json.loads(out.read_text())


def test_mirrored_strategy_two_devices(tmp_path):
    result = finish(start("mirrored", tmp_path / "out.json", tmp_path / "logs"), tmp_path / "out.json")
    assert result["with"] == result["without"]  # the callback does not change training
    assert result["chief"] and result["steps"] == [0, 1, 2]
    events = read_events(tmp_path / "logs" / "attributions")
    assert events["images"]["gradient_norm/heatmap/probe_001"] == [0, 1, 2]  # once per step: no duplicates
    assert events["images"]["integrated_gradients/heatmap/probe_000"] == [0, 1, 2]
    assert sum(f.startswith("attributions/events.out") for f in result["files"]) == 1


def test_multi_worker_only_the_chief_writes(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = [start("multiworker", tmp_path / f"out{i}.json", tmp_path / f"logs{i}",
                     {"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(2)]
    chief, other = [finish(w, tmp_path / f"out{i}.json") for i, w in enumerate(workers)]
    assert chief["chief"] and not other["chief"]
    assert chief["with"] == chief["without"] == other["with"]  # same weights everywhere, callback or not
    assert other["files"] == []  # the other worker wrote nothing, not even a scratch folder
    assert chief["steps"] == [0, 1, 2]
    assert sum(f.endswith("records.jsonl") for f in chief["files"]) == 1
    events = read_events(tmp_path / "logs0" / "attributions")
    assert events["images"]["gradient_norm/heatmap/probe_000"] == [0, 1, 2]
