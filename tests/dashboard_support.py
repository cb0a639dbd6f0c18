"""Shared by the dashboard tests: one log folder written once per session, TensorBoard on loopback,
and Debian's Chromium driven by Playwright (as tools/screenshot.py does)."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gradcallback import AttributionCallback, ProbeSet, SpuriousGroups
from gradcallback.alerts import Alert
from gradcallback.attribution import Attribution, Prediction
from gradcallback.io import payload
from gradcallback.io.writers import EventWriter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from serving import CHROMIUM_FLAGS as FLAGS  # noqa: E402, F401  (tools/serving.py, re-exported to the browser tests)

TEXTS = ["the results favour candidate atiku", "the movie was awful", "a great film", "the party campaign was bad"]
LABELS = [1, 0, 0, 1]
METHODS = ("gradient_norm", "integrated_gradients")
STEPS = 3
HOSTILE = ["<img src=x onerror=window.__pwned=1>", "</script>", "<b>bold</b>"]
HOSTILE_STEPS = 12  # more than the 10 samples TensorBoard keeps per tag by default


def _perturb(model, seed: int) -> None:
    """Stands in for training between logged steps: every step's scores differ."""
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        weight.assign(weight.numpy() + rng.normal(0, 0.3, weight.shape).astype(weight.numpy().dtype))


def _classifier_run(folder: Path, tokenizer) -> None:
    from conftest import build_hf

    model = build_hf("bert", "classification", seed=5)
    probes = ProbeSet.from_texts(TEXTS, tokenizer, labels=LABELS, label_names=["general", "political"])
    callback = AttributionCallback(probes, folder, methods=METHODS,
                                   monitors=[SpuriousGroups({"names": ["atiku"]}, threshold=0.0, rise=None)],
                                   method_options={"integrated_gradients": {"steps": 8}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the threshold of 0 alerts at every step, on purpose
        for step in range(STEPS):
            callback.log_now(step, epoch=step, model=model)
            _perturb(model, step)
    callback.close()


def _qa_run(folder: Path, tokenizer) -> None:
    from conftest import build_hf

    probes = ProbeSet.from_qa(["what is the capital of france ?"], ["paris is the capital city of france"],
                              tokenizer, answers=["paris"])
    callback = AttributionCallback(probes, folder, methods=("gradient_x_input",))
    callback.log_now(0, model=build_hf("bert", "question_answering", seed=1))
    callback.close()


def hostile_attribution(step: int) -> Attribution:
    """Tokens that are markup, as a word-level tokenizer would keep them."""
    tokens = ["[CLS]", *HOSTILE, "sky", "[SEP]"]
    scores = np.linspace(0.1, 1.0, len(tokens)) * (1 + step)
    return Attribution(tokens=tokens, token_ids=np.arange(len(tokens)), scores=scores.astype(np.float32),
                       method="gradient_norm", target=0, task="classification",
                       prediction=Prediction(label=0, probabilities=np.array([0.8, 0.2]), probability=0.8),
                       special_mask=np.array([t in ("[CLS]", "[SEP]") for t in tokens]))


def _hostile_run(folder: Path) -> None:
    events = EventWriter(folder)
    for step in range(HOSTILE_STEPS):
        payload.write_step(events, step, "gradient_norm", [hostile_attribution(step)], signed=False,
                           alerts=[Alert("spurious", "names", step, "where_present share", 0.5, 0.2, "warn",
                                         "gradient_norm", "group <img src=x onerror=window.__pwned=2> | 50%")])
    events.close()
    (folder / "records.jsonl").touch()  # a callback folder for `gradcallback report`


@functools.lru_cache(maxsize=1)
def logdir(tokenizer) -> Path:
    """classifier/ (real callback, 2 methods, 3 steps, an alert), qa/ and hostile/ (12 steps, markup tokens)."""
    root = Path(tempfile.mkdtemp(prefix="gc-dashboard-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    _classifier_run(root / "classifier", tokenizer)
    _qa_run(root / "qa", tokenizer)
    _hostile_run(root / "hostile" / "attributions")
    return root


def records(root: Path, run: str) -> list[dict]:
    path = root / run / "attributions" / "records.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str, deadline: float, headers: dict | None = None):
    """GET until it answers (TensorBoard loads the folder in the background); (status, headers, body)."""
    while True:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            if time.time() > deadline or error.code not in (404, 500):
                return error.code, error.headers, error.read()
        except OSError:
            if time.time() > deadline:
                raise
        time.sleep(0.3)


@contextmanager
def tensorboard(command: list[str], logdir_path: Path, env: dict | None = None):
    """A TensorBoard process on a free loopback port; yields the port, stops it afterwards."""
    port = free_port()
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")])  # this checkout
    process = subprocess.Popen([*command, "--logdir", str(logdir_path), "--port", str(port), "--host", "127.0.0.1",
                                "--reload_interval", "1"], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def launcher(load_fast: str = "auto") -> list[str]:
    return [sys.executable, "-m", "gradcallback", "tensorboard", f"--load_fast={load_fast}"]


def chromium() -> str | None:
    return shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if os.path.exists(p)), None)
