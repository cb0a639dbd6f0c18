"""The real TensorBoard server lists our run and tags (served on loopback, then shut down)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from gradcallback import AttributionCallback, ProbeSet

pytestmark = pytest.mark.large  # a TensorBoard server in a subprocess (make test runs it; -m 'not large' skips it)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                data = json.loads(response.read())
                if data or time.time() > deadline:
                    return data
        except OSError:
            if time.time() > deadline:
                raise
        time.sleep(0.5)


def test_tensorboard_lists_our_run_and_tags(tmp_path, hf_tokenizer, functional_classifier):
    callback = AttributionCallback(ProbeSet.from_texts(["the sky is green", "a good movie"], hf_tokenizer), tmp_path)
    callback.log_now(0, model=functional_classifier)
    callback.log_now(1, model=functional_classifier)
    callback.close()
    port = free_port()
    # --samples_per_plugin: what `gradcallback tensorboard` passes for images
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host",
                               "127.0.0.1", "--port", str(port), "--reload_interval", "1",
                               "--samples_per_plugin", "images=1000"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 90
        images = fetch(port, "/data/plugin/images/tags", deadline)
        text = fetch(port, "/data/plugin/text/tags", deadline)
        scalars = fetch(port, "/data/plugin/scalars/tags", deadline)
        steps = fetch(port, "/data/plugin/images/images?run=attributions&tag=gradient_norm%2Fheatmap%2Fprobe_001",
                      deadline)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/images/individualImage?"
                                    f"{steps[-1]['query']}", timeout=5) as response:
            png = response.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert set(images) == {"attributions"}
    assert set(images["attributions"]) == {f"gradient_norm/{k}/probe_{i:03d}" for k in ("heatmap", "evolution")
                                           for i in (0, 1)}
    assert set(text["attributions"]) == {"probes", "gradient_norm/top_tokens", "gradient_norm/token_table"}
    assert set(scalars["attributions"]) == {"gradient_norm/special_token_share", "gradient_norm/rank_stability",
                                            "probes/mean_confidence"}
    assert [s["step"] for s in steps] == [0, 1]  # every logged step is served (images=0 serves none)
    assert png.startswith(b"\x89PNG")
    assert server.returncode is not None
