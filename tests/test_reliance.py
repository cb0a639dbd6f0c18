"""The group's masking effect (analysis.reliance): literal on a hand-set bag of words, zero for an unused word."""

from __future__ import annotations

import numpy as np
import pytest
from test_faithfulness import PROBES, river_model

from gradcallback import Explainer
from gradcallback.analysis.groups import check_groups
from gradcallback.analysis.reliance import SIGMA_FLOOR, masking_effect


def effect(tokenizer, river: float, words=("river",)) -> dict:
    explainer = Explainer(river_model(tokenizer, river), tokenizer)
    encodings = explainer.encode(PROBES)
    attributions = explainer.explain_encoded(PROBES, encodings, task="classification", method="gradient_norm")
    spec = check_groups({"watched": list(words)})["watched"]
    return masking_effect(explainer, attributions, encodings, spec, replacement=tokenizer.mask_token_id)


def test_masking_a_used_word_moves_the_prediction(hf_tokenizer):
    figures = effect(hf_tokenizer, river=12.0)
    # The three probes holding "river" (test_faithfulness spells out the logits): p(class 1) 0.8650 -> 0.5357
    # twice (TV 0.3293) and 0.8621 -> 0.4584 once (TV 0.4037, the prediction flips). Mean 0.3541.
    assert figures["probes"] == 3 and figures["flips"] == pytest.approx(1 / 3)
    assert figures["change"] == pytest.approx(0.3541, abs=1e-4)
    # The null masks one random other content word instead: a filler moves nothing ([MASK] pushes nothing,
    # the length stays), a sentiment word about 0.02, so its spread is under the floor.
    assert figures["null_mean"] < 0.02 and figures["null_sd"] < SIGMA_FLOOR
    assert figures["z"] == pytest.approx((figures["change"] - figures["null_mean"]) * np.sqrt(3) / SIGMA_FLOOR)


def test_masking_an_unused_word_moves_nothing(hf_tokenizer):
    figures = effect(hf_tokenizer, river=0.0)
    assert figures["probes"] == 3 and figures["change"] == pytest.approx(0.0, abs=1e-6) and figures["flips"] == 0
    assert figures["z"] <= 0  # no more than masking random words of the same probes


def test_no_probe_holds_the_group(hf_tokenizer):
    assert effect(hf_tokenizer, river=12.0, words=("lake",)) == {
        "change": 0.0, "flips": 0.0, "z": 0.0, "probes": 0, "null_mean": 0.0, "null_sd": 0.0}
