"""A logged step's cost: each (method, options) pass once per step, shared by the images and the monitors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from conftest import build_functional_classifier

from gradcallback import AttributionCallback, Drift, ProbeSet, SpuriousGroups
from gradcallback.engine.explain import Explainer

TEXTS = ["the movie was good", "the film was awful", "a great movie", "a terrible film"]


@pytest.fixture
def engine_calls(monkeypatch):
    """(method, steps option) -> how many times the engine was asked for it."""
    calls: Counter = Counter()
    original = Explainer.explain_encoded

    def counted(self, *args, method, **options):
        calls[(method, options.get("steps"))] += 1
        return original(self, *args, method=method, **options)

    monkeypatch.setattr(Explainer, "explain_encoded", counted)
    return calls


def monitors(method: str) -> list:
    return [SpuriousGroups({"film": ["film"]}, method=method), Drift(method=method)]


def test_two_monitors_and_the_images_on_one_method_share_one_pass(tmp_path, hf_tokenizer, engine_calls):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("gradient_norm", "integrated_gradients"),
                                   method_options={"integrated_gradients": {"steps": 4}},
                                   monitors=monitors("integrated_gradients"))
    model = build_functional_classifier(seed=1)
    for step in (0, 1, 2):
        callback.log_now(step, model=model)
    callback.close()
    assert engine_calls == {("gradient_norm", None): 3, ("integrated_gradients", 4): 3}


def test_monitor_options_give_the_monitors_one_pass_of_their_own(tmp_path, hf_tokenizer, engine_calls):
    probes = ProbeSet.from_texts(TEXTS, hf_tokenizer)
    callback = AttributionCallback(probes, tmp_path, methods=("integrated_gradients",),
                                   method_options={"integrated_gradients": {"steps": 4, "every": 2}},
                                   monitor_options={"integrated_gradients": {"steps": 2}},
                                   monitors=monitors("integrated_gradients"))
    model = build_functional_classifier(seed=1)
    for step in (0, 1, 2):
        callback.log_now(step, model=model)
    assert [a.info["steps"] for a in callback.monitors[1].first] == [2] * len(TEXTS)
    callback.close()
    # The images' pass at steps 0 and 2 (every 2), the monitors' own at every step.
    assert engine_calls == {("integrated_gradients", 4): 2, ("integrated_gradients", 2): 3}


@pytest.mark.parametrize("options, message", [
    ({"gradient_norm": {}}, "methods the monitors read"),
    ({"integrated_gradients": {"every": 2}}, "take no `every`"),
    ({"integrated_gradients": {"stpes": 2}}, "stpes"),
])
def test_monitor_options_are_checked_in_the_constructor(tmp_path, hf_tokenizer, options, message):
    with pytest.raises(ValueError, match=message):
        AttributionCallback(ProbeSet.from_texts(TEXTS, hf_tokenizer), tmp_path, monitor_options=options,
                            monitors=monitors("integrated_gradients"))


def test_identical_perturbed_inputs_run_once(hf_tokenizer):
    """Faithfulness asks for the same variant under several names (comprehensiveness@1 and AOPC's 1% bin):
    forward passes run each distinct input once, and every caller gets its row back."""
    from gradcallback.engine.heads import HEADS
    from gradcallback.engine.score import score_function

    explainer = Explainer(build_functional_classifier(seed=2), hf_tokenizer)
    encodings = explainer.encode(TEXTS, "classification")
    alone = explainer.class_distributions(encodings)
    function = score_function(explainer.adapter, HEADS["class"], explainer.jit_compile)
    rows = function.rows
    repeated = explainer.class_distributions([encodings[i] for i in (2, 0, 2, 1, 0, 3, 3)])
    assert function.rows - rows == 4
    np.testing.assert_allclose(repeated, alone[[2, 0, 2, 1, 0, 3, 3]], rtol=1e-6)
