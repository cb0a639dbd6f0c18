"""Alerts as records: the `Alert` round trip, every reader fed from the records (event texts, records.jsonl,
payload, report, progress line), monitor names in every tag, and a user's monitor that returns None."""

from __future__ import annotations

import contextlib
import gzip
import json
import re

import numpy as np
import pytest
from conftest import build_functional_classifier
from test_faithfulness import length_model

from gradcallback import (
    Alert,
    AttributionCallback,
    Drift,
    Faithfulness,
    Monitor,
    ProbeSet,
    ShortcutDiscovery,
    SpuriousAttributionError,
    SpuriousGroups,
    VocabularyCheck,
)
from gradcallback.alerts import collect
from gradcallback.cli.report import as_text, summarize
from gradcallback.io import payload
from gradcallback.io.runs import read_run
from gradcallback.views.tables import escape_markdown

TEXTS = ["the movie was good", "the film was awful", "a great movie"]
WATCH = Alert(monitor="watch", subject="movie", step=3, statistic="where_present share", value=0.625, limit=0.5,
              action="stop", method="integrated_gradients", message="group 'movie' holds 62.5% | *not bold*")


def test_alert_round_trip_through_json():
    row = json.loads(json.dumps({"kind": "alert", **WATCH.as_dict()}))
    assert row == {"kind": "alert", "monitor": "watch", "subject": "movie", "step": 3,
                   "statistic": "where_present share", "value": 0.625, "limit": 0.5, "action": "stop",
                   "method": "integrated_gradients", "message": "group 'movie' holds 62.5% | *not bold*"}
    assert Alert.from_dict(row) == WATCH and WATCH.tag == "watch/alerts"
    assert WATCH.summary() == "watch/movie: where_present share 0.625 (limit 0.5), stop, integrated_gradients"


def test_alert_values_are_plain_numbers_and_the_guards_keep_the_errors_tag():
    alert = Alert("drift", None, np.int64(2), "rank", np.float32(0.25), float("nan"), "note", None, "m")
    assert type(alert.step) is int and type(alert.value) is float and alert.as_dict()["limit"] is None
    assert alert.summary() == "drift: rank 0.25 (limit nan), note"
    off = Alert("errors", "writing (gradient_norm)", 1, "RuntimeError", None, None, "switched_off", None, "failed")
    assert off.tag == "errors" and off.summary() == "errors/writing (gradient_norm): RuntimeError, switched_off"
    with pytest.raises(ValueError, match=r"Received: action='shout'"):
        Alert("watch", None, 0, "share", 1.0, 0.5, "shout", None, "m")
    with pytest.raises(ValueError, match=r"missing \['message'\]"):
        Alert.from_dict({k: v for k, v in WATCH.as_dict().items() if k != "message"})


def test_collect_takes_none_one_alert_or_a_list():
    assert collect(None) == [] and collect(WATCH) == [WATCH] and collect([WATCH, WATCH]) == [WATCH, WATCH]
    with pytest.raises(TypeError, match="Received: 'position' returned 'edge share 0.8'"):
        collect("edge share 0.8", "position")


def probes(tokenizer) -> ProbeSet:
    return ProbeSet.from_texts(TEXTS, tokenizer, labels=[0, 1, 0], rationales=[["good"], ["awful"], ["great"]])


def test_a_renamed_spurious_monitor_alerts_everywhere_under_its_name(tmp_path, hf_tokenizer, capsys):
    watch = SpuriousGroups({"movie": ["movie"]}, threshold=0.0, rise=None, method="gradient_norm", name="watch")
    callback = AttributionCallback(probes(hf_tokenizer), tmp_path, monitors=[watch], verbose=True)
    with pytest.warns(UserWarning, match="Spurious attribution: group 'movie'") as caught:
        for step in range(2):
            callback.log_now(step, epoch=step, model=build_functional_classifier(seed=3, num_classes=2))
    callback.close()
    assert sum("Spurious attribution" in str(w.message) for w in caught) == 1  # patience 1: once, at step 0
    run = read_run(tmp_path / "attributions")
    (alert,) = run.alerts  # from records.jsonl
    assert (alert.monitor, alert.subject, alert.step, alert.statistic, alert.limit, alert.action, alert.method) == (
        "watch", "movie", 0, "where_present share", 0.0, "warn", "gradient_norm")
    assert alert.message.startswith(f"Spurious attribution: group 'movie' holds {alert.value:.1%}")
    assert run.texts["watch/alerts"] == {0: escape_markdown(alert.message)}  # escaped once, by the summaries
    assert "spurious/alerts" not in run.texts
    header, _ = payload.decode(run.dashboard["gradient_norm"][0])
    assert header["alert_groups"] == ["movie"] and header["alerts"] == [{**alert.as_dict(), "tag": "watch/alerts",
                                                                         "text": alert.message}]
    assert payload.header(run.dashboard["gradient_norm"][1])["alerts"] == []
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("gradcallback step") and ": explaining" not in line]  # not step 0's opening line
    assert lines[0].endswith(f" | ALERT: watch/movie: where_present share {alert.value:.3g} (limit 0), warn, "
                             "gradient_norm") and "ALERT" not in lines[1]
    text = " ".join(as_text(summarize(run)).split())  # the report wraps its lines to the terminal
    assert f"ALERT step 0 watch/movie: where_present share {alert.value:.3g} (limit 0), warn, gradient_norm -- " \
           f"{alert.message}" in text


