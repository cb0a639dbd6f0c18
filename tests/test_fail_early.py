"""Fail early, never silently, bounded forever: set-up mistakes raise before training in the default
(non-strict) mode, models' own probabilities, monitors bound to their method, bounded output, one
run per folder, no leaks, and the step axis next to Keras' own TensorBoard callback."""

from __future__ import annotations

import gc
import weakref

import keras
import numpy as np
import pytest
from conftest import VOCAB, build_functional_classifier, build_hf

from gradcallback import AttributionCallback, Display, Faithfulness, ProbeSet, SpuriousGroups, explain
from gradcallback.adapters import get_adapter
from gradcallback.cli.main import main
from gradcallback.io.runs import find_runs, read_run

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]
LABELS = [0, 1, 0, 1]


@pytest.fixture(autouse=True)
def not_strict(monkeypatch):
    monkeypatch.delenv("GRADCALLBACK_STRICT", raising=False)  # the default mode users meet


@pytest.mark.parametrize("options, message", [
    ({"integrated_gradients": {"stpes": 8}},
     "Unknown options for integrated_gradients: \\['stpes'\\].*Received: stpes=8"),
    ({"integrated_gradients": {"every": 0}}, "Received: every=0"),
    ({"integrated_gradients": {"steps": "many"}}, "Received: steps='many'"),
    ({"integrated_gradients": {"quadrature": "simpson"}}, "Received: quadrature='simpson'"),
    ({"smoothgrad": {"base": "integrated_gradients"}}, "Received: base='integrated_gradients'"),
])
def test_method_option_mistakes_fail_in_the_constructor(tmp_path, hf_tokenizer, options, message):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    with pytest.raises(ValueError, match=message):
        AttributionCallback(probes, tmp_path, methods=tuple(options), method_options=options)


def test_monitors_that_need_classification_refuse_qa_probes(tmp_path, hf_tokenizer):
    qa = ProbeSet.from_qa(["where is paris ?"], ["paris is in france"], hf_tokenizer)
    with pytest.raises(ValueError, match="Faithfulness works on classification probes. Received: a "
                                         "question_answering probe set"):
        AttributionCallback(qa, tmp_path, monitors=[Faithfulness()])
    with pytest.raises(ValueError, match="Received: target='label' with a question_answering probe set"):
        AttributionCallback(qa, tmp_path, target="label")


def test_probes_of_another_task_fail_before_the_first_epoch(tmp_path, hf_tokenizer, hf_qa):
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path)
    with pytest.raises(ValueError, match="the model is a question_answering model. Received: a ProbeSet with "
                                         "task='classification'"):
        callback.set_model(hf_qa)
        callback.on_train_begin()


def softmax_models():
    """The same weights three ways: logits, a Dense with a softmax, and a Softmax layer after it."""
    keras.utils.set_random_seed(8)
    ids = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(len(VOCAB), 8, mask_zero=True)(ids))
    logits_model = keras.Model(ids, keras.layers.Dense(3, name="head")(pooled))
    dense_softmax = keras.Model(ids, keras.layers.Dense(3, activation="softmax", name="head")(pooled))
    dense_softmax.set_weights(logits_model.get_weights())
    softmax_layer = keras.Model(ids, keras.layers.Softmax()(logits_model.output))
    return logits_model, dense_softmax, softmax_layer


def test_a_final_softmax_is_bypassed_and_probabilities_are_the_models_own(hf_tokenizer):
    logits_model, dense_softmax, softmax_layer = softmax_models()
    reference = explain(logits_model, hf_tokenizer, TEXTS)
    ids = hf_tokenizer(TEXTS[:1], return_tensors="np")["input_ids"]
    for model in (dense_softmax, softmax_layer):
        ours = explain(model, hf_tokenizer, TEXTS)
        probs = keras.ops.convert_to_numpy(model(ids))[0]
        np.testing.assert_allclose(ours[0].prediction.probabilities, probs, atol=1e-6)
        for a, ref in zip(ours, reference):  # the logit before the softmax is what is explained
            np.testing.assert_allclose(a.scores, ref.scores, rtol=1e-5, atol=1e-7)
            assert a.score == pytest.approx(ref.score, rel=1e-5)
        assert ours[0].info["explained"] == "logit before the model's final softmax"


def test_outputs_that_are_probabilities_are_explained_as_probabilities(hf_tokenizer):
    """A softmax hidden inside a Lambda cannot be bypassed: the outputs are recognised as probabilities
    (with a warning), predictions are the model's own, and output= says it without the warning."""
    keras.utils.set_random_seed(9)
    ids = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(len(VOCAB), 8, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.Lambda(lambda z: keras.ops.softmax(z))(keras.layers.Dense(3)(pooled)))
    with pytest.warns(UserWarning, match="outputs are probabilities"):
        a = explain(model, hf_tokenizer, TEXTS[:1])[0]
    probs = keras.ops.convert_to_numpy(model(hf_tokenizer(TEXTS[:1], return_tensors="np")["input_ids"]))[0]
    np.testing.assert_allclose(a.prediction.probabilities, probs, atol=1e-6)
    assert a.score == pytest.approx(float(probs[a.target]), abs=1e-6) and a.info["explained"] == "probability"
    stated = explain(model, hf_tokenizer, TEXTS[:1], output="probabilities")[0]
    np.testing.assert_allclose(stated.scores, a.scores, rtol=1e-6)


