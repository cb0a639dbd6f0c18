"""Question answering over contexts longer than the model: windows with a stride, the answer chosen
across windows, attributions on the whole context. Classification still truncates with one warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradcallback import AttributionCallback, Explainer, ProbeSet
from gradcallback.engine.windows import split, take
from gradcallback.io.runs import read_run

QUESTION = "what is the capital of france"
LONG = " ".join(["the cat sat on the mat and the dog ran fast"] * 12 + ["paris is the capital city of france"])


def test_windows_cover_the_context_with_the_stride(hf_tokenizer, hf_qa):
    explainer = Explainer(hf_qa, hf_tokenizer)
    full = explainer.tokenizer.encode((QUESTION, LONG), None)
    windows = split(full, 64, stride=16)
    context = set(np.flatnonzero(full.context_mask).tolist())
    covered = set()
    for positions in windows:
        assert len(positions) <= 64
        window = take(full, positions)
        assert window.special_mask.sum() == full.special_mask.sum()  # [CLS], [SEP], [SEP] in every window
        assert (window.segment_ids == full.segment_ids[positions]).all()
        covered |= set(positions[window.context_mask].tolist())
    assert covered == context and len(windows) > 2
    shared = set(windows[0][take(full, windows[0]).context_mask]) & set(windows[1][take(full, windows[1]).context_mask])
    assert len(shared) == 16  # neighbours share `stride` context tokens


def test_long_context_answer_chosen_across_windows(hf_tokenizer, hf_qa):
    explainer = Explainer(hf_qa, hf_tokenizer, doc_stride=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no truncation warning: nothing is dropped
        (a,) = explainer.explain([(QUESTION, LONG)], method="gradient_norm")
    full = explainer.tokenizer.encode((QUESTION, LONG), None)
    assert len(a.tokens) == len(full.ids) > 64 and (a.token_ids == full.ids).all()  # the whole context
    first, last = a.info["window"]
    assert a.info["windows"] > 2
    assert (a.scores[np.flatnonzero(full.context_mask)[0]: first] == 0).all()  # outside the window: 0
    assert np.abs(a.scores[first: last + 1]).sum() > 0
    start, end = a.prediction.span
    assert first <= start <= end <= last and full.context_mask[start: end + 1].all()
    assert a.prediction.answer == LONG[full.offsets[start][0]: full.offsets[end][1]]
    # the chosen window is the one with the best span score
    windows = split(full, explainer.max_length, 16)
    each = explainer.explain_encoded([(QUESTION, LONG)] * len(windows), [take(full, p) for p in windows],
                                     task="question_answering", method="gradient_norm")
    assert a.score == pytest.approx(max(w.score for w in each))


def test_short_context_is_unchanged(hf_tokenizer, hf_qa):
    explainer = Explainer(hf_qa, hf_tokenizer)
    (a,) = explainer.explain([(QUESTION, "paris is the capital city of france")], method="gradient_norm")
    assert "windows" not in a.info and a.tokens == [
        "[CLS]", "what", "is", "the", "capital", "of", "france", "[SEP]",
        "paris", "is", "the", "capital", "city", "of", "france", "[SEP]"]
    assert a.prediction.span == (11, 14) and a.prediction.answer == "capital city of france"
    # the span's start and end logits move with their own token's embedding, every other token's barely
    np.testing.assert_allclose(a.scores[[11, 14]], [1.6829, 2.1775], rtol=2e-3)
    assert np.abs(np.delete(a.scores, [11, 14])).max() < 1e-3
    # the stride only matters between windows: a one-window context gives the same scores with any stride
    (b,) = Explainer(hf_qa, hf_tokenizer, doc_stride=3).explain([(QUESTION, "paris is the capital city of france")],
                                                               method="gradient_norm")
    np.testing.assert_array_equal(a.scores, b.scores)


def test_callback_explains_long_qa_probes_over_windows(tmp_path, hf_tokenizer, hf_qa):
    probes = ProbeSet.from_qa([QUESTION], [LONG], hf_tokenizer, answers=["paris"])
    callback = AttributionCallback(probes, tmp_path, jit_compile=False)
    callback.log_now(0, model=hf_qa)
    callback.close()
    (a,) = callback.history["gradient_norm"][0][1]
    assert len(a.tokens) == 148 and a.info["windows"] == 4 and a.info["window"] == (8, 62)
    (direct,) = Explainer(hf_qa, hf_tokenizer).explain([(QUESTION, LONG)], method="gradient_norm")
    np.testing.assert_array_equal(a.scores, direct.scores)  # the callback's windows are explain()'s
    assert a.prediction.span == (38, 40) and a.prediction.answer == "dog ran fast"  # an untrained model
    run = read_run(callback.run_dir)
    assert run.scalars["probes/accuracy"] == {0: 0.0}  # "dog ran fast" is not the labelled "paris"


def test_classification_truncates_with_one_warning_naming_the_probe(hf_tokenizer, hf_classifier):
    explainer = Explainer(hf_classifier, hf_tokenizer)
    with pytest.warns(UserWarning, match=r"Truncated to max_length=64 tokens \(probe, tokens dropped\): \[\(1, ") as w:
        attributions = explainer.explain(["a good movie", LONG], method="gradient_norm")
    assert len(w) == 1 and len(attributions[1].tokens) == 64
