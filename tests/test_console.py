"""The callback's console lines and the warnings raised while it works start on a line of their own,
never at the end of Keras' progress bar (`fit(verbose=1)`), on Keras 3 and on tf-keras (transformers)."""

from __future__ import annotations

import contextlib
import io
import re
import sys
import warnings

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier, build_hf

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.monitors.base import Monitor
from gradcallback.views.console import Console

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]
LABELS = [0, 1, 0, 1]
BAR = re.compile(r"\d+/\d+ (\[[=>.]*\]|━+)")  # tf-keras' bar "3/4 [====>...]", Keras 3's "3/4 ━━━━━" (ANSI removed)


class Loud(Monitor):
    """Warns and alerts at every step after the first; at step 2 its log raises (the guard switches it off)."""

    name, method = "loud", "gradient_norm"

    def log(self, step, attributions):
        if step == 2:
            raise RuntimeError("a monitor that breaks")
        if step:
            warnings.warn(f"loud warning at step {step}", stacklevel=1)
            return [self.alert(step, "share", 0.9, 0.5, f"loud alert at step {step}", subject="names")]
        return []


def show_on_stderr(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    print(warnings.formatwarning(message, category, filename, lineno, line), end="", file=file or sys.stderr)


def fit_output(model, fit, tokenizer, tmp_path) -> str:
    """stdout and stderr of a verbose fit, in the order written (both streams into one buffer)."""
    probes = ProbeSet.from_texts(TEXTS[:2], tokenizer, labels=LABELS[:2])
    callback = AttributionCallback(probes, tmp_path, monitors=[Loud()], verbose=True, strict=False)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show_on_stderr  # what Python does outside pytest, which records warnings instead
        fit(model, callback)
    return re.sub(r"\x1b\[[\d;]*m", "", buffer.getvalue())  # Keras 3's bold and colours


def assert_nothing_glued(output: str) -> None:
    lines = output.split("\n")
    ours = [line for line in lines if "gradcallback" in line or "loud warning" in line]
    assert any(BAR.search(line) for line in lines), output  # there was a bar to glue onto
    assert any(line.startswith("gradcallback step 2 (epoch 2)") for line in lines), output
    assert sum("loud warning at step 1" in line for line in lines) == 1 and "switched off" in output
    for line in ours:
        before = line[: min(i for i in (line.find("gradcallback"), line.find("loud warning")) if i >= 0)]
        assert not BAR.search(before), f"glued to the bar: {line!r}"


@pytest.mark.switches_off
def test_a_keras3_fit_with_verbose_1_keeps_our_lines_off_the_bar(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=1, num_classes=2)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = hf_tokenizer(TEXTS * 2, padding=True, return_tensors="np")["input_ids"]
    output = fit_output(model, lambda m, c: m.fit(ids, np.array(LABELS * 2), batch_size=2, epochs=2, callbacks=[c],
                                                  verbose=1), hf_tokenizer, tmp_path)
    assert_nothing_glued(output)
    assert "ALERT: loud/names" in output


@pytest.mark.switches_off
def test_a_tf_keras_fit_with_verbose_1_keeps_our_lines_off_the_bar(tmp_path, hf_tokenizer):
    import tensorflow as tf
    import tf_keras

    model = build_hf("bert", "classification", seed=3)
    model.compile(optimizer=tf_keras.optimizers.Adam(1e-3),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    encoded = dict(hf_tokenizer(TEXTS * 2, padding=True, return_tensors="np"))
    data = tf.data.Dataset.from_tensor_slices((encoded, np.array(LABELS * 2))).batch(2)
    output = fit_output(model, lambda m, c: m.fit(data, epochs=2, callbacks=[c], verbose=1), hf_tokenizer, tmp_path)
    assert_nothing_glued(output)


def test_the_console_ends_an_open_bar_line_once_and_restores_showwarning(capsys):
    console, shown = Console(verbose=True), warnings.showwarning
    with console.during_fit({"verbose": 2}, bar_open=True):  # verbose=2: Keras prints whole lines, nothing open
        console.line("a")
    with console.during_fit({"verbose": "auto"}, bar_open=True), warnings.catch_warnings():  # Keras 3's default
        warnings.simplefilter("always")
        print("3/4 [===>..]", end="")
        console.line("b")
        console.line("c")
    assert capsys.readouterr().out == "a\n3/4 [===>..]\nb\nc\n"
    assert warnings.showwarning is shown
    Console(verbose=False).line("quiet")
    assert capsys.readouterr().out == ""


class Logger:
    def progress_line(self, *args):
        return "gradcallback step 0"


def test_a_progress_bar_only_where_keras_draws_none(capsys):
    from gradcallback.views.progress import progress_bar

    console = Console(verbose=True)
    assert console.progress() is progress_bar and Console(verbose=False).progress() is None
    console.first_step(0, 2, ["gradient_norm"])  # the first step's bar shows from the start
    assert console.progress().keywords == {"enabled": True}
    console.step_line(Logger(), 0, 0, [], 1.0, [])  # the step's line ends the first step
    assert console.progress() is progress_bar
    with console.during_fit({"verbose": 1}, bar_open=True):
        assert console.progress() is None  # two bars would overwrite each other's line
    assert capsys.readouterr().out.splitlines() == ["gradcallback step 0: explaining 2 probes with gradient_norm "
                                                   "(the first step also compiles the attribution pass)",
                                                   "gradcallback step 0"]


def test_a_bar_asked_for_is_drawn_before_any_work():
    from gradcallback.views.progress import Progress

    stream = io.StringIO()
    bar = Progress(24, True, stream, label="gradient_norm")
    assert "0/24" in stream.getvalue()  # before the first chunk (and its compile) finishes
    bar.close()