def test_a_single_sigmoid_unit_predicts_by_one_half(hf_tokenizer):
    keras.utils.set_random_seed(10)
    ids = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(len(VOCAB), 8, mask_zero=True)(ids))
    model = keras.Model(ids, keras.layers.Dense(1, activation="sigmoid", bias_initializer="ones")(pooled))
    ours = explain(model, hf_tokenizer, TEXTS)
    p = keras.ops.convert_to_numpy(model(hf_tokenizer(TEXTS, padding=True, return_tensors="np")["input_ids"]))[:, 0]
    for a, p_one in zip(ours, p):
        assert a.prediction.label == int(p_one > 0.5)
        np.testing.assert_allclose(a.prediction.probabilities, [1 - p_one, p_one], atol=1e-6)
        assert a.score == pytest.approx(np.log(p_one / (1 - p_one)), rel=1e-4)  # the logit z of class 1
    class0, class1 = (explain(model, hf_tokenizer, TEXTS[:1], method="gradient_x_input", target=c)[0] for c in (0, 1))
    np.testing.assert_allclose(class0.scores, -class1.scores, rtol=1e-5)  # class 0's evidence is -z
    assert class0.score == pytest.approx(-class1.score)


def test_a_monitor_reads_its_method_at_every_step(tmp_path, hf_tokenizer):
    """gradient_norm has `every: 2` and the monitor reads it: it is computed for the monitor at every
    logged step (and drawn only every other one); gradient_x_input, only a monitor's, is never drawn."""
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(
        probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
        method_options={"gradient_norm": {"every": 2}, "integrated_gradients": {"steps": 4}},
        monitors=[SpuriousGroups({"movie": ["movie"]}, method="gradient_norm"),
                  SpuriousGroups({"film": ["film"]}, method="gradient_x_input", name="film_check")])
    model = build_functional_classifier(seed=2, num_classes=2)
    for step in range(4):
        callback.log_now(step, model=model)
    callback.close()
    run = read_run(callback.run_dir, images=True)
    assert sorted(run.scalars["spurious/movie/where_present"]) == [0, 1, 2, 3]
    assert sorted(run.scalars["film_check/film/where_present"]) == [0, 1, 2, 3]
    assert sorted(run.images["gradient_norm/heatmap/probe_000"]) == [0, 2]
    assert not any(tag.startswith("gradient_x_input/") for tag in run.images)
    assert [m["method"] for m in run.info["monitors"]] == ["gradient_norm", "gradient_x_input"]


def test_memory_and_bytes_per_logged_step_stay_flat(tmp_path, hf_tokenizer):
    """The smoke version of benchmarks/bounded.py: 40 logged steps, evolution images of 5 steps."""
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS[:2], hf_tokenizer), tmp_path,
                                   display=Display(evolution_steps=5))
    model = build_functional_classifier(seed=3, num_classes=2)
    sizes = []
    for step in range(40):
        callback.log_now(step * 10, model=model)
        callback._logger.flush()
        sizes.append(sum(f.stat().st_size for f in callback.run_dir.glob("events.out.tfevents.*")))
    callback.close()
    per_step = np.diff(sizes)
    assert abs(per_step[-5:].mean() / per_step[5:10].mean() - 1) < 0.1  # flat, not growing with the run
    assert len(callback.history["gradient_norm"]) == 6  # the first step and the latest 5


def test_two_runs_into_one_log_dir_are_two_runs(tmp_path, hf_tokenizer, capsys):
    model = build_functional_classifier(seed=3, num_classes=2)
    for _ in range(2):
        callback = AttributionCallback(ProbeSet.from_texts(TEXTS[:2], hf_tokenizer), tmp_path)
        with pytest.warns(UserWarning, match="holds an earlier run") if _ else _no_warning():
            callback.log_now(0, model=model)
        callback.log_now(1, model=model)
        callback.close()
    runs = find_runs(tmp_path)
    assert [r.name for r in runs] == ["attributions", "attributions_2"]
    assert all(read_run(r).steps == [0, 1] for r in runs)
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 runs:" in out and sum(line.startswith("run:") for line in out.splitlines()) == 2  # one report each


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_nothing_keeps_a_dropped_model_alive(tmp_path, hf_tokenizer):
    model = build_functional_classifier(seed=5, num_classes=2)
    layer = get_adapter(model).layer
    explain(model, hf_tokenizer, TEXTS, method="integrated_gradients", steps=4)
    assert "call" not in layer.__dict__  # the Embedding override is gone after explain()
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS[:2], hf_tokenizer), tmp_path)
    callback.log_now(0, model=model)
    callback.close()
    assert "call" not in layer.__dict__
    dropped, dropped_layer = weakref.ref(model), weakref.ref(layer)
    del model, layer, callback
    gc.collect()
    assert dropped() is None and dropped_layer() is None


def test_attribution_steps_sit_next_to_keras_epoch_loss(tmp_path, hf_tokenizer):
    """Documented: our step s (epochs completed) sits next to Keras' `epoch_loss` at step s - 1."""
    model = build_functional_classifier(seed=6, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(True))
    ids = hf_tokenizer(TEXTS * 2, padding=True, return_tensors="np")["input_ids"]
    ours = AttributionCallback(ProbeSet.from_texts(TEXTS[:2], hf_tokenizer), tmp_path)
    keras_tb = keras.callbacks.TensorBoard(log_dir=str(tmp_path))
    model.fit(ids, np.array(LABELS * 2), batch_size=4, epochs=3, callbacks=[keras_tb, ours], verbose=0)
    loss_steps = sorted(read_run(tmp_path / "train").scalars.get("epoch_loss", {}))
    assert loss_steps == [0, 1, 2]
    assert read_run(ours.run_dir).steps == [0] + [s + 1 for s in loss_steps]


def test_build_hf_still_explains(hf_tokenizer):
    """transformers TF models always output logits: nothing to bypass, the explained value is the logit."""
    a = explain(build_hf("bert", "classification", seed=1), hf_tokenizer, TEXTS[:1])[0]
    assert a.info["explained"] == "logit"
