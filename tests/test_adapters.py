"""One shared test class run against every model adapter, model family and backend.

The Keras 3 cases are marked `backends`: `make test` runs them again with KERAS_BACKEND=jax and
KERAS_BACKEND=torch. The transformers TF cases run in the TensorFlow process only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np
import pytest
from conftest import build_functional_classifier, build_hf, needs_backend
from hub_models import CLASSIFIER_FAMILIES, build_causal_lm, build_classifier, set_deterministic_weights

from gradcallback import Explainer
from gradcallback.adapters import get_adapter

TEXT = "the cat sat on the mat"
PAIR = ("where did the cat sat ?", "the cat sat on the mat in paris")
PROMPT = "the cat sat on the"


@dataclass
class Case:
    model: Any
    tokenizer: Any
    task: str
    adapter: str
    run_ids: Callable[[np.ndarray, np.ndarray, np.ndarray], dict]  # the model's own forward from ids


def _hf_case(family, task, tokenizer):
    model = build_hf(family, task)
    takes_segments = family != "distilbert"

    def run_ids(ids, mask, segments):
        inputs = {"input_ids": ids, "attention_mask": mask}
        if takes_segments:
            inputs["token_type_ids"] = segments
        out = model(inputs, training=False)
        return {k: getattr(out, k).numpy() for k in ("logits", "start_logits", "end_logits") if hasattr(out, k)}

    return Case(model, tokenizer, task, "TransformersTFAdapter", run_ids)


def _hub_case(family, via="preprocessor"):
    model = build_causal_lm() if family == "gpt2" else build_classifier(family)
    set_deterministic_weights(model, scale=0.3)  # lively: tiny default initializers give ~0 gradients
    names = [i.name for i in model.inputs]

    def run_ids(ids, mask, segments):
        by_name = {"token_ids": ids, "padding_mask": mask, "segment_ids": segments}
        out = model({n: by_name[n] for n in names}, training=False)
        return {"logits": keras.ops.convert_to_numpy(out)}

    tokenizer = model.preprocessor if via == "preprocessor" else model.preprocessor.tokenizer
    return Case(model, tokenizer, "causal_lm" if family == "gpt2" else "classification", "KerasAdapter", run_ids)


def _functional_case(tokenizer):
    model = build_functional_classifier()
    return Case(model, tokenizer, "classification", "KerasAdapter",
                lambda ids, mask, segments: {"logits": keras.ops.convert_to_numpy(model(ids, training=False))})


HF_CASES = [f"hf-{f}-{t}" for f in ("bert", "distilbert", "roberta", "electra")
            for t in ("classification", "question_answering", "token_classification")]
KERAS_CASES = [f"hub-{f}" for f in CLASSIFIER_FAMILIES] + ["hub-bert-tokenizer", "hub-gpt2", "keras-functional"]
CASES = HF_CASES + [pytest.param(name, marks=pytest.mark.backends) for name in KERAS_CASES]


@pytest.fixture(scope="module", params=CASES)
def case(request, hf_tokenizer):
    name = request.param
    if name.startswith("hf-"):
        if keras.backend.backend() != "tensorflow":
            pytest.skip(needs_backend("tensorflow", "A transformers TF model"))
        _, family, task = name.split("-")
        return _hf_case(family, task, hf_tokenizer)
    if name.startswith("hub-"):
        parts = name.split("-")
        return _hub_case(parts[1], via="tokenizer" if parts[-1] == "tokenizer" else "preprocessor")
    return _functional_case(hf_tokenizer)


def _inputs(case):
    return {"question_answering": [PAIR], "causal_lm": [PROMPT]}.get(case.task, [TEXT])


def _target(case):
    return 3 if case.task == "token_classification" else None


def _longer(case):
    if case.task == "question_answering":
        return [(PAIR[0], PAIR[1] + " and the dog ran fast at the river")]
    if case.task == "causal_lm":
        return ["the dog ran fast at the river and the cat sat on the"]
    return [TEXT + " and the dog ran fast at the river"]


def _patched(model) -> list[str]:
    """Names of the model's layers with an instance attribute `call`: what an adapter's patch installs."""
    layers = model._flatten_layers(include_self=False, recursive=True)
    return [layer.name for layer in layers if "call" in vars(layer)]


class TestAdapterContract:
    def test_picks_the_adapter_and_detects_the_task(self, case):
        adapter = get_adapter(case.model)
        assert type(adapter).__name__ == case.adapter
        assert adapter.detect_task() == case.task
        assert get_adapter(case.model) is adapter  # created once per model
        assert adapter.backend == ("tensorflow" if case.adapter == "TransformersTFAdapter"
                                   else keras.backend.backend())

    def test_forward_from_embeddings_equals_forward_from_ids(self, case):
        explainer = Explainer(case.model, case.tokenizer)
        enc = explainer.encode(_inputs(case), case.task)[0]
        ids, mask, segments = (np.array([a], np.int32) for a in (enc.ids, np.ones_like(enc.ids), enc.segment_ids))
        embeds = explainer.adapter.word_embeddings(ids)
        tensors = [keras.ops.convert_to_tensor(a) for a in (embeds, ids, mask, segments)]
        if case.adapter == "TransformersTFAdapter":
            import tensorflow as tf

            tensors = [tf.constant(a) for a in (embeds, ids, mask, segments)]
        with explainer.adapter.attached():
            ours = explainer.adapter.forward(*tensors)
        theirs = case.run_ids(ids, mask, segments)
        assert set(ours) == set(theirs)
        for name in ours:
            np.testing.assert_allclose(keras.ops.convert_to_numpy(ours[name]), theirs[name], rtol=1e-4, atol=1e-5)

    def test_explain_gives_finite_scores_for_every_token(self, case):
        a = Explainer(case.model, case.tokenizer).explain(_inputs(case), target=_target(case))[0]
        assert len(a.tokens) == len(a.scores) == len(a.token_ids) and a.task == case.task
        assert a.special_mask[0] and np.isfinite(a.scores).all()
        assert (a.scores[~a.special_mask] > 0).all()  # every content token moves the target
        assert np.isfinite(a.prediction.probability)

    def test_padding_does_not_change_scores(self, case):
        explainer = Explainer(case.model, case.tokenizer)
        alone = explainer.explain(_inputs(case), target=_target(case))[0]
        mixed = explainer.explain(_longer(case) + _inputs(case), target=_target(case))[1]
        np.testing.assert_allclose(mixed.scores, alone.scores, rtol=1e-4, atol=1e-6)
        assert mixed.target == alone.target

    def test_nothing_stays_attached_after_explain(self, case):
        """Every case: no layer keeps an instance `call` (our patches' mark) and the model's own forward
        from ids gives what it gave before explain(). Keras adapters patch inside `attached()`, and the
        check sees it there; the transformers adapter feeds `inputs_embeds` and patches nothing."""
        explainer = Explainer(case.model, case.tokenizer)
        enc = explainer.encode(_inputs(case), case.task)[0]
        ids, mask, segments = (np.array([a], np.int32) for a in (enc.ids, np.ones_like(enc.ids), enc.segment_ids))
        before = case.run_ids(ids, mask, segments)
        with explainer.adapter.attached():
            inside = _patched(case.model)
        if case.adapter == "KerasAdapter":
            assert get_adapter(case.model).layer.name in inside  # the token Embedding, patched while attached
        else:
            assert inside == []
        explainer.explain(_inputs(case), target=_target(case))
        assert _patched(case.model) == []
        after = case.run_ids(ids, mask, segments)
        assert set(after) == set(before) and all(np.array_equal(after[k], before[k]) for k in before)


@pytest.mark.backends
@pytest.mark.parametrize("family", CLASSIFIER_FAMILIES)
def test_encodings_match_the_preprocessors_own_layout(family):
    """Special tokens come from the preprocessor (RoBERTa separates a pair with two </s>)."""
    model = build_classifier(family)
    explainer = Explainer(model, model.preprocessor)
    for text, task, segments in ((TEXT, "classification", [TEXT]), (PAIR, "question_answering",
                                                                    ([PAIR[0]], [PAIR[1]]))):
        ours = explainer.tokenizer.encode(text, None, task)
        packed = model.preprocessor(x=tuple(segments) if task != "classification" else segments)
        theirs = keras.ops.convert_to_numpy(packed["token_ids"]).reshape(-1)
        assert ours.ids.tolist() == theirs[: len(ours.ids)].tolist()
        assert (theirs[len(ours.ids):] == explainer.tokenizer.special_id("pad")).all()


@pytest.mark.backends
def test_causal_lm_explains_the_next_token(hf_tokenizer):
    model = build_causal_lm()
    set_deterministic_weights(model, scale=0.3)
    predicted = Explainer(model, model.preprocessor).explain([PROMPT, "the dog ran"])
    a = predicted[0]
    assert a.task == "causal_lm" and a.target[0] == len(a.tokens) - 1  # the last prompt position
    assert a.tokens[0] == "<|endoftext|>" and a.tokens[-1] == "Ġthe"  # a start token, no end token
    assert a.target[1] == a.prediction.label and a.info["target_token"] == a.prediction.answer
    logits = keras.ops.convert_to_numpy(model({"token_ids": np.array([a.token_ids]),
                                               "padding_mask": np.ones((1, len(a)), bool)}))[0, -1]
    assert a.prediction.label == int(np.argmax(logits))
    np.testing.assert_allclose(a.score, logits[a.prediction.label], rtol=1e-4)
    mat = model.preprocessor.tokenizer.token_to_id("Ġmat")
    given = Explainer(model, model.preprocessor).explain([PROMPT], target=mat)[0]  # a token id: that next token
    assert given.info["target_token"] == "Ġmat" and given.target[1] == mat != a.target[1]
    text = Explainer(model, model.preprocessor).explain([PROMPT], target=" mat")[0]  # text: a continuation
    assert text.info["target_tokens"] == ["Ġmat"] and text.target == given.target
    np.testing.assert_allclose(text.info["token_scores"][0], text.scores)  # one token: its row is the sequence
    two = Explainer(model, model.preprocessor).explain([PROMPT], target=" the mat")[0]  # text of two tokens
    assert two.info["target_tokens"] == ["Ġthe", "Ġmat"] and two.info["token_scores"].shape == (2, len(two))


@pytest.mark.backends
def test_bad_models_and_tokenizers_fail_clearly(hf_tokenizer):
    import keras_hub

    ids = keras.Input((8,), dtype="int32")
    no_embedding = keras.Model(ids, keras.layers.Dense(2)(keras.layers.Rescaling(0.1)(ids)))
    with pytest.raises(ValueError, match="token `keras.layers.Embedding`"):
        Explainer(no_embedding, hf_tokenizer)
    bare = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=["[UNK]", "the", "cat"])
    with pytest.raises(ValueError, match="without special tokens"):
        Explainer(build_functional_classifier(), bare)


def test_named_embedding_layer():
    from gradcallback.adapters.keras import KerasAdapter

    model = build_functional_classifier(seed=3)
    adapter = KerasAdapter(model, embedding_layer="tokens")
    assert adapter.layer.name == "tokens"
    with pytest.raises(ValueError, match="Received: embedding_layer='nope'"):
        KerasAdapter(model, embedding_layer="nope")
