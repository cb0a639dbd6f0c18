"""Progress on long work: a bar only when the work is long (or asked for), never with progress=False,
IG's inner loop reported, tqdm or Keras' Progbar; the callback's verbose line says what it cost."""

from __future__ import annotations

import io
import re
import sys

import pytest
from conftest import build_hf

from gradcallback import AttributionCallback, ProbeSet, explain
from gradcallback.engine.reporting import advance, reporting
from gradcallback.views.progress import Progress, progress_bar

TEXTS = ["the movie was good", "a bad film", "the cat sat on the mat"]


class Clock:
    """A fake clock: each reading moves time on by `step` seconds."""

    def __init__(self, step: float):
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(scope="module")
def model():
    return build_hf("bert", "classification", seed=2)


def test_explain_progress_true_writes_a_bar_to_stderr(model, hf_tokenizer, capsys):
    explain(model, hf_tokenizer, TEXTS, method="integrated_gradients", steps=4, progress=True)
    err = capsys.readouterr().err
    assert "integrated_gradients" in err and "12/12" in err  # 3 probes x 4 points


def test_default_is_silent_for_short_work_and_false_is_silent_always(model, hf_tokenizer, capsys):
    explain(model, hf_tokenizer, TEXTS)  # default: automatic, and this call is short
    explain(model, hf_tokenizer, TEXTS, progress=False)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="progress"):
        explain(model, hf_tokenizer, TEXTS, progress="yes")


def test_bar_appears_once_the_work_is_estimated_to_pass_two_seconds():
    slow, fast = io.StringIO(), io.StringIO()
    for stream, clock in ((slow, Clock(0.5)), (fast, Clock(0.01))):
        with Progress(10, None, stream, label="work", clock=clock) as bar:
            for _ in range(10):
                bar.items_done(1)
    assert "work" in slow.getvalue() and "10/10" in slow.getvalue()  # 10 x 0.5 s: shown
    assert fast.getvalue() == ""  # 10 x 0.01 s: nothing
    never = io.StringIO()
    with Progress(10, False, never, clock=Clock(5.0)) as bar:
        for _ in range(10):
            bar.items_done(1)
    assert never.getvalue() == ""


def test_inner_loops_reach_the_open_bar_and_items_fix_the_position():
    bar = Progress(2, None, io.StringIO(), per_item=5, clock=lambda: 0.0)
    with reporting(lambda total, **_: bar, 2, label="integrated_gradients", per_item=5):
        advance(3)  # e.g. three IG points of the first probe
        assert bar.done == 3
        bar.items_done(1)
        assert bar.done == 5  # exact after a whole probe
        advance(7)  # steps="auto" needed more points than guessed: the total grows
        assert (bar.done, bar.total, bar.closed) == (12, 12, True)
    advance(1)  # no sink open any more: nothing happens
    assert bar.done == 12


def test_integrated_gradients_reports_every_chunk_of_points(model, hf_tokenizer, monkeypatch):
    seen = []
    update = Progress._update
    monkeypatch.setattr(Progress, "_update", lambda self, done: (seen.append(done), update(self, done)))
    explain(model, hf_tokenizer, TEXTS[:1], method="integrated_gradients", steps=4, internal_batch_size=2)
    assert seen[:2] == [2, 4]  # two chunks of 2 points each, before the probe is finished


def test_keras_progbar_when_tqdm_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    stream = io.StringIO()
    with progress_bar(3, True, stream, label="explain") as bar:
        bar.items_done(3)
    assert stream.getvalue().startswith("explain\n") and "3/3" in stream.getvalue()


def test_callback_verbose_line_says_how_long_it_took(model, hf_tokenizer, tmp_path, capsys):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("integrated_gradients",), verbose=True,
                                   method_options={"integrated_gradients": {"steps": 4}})
    callback.log_now(0, epoch=0, model=model)
    callback.close()
    captured = capsys.readouterr()
    assert re.search(r"^gradcallback step 0 \(epoch 0\) \[\d+\.\d s\] \| ", captured.out, re.M)
    # before it works, the first step says what it will do (its wait is the longest: it compiles)
    assert captured.out.startswith("gradcallback step 0: explaining 3 probes with integrated_gradients (")
    assert "warning" not in captured.err.lower()  # at most its progress bar, when the step outlasts 2 s
