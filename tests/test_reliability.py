"""Never break training: errors are reported once and switched off; set-up errors surface early."""

from __future__ import annotations

import copy
import warnings

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier
from test_callback import read_events

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.guard import SwitchedOffWarning
from gradcallback.io.runs import read_run
from gradcallback.monitors import Monitor
from gradcallback.views import images as render

TEXTS = ["the movie was good", "the film was awful"]


def fit(model, tokenizer, callback, epochs=2):
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = tokenizer(TEXTS * 4, padding=True, return_tensors="np")["input_ids"]
    return model.fit(ids, np.array([0, 1] * 4), batch_size=4, epochs=epochs, callbacks=[callback], verbose=0)


def broken_heatmap(*args, **kwargs):
    raise RuntimeError("renderer exploded")


def breaks_after(calls: int):
    """A heatmap renderer that works `calls` times, then fails: a failure during training."""
    original, count = render.heatmap, [0]

    def heatmap(*args, **kwargs):
        count[0] += 1
        if count[0] > calls:
            raise RuntimeError("renderer exploded")
        return original(*args, **kwargs)

    return heatmap


@pytest.mark.switches_off
def test_a_failing_part_is_reported_once_and_training_goes_on(tmp_path, hf_tokenizer, monkeypatch):
    monkeypatch.setattr(render, "heatmap", breaks_after(len(TEXTS)))  # step 0 draws, step 1 fails
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(build_functional_classifier(seed=7, num_classes=2), hf_tokenizer, callback)
    assert len(history.history["loss"]) == 2  # training finished
    reports = [str(w.message) for w in caught if "switched off" in str(w.message)]
    assert len(reports) == 1 and "writing (gradient_norm) failed at step 1" in reports[0]
    assert "renderer exploded" in reports[0] and "Traceback" in reports[0]
    events = read_events(tmp_path / "attributions")
    assert events["text"]["errors"] == [1]
    assert events["scalars"]["probes/mean_confidence"] == [0, 1, 2]  # the other parts kept logging
    (alert,) = read_run(tmp_path / "attributions").alerts  # also a record, for `report`
    assert (alert.monitor, alert.subject, alert.step, alert.statistic, alert.action, alert.tag) == (
        "errors", "writing (gradient_norm)", 1, "RuntimeError", "switched_off", "errors")
    assert alert.message.startswith("writing (gradient_norm) failed at step 1 and is switched off; training goes "
                                    "on: RuntimeError('renderer exploded') (raised in heatmap, ")


def test_a_failure_before_training_starts_raises_even_when_not_strict(tmp_path, hf_tokenizer, monkeypatch):
    """Step 0 is logged before the first batch: failing there means every step would fail, so the run
    stops before it trains rather than running to the end with nothing logged."""
    monkeypatch.setattr(render, "heatmap", broken_heatmap)
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, strict=False)
    model = build_functional_classifier(seed=7, num_classes=2)
    with pytest.raises(RuntimeError, match="renderer exploded"):
        fit(model, hf_tokenizer, callback)
    assert not model.optimizer.iterations.numpy()


def test_strict_reraises(tmp_path, hf_tokenizer, monkeypatch):
    monkeypatch.setattr(render, "heatmap", broken_heatmap)
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, strict=True)
    with pytest.raises(RuntimeError, match="renderer exploded"):
        fit(build_functional_classifier(seed=7, num_classes=2), hf_tokenizer, callback)


def test_probe_set_the_model_cannot_take_fails_before_training(tmp_path, hf_tokenizer):
    grown = copy.deepcopy(hf_tokenizer)
    grown.add_tokens(["atiku"])
    callback = AttributionCallback(ProbeSet.from_texts(["atiku won"], grown), tmp_path, strict=False)
    model = build_functional_classifier(seed=7, num_classes=2)
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        fit(model, hf_tokenizer, callback)
    assert not model.optimizer.iterations.numpy()  # not a single step was trained


