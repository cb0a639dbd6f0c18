"""explain() on tiny transformers TF models: correctness against references, invariants, bad input."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import tensorflow as tf
from conftest import bert_config, seed_tf_models

import gradcallback as gc
from gradcallback import Explainer, explain, normalize_l1_share, normalize_max_abs
from gradcallback.engine.heads import HEADS
from gradcallback.engine.score import Chunk, score_function

TEXTS = ["the sky is green", "the cat sat on the mat and the dog ran fast", "a good movie"]
OPTIONS = {"integrated_gradients": {"steps": 16}, "smoothgrad": {"samples": 4}}


@pytest.fixture(scope="module")
def lively():
    """A BERT classifier with large random weights, so gradients are far from zero."""
    from transformers import TFBertForSequenceClassification

    seed_tf_models(1)
    model = TFBertForSequenceClassification(bert_config(initializer_range=0.3))
    model(model.dummy_inputs, training=False)
    return model


def naive_one_hot_gradients(model, tokenizer, text):
    """Seed 001, verbatim in spirit: gradient w.r.t. a one-hot input, L2 norm over the vocabulary."""
    enc = tokenizer(text, return_tensors="tf")
    matrix = model.get_input_embeddings().weight
    one_hot = tf.one_hot(enc["input_ids"], matrix.shape[0])
    with tf.GradientTape() as tape:
        tape.watch(one_hot)
        logits = model({"inputs_embeds": tf.matmul(one_hot, matrix), "attention_mask": enc["attention_mask"],
                        "token_type_ids": enc["token_type_ids"]}, training=False).logits
        score = tf.reduce_max(logits[0])
    return tf.norm(tape.gradient(score, one_hot), axis=2)[0].numpy()


def test_vanilla_gradients_equal_the_naive_one_hot_implementation(lively, hf_tokenizer):
    for text, attribution in zip(TEXTS, explain(lively, hf_tokenizer, TEXTS, method="vanilla_gradients")):
        np.testing.assert_allclose(attribution.scores, naive_one_hot_gradients(lively, hf_tokenizer, text), rtol=1e-4)


def test_gradient_norm_matches_central_finite_differences(lively, hf_tokenizer):
    explainer = Explainer(lively, hf_tokenizer)
    attribution = explainer.explain(["the cat sat on the mat"])[0]
    ids = np.array([attribution.token_ids], np.int32)
    embeds = explainer.adapter.word_embeddings(ids)
    fn = score_function(explainer.adapter, HEADS["class"])
    ones = np.ones(ids.shape, np.int32)
    bound = fn.bind(Chunk.from_numpy({"ids": ids, "mask": ones, "segment_ids": 0 * ones, "context": ones}))
    target = np.array([[attribution.target, 0]], np.int32)
    _, grads = bound.value_and_grad(embeds, target)
    eps, n = 1e-2, len(attribution)
    unit = grads / np.linalg.norm(grads, axis=-1, keepdims=True)  # move token t along its own gradient
    steps = (np.eye(n)[:, :, None] * unit * eps).astype(np.float32)  # [n, T, H]: row t perturbs token t only
    plus = bound.evaluate(embeds + steps, np.repeat(target, n, 0), np.zeros(n, np.int32)).values
    minus = bound.evaluate(embeds - steps, np.repeat(target, n, 0), np.zeros(n, np.int32)).values
    np.testing.assert_allclose((plus - minus) / (2 * eps), attribution.scores, rtol=2e-2, atol=1e-4)


@pytest.mark.parametrize("baseline", ["pad", "zeros", "mask", 7])
def test_integrated_gradients_completeness(lively, hf_tokenizer, baseline):
    result = explain(lively, hf_tokenizer, TEXTS, method="integrated_gradients", steps=128, baseline=baseline)
    for a in result:
        gap = a.score - a.info["baseline_score"]
        assert a.info["baseline"] == baseline and a.info["steps"] == 128
        assert abs(gap) > 1e-3  # the check below is meaningful
        assert abs(a.convergence_delta) <= 0.01 * abs(gap)
        assert abs(a.scores.sum() - gap) <= 0.01 * abs(gap)


def test_adaptive_integrated_gradients_meet_the_tolerance_and_evaluate_each_point_once(lively, hf_tokenizer):
    explainer = Explainer(lively, hf_tokenizer)
    explainer.explain(TEXTS[:1])  # compile first; then count what one adaptive call evaluates
    function = score_function(explainer.adapter, HEADS["class"])
    rows_before = function.rows
    result = explainer.explain(TEXTS, method="integrated_gradients", steps="auto", tolerance=0.001)
    for a in result:
        gap = a.score - a.info["baseline_score"]
        assert a.info["quadrature"] == "clenshaw_curtis" and a.info["steps"] in (17, 33, 65, 129, 257)
        assert abs(a.convergence_delta) <= max(0.001 * abs(gap), 1e-4)
    # Every point of a probe's last level, once: f(x) and f(b) are points too, no extra passes.
    assert function.rows - rows_before == sum(a.info["steps"] for a in result)
    reference = explainer.explain(TEXTS, method="integrated_gradients", steps=256)
    for a, ref in zip(result, reference):
        np.testing.assert_allclose(a.scores, ref.scores, rtol=1e-3, atol=1e-3 * np.abs(ref.scores).max())


def test_adaptive_integrated_gradients_stop_when_input_and_baseline_agree(lively, hf_tokenizer):
    """f(x) = f(b) (the input is its own baseline): stop at the second level, not at max_steps."""
    a = explain(lively, hf_tokenizer, ["the the the"], method="integrated_gradients", steps="auto",
                baseline=hf_tokenizer.convert_tokens_to_ids("the"), max_steps=257)[0]
    assert a.score == pytest.approx(a.info["baseline_score"], abs=1e-6)
    assert a.info["steps"] == 17 and np.abs(a.scores).max() < 1e-4


def test_explicit_class_targets(lively, hf_tokenizer):
    per_class = [explain(lively, hf_tokenizer, ["a good movie"], target=c)[0] for c in range(3)]
    assert [a.target for a in per_class] == [0, 1, 2]
    assert len({round(a.score, 6) for a in per_class}) == 3  # three different logits explained
    per_probe = explain(lively, hf_tokenizer, TEXTS[:2], target=[2, 0])
    assert [a.target for a in per_probe] == [2, 0]
    with pytest.raises(ValueError, match="one target per input"):
        explain(lively, hf_tokenizer, TEXTS, target=[0, 1])


def test_prediction_probabilities(lively, hf_tokenizer):
    a = explain(lively, hf_tokenizer, ["a good movie"])[0]
    logits = lively(dict(hf_tokenizer(["a good movie"], return_tensors="tf")), training=False).logits[0].numpy()
    np.testing.assert_allclose(a.prediction.probabilities, tf.nn.softmax(logits).numpy(), rtol=1e-5)
    assert a.prediction.label == int(np.argmax(logits))
    np.testing.assert_allclose(a.score, logits[a.target], rtol=1e-5)


def test_question_answering_targets(hf_qa, hf_tokenizer):
    pair = ("what is the capital of france ?", "paris is the capital city of france")
    span = explain(hf_qa, hf_tokenizer, [pair])[0]
    start, end = span.target
    context = np.flatnonzero(span.segment_ids == 1)
    assert context[0] <= start <= end <= context[-2]  # inside the context, before its [SEP]
    assert span.prediction.span == (start, end) and 0 < span.prediction.probability < 1
    assert span.prediction.answer == pair[1][:][_char_span(hf_tokenizer, pair, start, end)]
    only_start = explain(hf_qa, hf_tokenizer, [pair], target="start")[0]
    only_end = explain(hf_qa, hf_tokenizer, [pair], target="end")[0]
    np.testing.assert_allclose(only_start.score + only_end.score, span.score, rtol=1e-5)
    fixed = explain(hf_qa, hf_tokenizer, [pair], target=[(10, 11)])[0]
    assert fixed.target == (10, 11) and fixed.prediction.span == span.prediction.span


def _char_span(tokenizer, pair, start, end):
    offsets = tokenizer(*pair, return_offsets_mapping=True)["offset_mapping"]
    return slice(offsets[start][0], offsets[end][1])


def test_question_answering_with_explicit_targets_truncates_only_the_context(hf_qa, hf_tokenizer):
    """Explicit targets are positions, so no windows (test_long_qa.py covers the default span)."""
    long_context = " ".join(["paris is the capital city of france"] * 20)
    with pytest.warns(UserWarning, match="contexts cut at max_length=64"):
        a = explain(hf_qa, hf_tokenizer, [("what is the capital ?", long_context)], target="start")[0]
    assert len(a) == 64 and a.tokens[:7] == ["[CLS]", "what", "is", "the", "capital", "?", "[SEP]"]


def test_token_classification_needs_a_position(hf_tokenizer):
    from conftest import build_hf

    model = build_hf("bert", "token_classification")
    with pytest.raises(ValueError, match="target=position"):
        explain(model, hf_tokenizer, ["the cat sat"])
    a, b = explain(model, hf_tokenizer, ["the cat sat", "the dog ran"], target=[2, (2, 1)])
    assert a.target[0] == 2 and a.target[1] == a.prediction.label and b.target == (2, 1)
    with pytest.raises(ValueError, match="beyond probe 0"):
        explain(model, hf_tokenizer, ["the cat"], target=9)


def test_empty_text_names_the_probe(lively, hf_tokenizer):
    with pytest.raises(ValueError, match="probe 1"):
        explain(lively, hf_tokenizer, ["fine", "   "])
    with pytest.raises(ValueError, match="at least one input"):
        explain(lively, hf_tokenizer, [])


def test_long_text_is_truncated_with_one_warning(lively, hf_tokenizer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = explain(lively, hf_tokenizer, ["the cat " * 100, "the dog " * 100, "fine"])
    messages = [str(w.message) for w in caught if "Truncated" in str(w.message)]
    assert len(messages) == 1 and "(0, 138)" in messages[0] and "(1, 138)" in messages[0]
    assert len(out[0]) == 64 and out[0].tokens[-1] == "[SEP]"


def test_probe_with_only_special_tokens(lively, hf_tokenizer):
    with pytest.warns(UserWarning, match="no token besides special tokens: \\[0\\]"):
        grad, ig = (explain(lively, hf_tokenizer, ["\x07"], method=m)[0]
                    for m in ("gradient_norm", "integrated_gradients"))
    assert grad.tokens == ["[CLS]", "[SEP]"] and np.isfinite(grad.scores).all()
    np.testing.assert_array_equal(ig.scores, [0.0, 0.0])  # baseline == input
    assert ig.convergence_delta == 0.0


def test_all_zero_gradient_gives_zeros_not_nan(hf_tokenizer):
    from conftest import build_functional_classifier

    model = build_functional_classifier()
    for layer in model.layers[-1:]:
        layer.kernel.assign(tf.zeros_like(layer.kernel))  # output no longer depends on the input
    for method in sorted(gc.METHODS):
        a = explain(model, hf_tokenizer, ["the cat sat"], method=method, **OPTIONS.get(method, {}))[0]
        assert np.array_equal(a.scores, np.zeros(len(a))), method
        assert np.array_equal(normalize_max_abs(a.scores), np.zeros(len(a)))
        assert np.array_equal(normalize_l1_share(a.scores), np.zeros(len(a)))


def test_normalization_helpers_literal():
    np.testing.assert_allclose(normalize_max_abs(np.array([1.0, -4.0, 2.0])), [0.25, -1.0, 0.5])
    np.testing.assert_allclose(normalize_l1_share(np.array([1.0, -3.0])), [0.25, 0.75])


def test_token_ids_outside_the_embedding_matrix(lively, hf_tokenizer):
    grown = copy.deepcopy(hf_tokenizer)
    grown.add_tokens(["atiku"])
    with pytest.raises(ValueError, match="resize_token_embeddings"):
        explain(lively, grown, ["atiku was here"])


def test_bad_arguments_say_what_was_expected(lively, hf_tokenizer):
    with pytest.raises(ValueError, match="Received: method='saliency'"):
        explain(lively, hf_tokenizer, TEXTS, method="saliency")
    with pytest.raises(ValueError, match="Received: stpes=8"):
        explain(lively, hf_tokenizer, TEXTS, method="integrated_gradients", stpes=8)
    with pytest.raises(ValueError, match="Received: baseline='noise'"):
        explain(lively, hf_tokenizer, TEXTS, method="integrated_gradients", baseline="noise")
    with pytest.raises(ValueError, match="Received: task='regression'"):
        explain(lively, hf_tokenizer, TEXTS, task="regression")
    with pytest.raises(ValueError, match="pairs"):
        explain(lively, hf_tokenizer, TEXTS, task="question_answering")


def test_unknown_model_and_undetectable_task(hf_tokenizer):
    import keras

    with pytest.raises(ValueError, match="Received: model=builtins.object"):
        explain(object(), hf_tokenizer, TEXTS)
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(60, 4)(ids)
    odd = keras.Model(ids, [x, x, x])  # three outputs: no task we know
    with pytest.raises(ValueError, match="Pass task="):
        explain(odd, hf_tokenizer, TEXTS)


def test_compiled_once_across_calls_and_lengths(lively, hf_tokenizer):
    explainer = Explainer(lively, hf_tokenizer, batch_size=2)
    explainer.explain(TEXTS)
    function = score_function(explainer.adapter, HEADS["class"])
    traces = function.trace_count
    for texts in (TEXTS, ["the cat sat on the mat and the dog ran fast fast fast"], TEXTS[::-1]):
        explainer.explain(texts)
    assert function.trace_count == traces <= 2  # at most one trace per compiled function


def test_traced_without_autograph_unless_the_code_branches_on_a_tensor():
    from gradcallback.engine.backends.tensorflow import _traced

    signature, traces = [tf.TensorSpec([None], tf.float32)], []

    def plain(x):  # no Python branch on a tensor: traced as written
        return 2.0 * x

    def branching(x):  # `if tensor:` needs autograph (a tf.cond), else the trace fails
        traces.append(len(traces))
        if tf.reduce_sum(x) > 0:
            return x + 1.0
        return x - 1.0

    assert _traced(plain, signature, False)(tf.constant([1.0, 2.0])).numpy().tolist() == [2.0, 4.0]
    twice = _traced(branching, signature, False)
    assert twice(tf.constant([1.0, 2.0])).numpy().tolist() == [2.0, 3.0]
    assert twice(tf.constant([-3.0, 1.0])).numpy().tolist() == [-4.0, 0.0]  # the branch is a tf.cond, not frozen
    assert traces == [0, 1]  # tried without autograph first, then traced once with it, then reused
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):  # what autograph=False alone does
        tf.function(branching, input_signature=signature, autograph=False)(tf.constant([1.0]))


def test_jit_compile_auto_uses_xla_only_where_tensorflow_sees_an_accelerator(lively, hf_tokenizer, monkeypatch):
    from gradcallback.engine.backends import tensorflow as tf_backend

    monkeypatch.setattr(tf_backend, "has_accelerator", lambda: False)  # a CPU: no XLA
    assert Explainer(lively, hf_tokenizer, jit_compile="auto").jit_compile is False
    monkeypatch.setattr(tf_backend, "has_accelerator", lambda: True)
    assert Explainer(lively, hf_tokenizer, jit_compile="auto").jit_compile is True
    assert Explainer(lively, hf_tokenizer, jit_compile=False).jit_compile is False
    with pytest.raises(ValueError, match=r"Received: jit_compile='xla'"):
        Explainer(lively, hf_tokenizer, jit_compile="xla")
    with pytest.raises(ValueError, match=r"Received: jit_compile='yes'"):
        gc.AttributionCallback(gc.ProbeSet.from_texts(["a b"], hf_tokenizer), "runs/x", jit_compile="yes")
