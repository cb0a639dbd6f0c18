"""The dashboard's payload (what one logged step costs and holds), its safe entry point and launcher,
and the offline report embedding the same viewer."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from dashboard_support import ROOT, logdir, records

from gradcallback.alerts import Alert
from gradcallback.attribution import Attribution, Prediction
from gradcallback.dashboard import PLUGIN_NAME, GradCallbackLoader, assets
from gradcallback.dashboard.launcher import SAMPLING, plugins_with_ours, tensorboard_argv
from gradcallback.io import payload

TOKENS = ["[CLS]", "at", "##ik", "##u", "won", "the", "vote", "[SEP]"]


def attribution(tokens=TOKENS, scores=None, **kwargs) -> Attribution:
    scores = np.linspace(-1, 1, len(tokens)) if scores is None else scores
    return Attribution(tokens=list(tokens), token_ids=np.arange(len(tokens)), scores=np.asarray(scores, np.float32),
                       method="gradient_x_input", target=kwargs.pop("target", 1),
                       prediction=kwargs.pop("prediction", Prediction(label=1, probability=0.75)),
                       special_mask=np.array([t.startswith("[") for t in tokens]), **kwargs)


VOTES = Alert(monitor="watch", subject="votes", step=4, statistic="where_present share", value=0.5, limit=0.25,
              action="warn", method="integrated_gradients", message="group 'votes' holds 50.0% <b> &lt;i&gt;")
NOTE = Alert(monitor="discovery", subject=None, step=4, statistic="delete-vs-mask gap", value=0.3, limit=0.1,
             action="note", method="gradient_norm", message="Deleting a token moves the prediction")


def test_payload_round_trip_with_groups_words_and_alerts():
    blob = payload.build(4, "gradient_x_input", [attribution(), attribution(TOKENS[:2] + TOKENS[-1:])],
                         signed=True, label_names=["general", "political"], labels=[0, 1],
                         groups={"names": frozenset({"atiku"}), "votes": re.compile("^vote$")}, alerts=[VOTES, NOTE])
    header, arrays = payload.decode(blob)
    assert blob[:2] == b"\x1f\x8b" and header["step"] == 4 and header["signed"] is True
    first, second = payload.probes(blob)
    assert first["tokens"] == TOKENS and second["tokens"] == ["[CLS]", "at", "[SEP]"]
    assert list(first["flags"]) == [3, 1, 0, 0, 1, 1, 1, 3]  # word starts (1), special tokens (2)
    assert first["groups"][1:4] == [["names"]] * 3 and first["groups"][6] == ["votes"] and first["groups"][4] == []
    assert second["groups"][1] == []  # "at" alone is not the word "atiku"
    np.testing.assert_allclose(first["scores"], np.linspace(-1, 1, 8), atol=1e-3)
    assert (first["label"], first["pred"], first["prob"], first["target"]) == (0, 1, 0.75, 1)
    assert (first["correct"], second["correct"]) == (False, True)  # predicted 1 for both; labels 0, 1
    assert header["alerts"][0] == {
        "monitor": "watch", "subject": "votes", "step": 4, "statistic": "where_present share", "value": 0.5,
        "limit": 0.25, "action": "warn", "method": "integrated_gradients", "tag": "watch/alerts",
        "message": "group 'votes' holds 50.0% <b> &lt;i&gt;", "text": "group 'votes' holds 50.0% <b> &lt;i&gt;"}
    assert [Alert.from_dict(a) for a in header["alerts"]] == [VOTES, NOTE]  # as given, never unescaped
    assert header["alert_groups"] == ["votes"]  # a monitor named "watch": its group, from the subject
    assert header["vocab"].count("[CLS]") == 1 and arrays["tokens"].dtype == np.uint16  # tokens stored once
    assert payload.header(blob) == header  # read without decompressing the arrays


def test_tiny_and_huge_scores_keep_three_significant_digits():
    scores = np.array([1e-7, -3e-6, 2.5e-7, 0.0, 1e-9, 4e-6, 2e-6, 1e-6]), np.array([9e5, -2e5, 1, 0, 0, 0, 0, 0])
    blob = payload.build(0, "m", [attribution(scores=s) for s in scores], signed=True)
    for probe, want in zip(payload.probes(blob), scores):
        np.testing.assert_allclose(probe["scores"], want, atol=1e-3 * np.abs(want).max(), rtol=0)
        assert probe["scores"][np.argmax(np.abs(want))] == pytest.approx(want[np.argmax(np.abs(want))], rel=1e-3)


def test_question_answering_split_span_and_answer():
    tokens = ["[CLS]", "capital", "?", "[SEP]", "paris", "is", "nice", "[SEP]"]
    qa = attribution(tokens, task="question_answering", target=(4, 4), segment_ids=np.array([0] * 4 + [1] * 4),
                     prediction=Prediction(answer="paris", span=(4, 4), probability=0.5))
    (probe,) = payload.probes(payload.build(0, "m", [qa], signed=True, labels=["Paris"]))
    assert [bool(f & payload.SECOND) for f in probe["flags"]] == [False] * 4 + [True] * 4
    assert (probe["span"], probe["answer"], probe["label"], probe["target"]) == ([4, 4], "paris", "Paris", [4, 4])
    assert probe["correct"] is True  # the answer text, case aside, is the labelled one


def test_correct_is_computed_once_per_task_and_null_without_a_label():
    def probe(task, prediction, label, **kw):
        blob = payload.build(0, "m", [attribution(task=task, prediction=prediction, **kw)], signed=True,
                             labels=None if label is None else [label])
        return payload.probes(blob)[0]["correct"]

    # causal LM: the predicted next token (a BPE piece) against the target text; the view compared ids with text
    mat = Prediction(label=7, answer="Ġmat", probability=0.4)
    assert probe("causal_lm", mat, " mat", target=(7, 7)) is True
    assert probe("causal_lm", mat, " cat", target=(7, 7)) is False
    # BPE question answering: the span's text from the offsets, compared without case or extra spaces
    span = Prediction(answer="Paris  France", span=(4, 5), probability=0.3)
    assert probe("question_answering", span, "paris france", target=(4, 5)) is True
    assert probe("question_answering", span, "paris", target=(4, 5)) is False
    assert probe("classification", Prediction(label=2, probability=0.5), None) is None
    assert probe("classification", Prediction(label=2, probability=0.5), 2) is True


def test_bytes_per_logged_step():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(3000)]

    def step(n):
        atts = [attribution(["[CLS]", *rng.choice(words, 28), "[SEP]"], rng.normal(size=30)) for _ in range(n)]
        return len(payload.build(0, "m", atts, signed=True, labels=[0] * n, groups={"g": frozenset(words[:50])}))

    small, large = step(32), step(1000)
    assert small < 8_000 and large < 5 * 1000 * 30  # under 5 bytes a token (30 a probe), all included
    assert large > 15 * small  # per-probe data, not a fixed cost


def test_alert_groups_hold_only_subjects_that_are_groups_and_alert_methods_name_the_methods():
    groups = {"names": frozenset({"atiku"}), "votes": frozenset({"vote"})}
    token = Alert("vocabulary", "atiku", 2, "embedding moved since train begin", 0.0, 0.0, "warn", "gradient_norm",
                  "Added token 'atiku' has not moved")
    quiet, noted, both = (payload.build(s, "m", [attribution()], signed=True, groups=groups, alerts=a)
                          for s, a in ((1, []), (2, [token]), (4, [VOTES, NOTE])))
    assert payload.header(noted)["alert_groups"] == [] and payload.header(both)["alert_groups"] == ["votes"]
    assert payload.alert_methods({1: quiet, 2: noted, 4: both}) == {2: ["gradient_norm"],
                                                                    4: ["gradient_norm", "integrated_gradients"]}


def test_entry_point_module_imports_nothing_heavy():
    code = ("import sys, gradcallback.dashboard as d; loaded = [m for m in ('tensorflow', 'keras', 'numpy', "
            "'transformers', 'gradcallback.callback') if m in sys.modules]; print(loaded, d.GradCallbackLoader)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.startswith("[] <class 'gradcallback.dashboard.GradCallbackLoader'>")


def test_loader_builds_the_plugin_and_a_failing_import_is_contained(monkeypatch):
    from tensorboard.plugins import base_plugin

    context = base_plugin.TBContext(data_provider=object(), sampling_hints={})
    assert GradCallbackLoader().load(context).plugin_name == PLUGIN_NAME
    monkeypatch.setitem(sys.modules, "gradcallback.dashboard.plugin", None)  # the import now raises
    assert GradCallbackLoader().load(context) is None  # TensorBoard goes on without the tab


def test_launcher_registers_each_plugin_name_once():
    from tensorboard import default

    core = default.get_static_plugins()
    assert plugins_with_ours(core)[-1] is GradCallbackLoader
    doubled = plugins_with_ours(core + [GradCallbackLoader, GradCallbackLoader])  # a stale egg-info, say
    assert sum(getattr(p, "plugin_name", None) == PLUGIN_NAME for p in doubled) == 1
    assert len(doubled) == len(core) + 1
    argv = tensorboard_argv("runs/x", 7007, "0.0.0.0", ["--load_fast=false"])
    assert argv[1:] == ["--logdir", "runs/x", "--samples_per_plugin", SAMPLING, "--port", "7007", "--host", "0.0.0.0",
                        "--load_fast=false"]


def test_front_end_never_parses_user_text_as_html():
    for name in assets.STATIC:
        text = assets.static_text(name)
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", text), name
        assert not re.search(r"https?://", text), name  # nothing from a CDN
    code = assets.bundle()
    assert "function mount(" in code and "function inlineSource(" in code and not re.search(r"^import ", code, re.M)


def test_report_embeds_the_viewer_with_the_runs_data(hf_tokenizer, tmp_path):
    from gradcallback.cli.main import main

    root = logdir(hf_tokenizer)
    out = tmp_path / "report.html"
    assert main(["report", str(root), "--html", str(out)]) == 0
    page = out.read_text(encoding="utf-8")
    blobs = re.findall(r'<script type="application/json" id="(gc-viewer-\w+)-data">(.*?)</script>', page, re.S)
    assert len(blobs) == 3 and page.count('<script type="module">') == 3
    assert "</script" not in blobs[0][1] and "<img" not in page.split("<h2>Per logged step</h2>")[0]
    import base64
    import json

    data = json.loads(blobs[0][1])["runs"][0]["methods"]
    assert sorted(data) == ["gradient_norm", "integrated_gradients"]
    assert sorted(data["gradient_norm"]["payloads"]) == ["0", "1", "2"] and data["gradient_norm"]["alert_steps"] == [0]
    assert data["gradient_norm"]["alert_methods"] == {"0": ["integrated_gradients"]}  # the monitor's method
    (probe, *_) = payload.probes(base64.b64decode(data["gradient_norm"]["payloads"]["2"]))
    assert probe["tokens"] == records(root, "classifier")[0]["tokens"]