def test_raise_carries_the_alert_and_the_step_is_still_written(tmp_path, hf_tokenizer):
    stop = SpuriousGroups({"movie": ["movie"]}, threshold=0.0, rise=None, method="gradient_norm", on_alert="raise")
    callback = AttributionCallback(probes(hf_tokenizer), tmp_path, monitors=[stop])
    with pytest.raises(SpuriousAttributionError) as caught:
        callback.log_now(0, model=build_functional_classifier(seed=3, num_classes=2))
    error = caught.value
    assert (error.alert.monitor, error.alert.subject, error.alert.action) == ("spurious", "movie", "raise")
    assert str(error) == error.alert.message
    run = read_run(tmp_path / "attributions")
    assert run.alerts == [error.alert] and set(run.texts["spurious/alerts"]) == {0}
    assert payload.header(run.dashboard["gradient_norm"][0])["alert_groups"] == ["movie"]


def test_stop_takes_its_reason_from_the_alert(tmp_path, hf_tokenizer):
    stop = SpuriousGroups({"movie": ["movie"]}, threshold=0.0, rise=None, method="gradient_norm", on_alert="stop")
    callback = AttributionCallback(probes(hf_tokenizer), tmp_path, monitors=[stop])
    with pytest.warns(UserWarning, match="Spurious attribution"):
        callback.log_now(0, model=build_functional_classifier(seed=3, num_classes=2))
    callback.close()
    (alert,) = read_run(tmp_path / "attributions").alerts
    assert stop.stop_reason == alert.message and alert.action == "stop"


COVERAGE = {f"m2/{part}/{kind}_share" for part in ("probes", "training_texts") for kind in
            ("whole", "split", "fragmented", "unknown")}
FAITHFULNESS = {f"m2/{ranking}/{measure}/{k}" for ranking in ("gradient_norm", "random")
                for measure in ("comprehensiveness", "sufficiency") for k in ("k1", "k3", "k5", "p10", "p20")}
NAMED = {  # each monitor named "m2": every tag it writes, exactly, at two logged steps
    "spurious": (lambda: SpuriousGroups({"movie": ["movie"]}, threshold=0.0, rise=None, method="gradient_norm",
                                        name="m2"),
                 {"m2/movie/share", "m2/movie/share/class_0", "m2/movie/where_present", "m2/movie/z",  # all predicted 0
                  "m2/movie/offenders", "m2/alerts"}),
    "vocabulary": (lambda: VocabularyCheck(texts=["a good film"], custom_tokens=["movie"], method="gradient_norm",
                                           name="m2"),
                   COVERAGE | {"m2/probes", "m2/training_texts", "m2/fragmented_share", "m2/alerts",
                               "m2/custom/00_movie/embedding_norm", "m2/custom/00_movie/moved",
                               "m2/custom/00_movie/attribution_share"}),
    "faithfulness": (lambda: Faithfulness(method="gradient_norm", name="m2"),
                     FAITHFULNESS | {"m2/gradient_norm/aopc", "m2/random/aopc", "m2/plausibility/gradient_norm/f1",
                                     "m2/plausibility/gradient_norm/auprc"}),
    "discovery": (lambda: ShortcutDiscovery(method="gradient_norm", length_gap=0.0, name="m2"),
                  {"m2/candidates", "m2/candidates_table", "m2/length/delete", "m2/length/mask", "m2/length/gap",
                   "m2/alerts"}),
    "drift": (lambda: Drift(method="gradient_norm", top_k=1, name="m2"),
              {"m2/gradient_norm/rank_stability_vs_first", "m2/gradient_norm/changed"}),
}
CALLBACK_OWN = {"probes", "probes/mean_confidence", "probes/accuracy"}  # and gradient_norm/..., the method's


