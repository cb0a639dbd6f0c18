"""One shared test class run against every model adapter and model family."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import tensorflow as tf

from gradcallback import Explainer
from gradcallback.adapters import KerasAdapter, TransformersTFAdapter, get_adapter

from conftest import build_functional_classifier, build_hf, build_keras_hub_classifier

TEXT = "the cat sat on the mat"
PAIR = ("where did the cat sat ?", "the cat sat on the mat in paris")


@dataclass
class Case:
    model: Any
    tokenizer: Any
    task: str
    adapter: type
    run_ids: Callable[[np.ndarray, np.ndarray, np.ndarray], Any]  # the model's own forward from ids


def _hf_case(family, task, tokenizer):
    model = build_hf(family, task)
    takes_segments = family != "distilbert"

    def run_ids(ids, mask, segments):
        inputs = {"input_ids": ids, "attention_mask": mask}
        if takes_segments:
            inputs["token_type_ids"] = segments
        out = model(inputs, training=False)
        return {k: getattr(out, k).numpy() for k in ("logits", "start_logits", "end_logits") if hasattr(out, k)}

    return Case(model, tokenizer, task, TransformersTFAdapter, run_ids)


def _keras_hub_case(tokenizer, as_preprocessor):
    model = build_keras_hub_classifier(tokenizer)

    def run_ids(ids, mask, segments):
        return {"logits": model({"token_ids": ids, "padding_mask": mask, "segment_ids": segments},
                                training=False).numpy()}

    return Case(model, model.preprocessor if as_preprocessor else tokenizer, "classification", KerasAdapter, run_ids)


def _functional_case(tokenizer):
    model = build_functional_classifier()
    return Case(model, tokenizer, "classification", KerasAdapter,
                lambda ids, mask, segments: {"logits": model(ids, training=False).numpy()})


HF_CASES = [(f, t) for f in ("bert", "distilbert", "roberta", "electra")
            for t in ("classification", "question_answering", "token_classification")]
CASE_IDS = [f"hf-{f}-{t}" for f, t in HF_CASES] + ["keras-hub", "keras-hub-preprocessor", "keras-functional"]


@pytest.fixture(scope="module", params=CASE_IDS)
def case(request, hf_tokenizer, keras_hub_tokenizer):
    name = request.param
    if name.startswith("hf-"):
        _, family, task = name.split("-")
        return _hf_case(family, task, hf_tokenizer)
    if name.startswith("keras-hub"):
        return _keras_hub_case(keras_hub_tokenizer, as_preprocessor=name.endswith("preprocessor"))
    return _functional_case(hf_tokenizer)


def _inputs(case):
    return [PAIR] if case.task == "question_answering" else [TEXT]


def _target(case):
    return 3 if case.task == "token_classification" else None


class TestAdapterContract:
    def test_picks_the_adapter_and_detects_the_task(self, case):
        adapter = get_adapter(case.model)
        assert isinstance(adapter, case.adapter)
        assert adapter.detect_task() == case.task
        assert get_adapter(case.model) is adapter  # created once per model

    def test_forward_from_embeddings_equals_forward_from_ids(self, case):
        explainer = Explainer(case.model, case.tokenizer)
        enc = explainer.encode(_inputs(case))[0]
        ids, mask, segments = (tf.constant([a], tf.int32) for a in (enc.ids, np.ones_like(enc.ids), enc.segment_ids))
        ours = explainer.adapter.forward(explainer.adapter.word_embeddings(ids), ids, mask, segments)
        theirs = case.run_ids(ids, mask, segments)
        assert set(ours) == set(theirs)
        for name in ours:
            np.testing.assert_allclose(ours[name].numpy(), theirs[name], rtol=1e-5, atol=1e-6)

    def test_explain_gives_finite_scores_for_every_token(self, case):
        a = Explainer(case.model, case.tokenizer).explain(_inputs(case), target=_target(case))[0]
        assert len(a.tokens) == len(a.scores) == len(a.token_ids) and a.task == case.task
        assert a.tokens[0] in ("[CLS]",) and np.isfinite(a.scores).all()
        assert (a.scores[~a.special_mask] > 0).all()  # every content token moves the target
        assert np.isfinite(a.prediction.probability)

    def test_padding_does_not_change_scores(self, case):
        explainer = Explainer(case.model, case.tokenizer)
        longer = [(PAIR[0], PAIR[1] + " and the dog ran fast at the river")] if case.task == "question_answering" \
            else [TEXT + " and the dog ran fast at the river"]
        alone = explainer.explain(_inputs(case), target=_target(case))[0]
        mixed = explainer.explain(longer + _inputs(case), target=_target(case))[1]
        np.testing.assert_allclose(mixed.scores, alone.scores, rtol=1e-4, atol=1e-6)
        assert mixed.target == alone.target


def test_named_embedding_layer(keras_hub_tokenizer):
    model = build_functional_classifier(seed=3)
    adapter = KerasAdapter(model, embedding_layer="tokens")
    assert adapter.layer.name == "tokens"
    with pytest.raises(ValueError, match="Received: embedding_layer='nope'"):
        KerasAdapter(model, embedding_layer="nope")
