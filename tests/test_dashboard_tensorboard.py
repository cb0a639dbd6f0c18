"""The Attributions plugin in a real TensorBoard on loopback, with both loaders (Python and the Rust
data server): listed as enabled, data routes serving the callback's values, every step kept, and
registration through the `tensorboard_plugins` entry point without a duplicate-name crash."""

from __future__ import annotations

import gzip
import json
import sys
import time
import urllib.parse

import numpy as np
import pytest
from dashboard_support import (
    HOSTILE,
    HOSTILE_STEPS,
    LABELS,
    METHODS,
    STEPS,
    TEXTS,
    get,
    hostile_attribution,
    launcher,
    logdir,
    records,
    tensorboard,
)

from gradcallback.io import payload


@pytest.fixture(scope="module")
def root(hf_tokenizer):
    return logdir(hf_tokenizer)


@pytest.fixture(scope="module", params=["false", "true"], ids=["python-loader", "rust-data-server"])
def server(request, root):
    with tensorboard(launcher(request.param), root) as port:
        yield port


def route(port: int, path: str, wait: float = 60, **params):
    """GET a plugin route as a browser does (gzip accepted), retrying for `wait` seconds while it is not there."""
    status, headers, body = get(port, f"/data/plugin/gradcallback/{path}?{urllib.parse.urlencode(params)}",
                                time.time() + wait, headers={"Accept-Encoding": "gzip"})
    return status, headers, body


def as_json(port: int, path: str, **params):
    status, headers, body = route(port, path, **params)
    assert status == 200, (path, status, body[:200])
    return json.loads(gzip.decompress(body) if headers.get("Content-Encoding") == "gzip" else body)


def test_plugin_is_listed_as_enabled(server):
    _, _, body = get(server, "/data/plugins_listing", time.time() + 60)
    listing = json.loads(body)["gradcallback"]
    assert listing["enabled"] is True and listing["tab_name"] == "Attributions"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/gradcallback/index.js"}


def test_runs_and_steps(server):
    runs = {r["run"]: [m["method"] for m in r["methods"]] for r in as_json(server, "runs")["runs"]}
    assert runs == {"classifier/attributions": list(METHODS), "hostile/attributions": ["gradient_norm"],
                    "qa/attributions": ["gradient_x_input"]}
    for method in METHODS:
        assert as_json(server, "steps", run="classifier/attributions", method=method) == {
            "steps": list(range(STEPS)), "alert_steps": [0],  # patience 1: the monitor alerted once, at step 0
            "alert_methods": {"0": ["integrated_gradients"]}}  # on the method it reads, whichever tab asks
    # 12 steps: more than the 10 samples per tag TensorBoard keeps unless told (the launcher's sampling flag)
    assert as_json(server, "steps", run="hostile/attributions", method="gradient_norm")["steps"] == list(
        range(HOSTILE_STEPS))


@pytest.mark.parametrize("step", [0, STEPS - 1])
def test_payload_holds_the_callbacks_values(server, root, step):
    status, headers, body = route(server, "payload", run="classifier/attributions", method="gradient_norm", step=step)
    assert status == 200 and headers["Content-Encoding"] == "gzip"  # stored compressed, sent as stored
    header, _ = payload.decode(gzip.decompress(body))
    probes = payload.probes(body)
    rows = [r for r in records(root, "classifier") if r["step"] == step and r["method"] == "gradient_norm"]
    assert header["step"] == step and header["signed"] is False and header["label_names"] == ["general", "political"]
    assert [p["label"] for p in probes] == LABELS and len(probes) == len(TEXTS)
    for probe, row in zip(probes, rows):
        assert probe["tokens"] == row["tokens"]
        want = np.asarray(row["scores"])
        np.testing.assert_allclose(probe["scores"], want, atol=1e-3 * np.abs(want).max())  # float16 precision
        assert probe["pred"] == row["prediction"]["label"]
        assert probe["prob"] == pytest.approx(row["prediction"]["probability"], abs=1e-4)
    name = [i for i, t in enumerate(probes[0]["tokens"]) if probes[0]["groups"][i] == ["names"]]
    assert [probes[0]["tokens"][i] for i in name] == ["at", "##ik", "##u"]  # the pieces of "atiku"
    if step == 0:  # with patience 1 the monitor alerts once, when the share first crosses the threshold
        assert header["alert_groups"] == ["names"] and header["alerts"][0]["tag"] == "spurious/alerts"
        assert "group 'names'" in header["alerts"][0]["text"] and header["alerts"][0]["subject"] == "names"
    else:
        assert header["alerts"] == [] and header["alert_groups"] == []


def test_payload_for_a_client_without_gzip_and_bad_requests(server):
    status, headers, body = get(server, "/data/plugin/gradcallback/payload?run=hostile%2Fattributions"
                                        "&method=gradient_norm&step=11", time.time() + 60)
    assert status == 200 and "Content-Encoding" not in headers and body[:4] == b"GCA1"
    (probe,) = payload.probes(body)
    assert probe["tokens"] == ["[CLS]", *HOSTILE, "sky", "[SEP]"]
    np.testing.assert_allclose(probe["scores"], hostile_attribution(11).scores, rtol=1e-3)
    for params, code in (({"step": "x"}, 400), ({"step": 99}, 404), ({"run": "nope", "step": 0}, 404),
                         ({"run": ""}, 400)):
        query = {"run": "hostile/attributions", "method": "gradient_norm", **params}
        assert route(server, "payload", wait=0, **query)[0] == code, params


def test_front_end_files_are_served_by_the_plugin(server):
    for name, kind in (("index.js", "text/javascript"), ("viewer.js", "text/javascript"), ("viewer.css", "text/css")):
        status, headers, body = get(server, f"/data/plugin/gradcallback/{name}", time.time() + 30)
        assert status == 200 and headers["Content-Type"].startswith(kind) and len(body) > 500
        assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.large
def test_entry_point_registration_and_the_launcher_beside_it(root, tmp_path):
    """A dist-info on the path registers the entry point, as `pip install` does: plain `tensorboard` shows
    the tab, and the launcher (which would add the plugin itself) does not register the name twice."""
    from importlib.metadata import entry_points

    if not any(e.name == "gradcallback" for e in entry_points(group="tensorboard_plugins")):
        info = tmp_path / "gradcallback_entry-0.0.dist-info"  # not installed with its metadata: stand in for it
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gradcallback-entry\nVersion: 0.0\n")
        (info / "entry_points.txt").write_text(
            "[tensorboard_plugins]\ngradcallback = gradcallback.dashboard:GradCallbackLoader\n")
    env = {"PYTHONPATH": str(tmp_path)}
    for command in ([sys.executable, "-m", "tensorboard.main"], launcher()):
        with tensorboard(command, root / "hostile", env=env) as port:
            status, _, body = get(port, "/data/plugins_listing", time.time() + 60)
            assert status == 200 and json.loads(body)["gradcallback"]["enabled"] is True, command
            steps = json.loads(get(port, "/data/plugin/gradcallback/steps?run=attributions&method=gradient_norm",
                                   time.time() + 60)[2])["steps"]
            assert steps and steps[-1] == HOSTILE_STEPS - 1