def _perturb(model) -> None:
    """Stands in for training between the two steps: every probe's top token changes, no prediction does."""
    rng = np.random.default_rng(2)
    for weight in model.trainable_weights:
        weight.assign(weight.numpy() + rng.normal(0, 1.0, weight.shape).astype(weight.numpy().dtype))


@pytest.mark.parametrize("kind", sorted(NAMED))
def test_every_monitor_writes_all_its_tags_under_its_name(kind, tmp_path, hf_tokenizer):
    make, expected = NAMED[kind]
    callback = AttributionCallback(probes(hf_tokenizer), tmp_path, monitors=[make()])
    # a model that reacts to length, for the discovery's length note
    model = length_model(1.5) if kind == "discovery" else build_functional_classifier(seed=3, num_classes=2)
    with pytest.warns(UserWarning) if "m2/alerts" in expected else contextlib.nullcontext():
        for step in range(2):
            callback.log_now(step, epoch=step, model=model)
            if kind == "drift" and step == 0:  # the vocabulary check alerts on an embedding that does not move
                _perturb(model)
    callback.close()
    run = read_run(tmp_path / "attributions")
    written = {t for t in {*run.scalars, *run.texts} if t not in CALLBACK_OWN and not t.startswith("gradient_norm/")}
    assert written == expected
    assert {a.tag for a in run.alerts} == ({"m2/alerts"} if "m2/alerts" in expected else set())
    assert {a.monitor for a in run.alerts} <= {"m2"}


class EdgeShare(Monitor):
    """A user's monitor written before monitors returned alerts: `log` returns None."""

    name, method = "position", "gradient_norm"

    def log(self, step, attributions):
        self.context.events.scalar("position/edge_share", float(len(attributions)), step)


class Loud(EdgeShare):
    """One that returns a bare alert (not in a list)."""

    name = "loud"

    def log(self, step, attributions):
        return self.alert(step, "edge share", 0.8, 0.5, "edge share 0.80 > 0.5", subject="edges")


def test_a_user_monitor_returning_none_or_one_alert_works(tmp_path, hf_tokenizer, capsys):
    callback = AttributionCallback(probes(hf_tokenizer), tmp_path, monitors=[EdgeShare(), Loud()], verbose=True)
    callback.log_now(0, model=build_functional_classifier(seed=3, num_classes=2))
    callback.close()
    run = read_run(tmp_path / "attributions")
    assert run.scalars["position/edge_share"] == {0: 3.0}
    assert [(a.monitor, a.subject, a.action, a.method) for a in run.alerts] == [
        ("loud", "edges", "warn", "gradient_norm")]
    assert run.texts["loud/alerts"] == {0: "edge share 0\\.80 &gt; 0\\.5"} and "position/alerts" not in run.texts
    assert re.search(r"\| ALERT: loud/edges: edge share 0\.8 \(limit 0\.5\), warn, gradient_norm$",
                     capsys.readouterr().out.strip())


def test_a_run_from_before_alert_records_reads_its_alert_texts(tmp_path):
    from gradcallback.io.writers import EventWriter

    events = EventWriter(tmp_path)  # what the callback wrote before: escaped texts, no "alert" rows, no marker
    events.text("spurious/alerts", escape_markdown("group 'names' holds 61.0% (a <b>)"), 2)
    events.text("discovery/length_note", escape_markdown("Deleting a token moves the prediction"), 3)
    events.text("errors", "**writing \\(gradient\\_norm\\)** failed at step 3: RuntimeError\n\n    Traceback", 3)
    events.text("spurious/names/offenders", "| token | mass |", 2)
    events.close()
    (tmp_path / "records.jsonl").touch()
    assert [(a.monitor, a.step, a.action, a.tag, a.message) for a in read_run(tmp_path).alerts] == [
        ("discovery", 3, "note", "discovery/alerts", "Deleting a token moves the prediction"),
        ("errors", 3, "switched_off", "errors", "**writing (gradient_norm)** failed at step 3: RuntimeError"),
        ("spurious", 2, "warn", "spurious/alerts", "group 'names' holds 61.0% (a <b>)")]
    old = payload.build(2, "m", [], signed=False)
    header, _ = payload.decode(old)  # an old payload's alerts had only tag and text
    header["alerts"] = [{"tag": "spurious/alerts", "text": "group 'names'"}]
    assert payload.alert_methods({2: gzip.compress(payload._pack(header, {}))}) == {2: []}  # names no method