def test_unwritable_log_dir_fails_before_training(tmp_path, hf_tokenizer):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), blocker, strict=False)
    model = build_functional_classifier(seed=7, num_classes=2)
    with pytest.raises(ValueError, match="Expected a log_dir that can be written .* Received: log_dir="):
        fit(model, hf_tokenizer, callback)
    assert not model.optimizer.iterations.numpy()


class FailsAfter(Monitor):
    """A monitor whose `log` works `calls` times, then raises; it counts every call."""

    name, method = "flaky", "gradient_norm"

    def __init__(self, calls: int):
        self.calls, self.logged = calls, []

    def log(self, step, attributions):
        self.logged.append(step)
        if len(self.logged) > self.calls:
            raise RuntimeError("monitor exploded")


def switched_off(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SwitchedOffWarning)]


@pytest.mark.switches_off
def test_a_failing_monitor_is_switched_off_and_the_rest_logs_on(tmp_path, hf_tokenizer):
    monitor = FailsAfter(calls=1)  # step 0 logs, step 1 fails, step 2 is never asked
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, monitors=[monitor],
                                   strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(build_functional_classifier(seed=7, num_classes=2), hf_tokenizer, callback)
    assert len(history.history["loss"]) == 2 and monitor.logged == [0, 1]
    (report,) = switched_off(caught)
    assert "flaky monitor failed at step 1" in report and "monitor exploded" in report
    events = read_events(tmp_path / "attributions")
    assert events["text"]["errors"] == [1]
    assert events["scalars"]["probes/mean_confidence"] == [0, 1, 2]
    assert events["gradcallback"]["dashboard/gradient_norm"] == [0, 1, 2]  # the payload is another part


@pytest.mark.switches_off
def test_a_failing_payload_writer_is_switched_off_and_the_rest_logs_on(tmp_path, hf_tokenizer, monkeypatch):
    import gradcallback.summaries as callback_module  # where the step payload is written from

    original, calls = callback_module.write_results, []

    def write_results(*args, **kwargs):
        calls.append(args[1])
        if len(calls) > 1:
            raise OSError("payload disk full")
        return original(*args, **kwargs)

    monkeypatch.setattr(callback_module, "write_results", write_results)
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(build_functional_classifier(seed=7, num_classes=2), hf_tokenizer, callback)
    assert len(history.history["loss"]) == 2 and calls == [0, 1]  # not called again once switched off
    (report,) = switched_off(caught)
    assert "dashboard data failed at step 1" in report and "payload disk full" in report
    events = read_events(tmp_path / "attributions")
    assert events["gradcallback"]["dashboard/gradient_norm"] == [0] and events["text"]["errors"] == [1]
    assert events["scalars"]["probes/mean_confidence"] == [0, 1, 2]
    assert events["images"]["gradient_norm/heatmap/probe_000"] == [0, 1, 2]


def test_the_default_mode_logs_every_step_and_switches_nothing_off(tmp_path, hf_tokenizer, monkeypatch):
    """The mode a user meets (no GRADCALLBACK_STRICT, strict=None): the whole main path, with a monitor
    and the payload. tests/conftest.py fails the test if any part is switched off."""
    from gradcallback import Drift

    monkeypatch.delenv("GRADCALLBACK_STRICT", raising=False)
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer, labels=[0, 1])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "gradient_x_input"),
                                   monitors=[Drift()])
    assert callback.strict is False
    fit(build_functional_classifier(seed=7, num_classes=2), hf_tokenizer, callback)
    events = read_events(tmp_path / "attributions")
    assert "errors" not in events["text"]
    assert events["scalars"]["probes/accuracy"] == [0, 1, 2]
    assert events["gradcallback"] == {f"dashboard/{m}": [0, 1, 2]  # Drift reads integrated gradients
                                      for m in ("gradient_norm", "gradient_x_input", "integrated_gradients")}
