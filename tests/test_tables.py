"""Markdown escaping, word-piece aggregation and scalar statistics, with literal numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from gradcallback.analysis import metrics
from gradcallback.attribution import Attribution, Prediction
from gradcallback.views import tables


def make(tokens, scores, special=None, **kw) -> Attribution:
    special = np.array([t in ("[CLS]", "[SEP]", "<s>", "</s>") for t in tokens]) if special is None else special
    return Attribution(tokens=tokens, token_ids=np.arange(len(tokens)), scores=np.asarray(scores, np.float32),
                       method="gradient_norm", target=0, special_mask=special,
                       prediction=kw.pop("prediction", Prediction(label=0, probability=0.5)), **kw)


@pytest.mark.parametrize("token, shown", [
    ("|", "\\|"), ("<b>", "&lt;b&gt;"), ("<script>", "&lt;script&gt;"),
    ("](javascript:", "\\]\\(javascript:"), ("![](http://x.io/a.png)", "\\!\\[\\]\\(http://x\\.io/a\\.png\\)"),
    ("a\nb", "aU+000Ab"), ("\x00", "U+0000"), ("서울", "서울"), ("**", "\\*\\*"),
])
def test_escape_markdown(token, shown):
    assert tables.escape_markdown(token) == shown


HOSTILE = ["\\", "\\\\", "a\\", "\\*", "\\\\*", "*_[]<>&|#", "&lt;", "&amp;lt;", "\\&amp;", "&&;", "<\\>",
           "`code` {x} (y) +-.!", "\\\\\\_", "&quot;\"", "~~s~~", "서울 ##ik Ġat ▁x", ""]


@pytest.mark.parametrize("text", HOSTILE)
def test_unescape_markdown_inverts_escape_markdown(text):
    escaped = tables.escape_markdown(text)
    assert tables.unescape_markdown(escaped) == text
    from gradcallback.views.tables import plain_text  # the console's alert line: the same inverse

    assert plain_text(escaped) == text


def test_unescape_markdown_keeps_what_is_not_an_escape():
    assert tables.unescape_markdown("a\\b & c\\") == "a\\b & c\\"  # \b is no Markdown escape; a bare &
    assert tables.unescape_markdown("\\\\\\*&amp;gt;") == "\\*&gt;"
    assert tables.unescape_markdown("50\\.0% \\<b\\> &lt;i&gt;") == "50.0% <b> <i>"  # a hand-escaped <
    assert tables.unescape_markdown("**bold** line\nsecond") == "**bold** line\nsecond"


def test_words_merge_wordpiece_bpe_and_sentencepiece():
    wordpiece = make(["[CLS]", "at", "##ik", "##u", "won", "[SEP]"], [0.5, 1, 2, 3, 4, 0.25])
    assert tables.words(wordpiece)[0] == ["[CLS]", "atiku", "won", "[SEP]"]
    np.testing.assert_allclose(tables.words(wordpiece)[1], [0.5, 6, 4, 0.25])
    bpe = make(["<s>", "The", "Ġat", "ik", "u", "Ġwon", "</s>"], [0, 1, 2, 3, 4, 5, 0])
    assert tables.words(bpe)[0] == ["<s>", "The", "atiku", "won", "</s>"]
    np.testing.assert_allclose(tables.words(bpe)[1], [0, 1, 9, 5, 0])
    sp = make(["[CLS]", "▁at", "iku", "▁won", "[SEP]"], [0, 1, 2, 3, 0])
    assert tables.words(sp)[0] == ["[CLS]", "atiku", "won", "[SEP]"]


def test_token_mass_table_shares_and_top_counts():
    a = make(["[CLS]", "cat", "dog", "[SEP]"], [0, 3, 1, 0])
    b = make(["[CLS]", "cat", "[SEP]"], [1, 1, 0])
    table = tables.token_mass_table([a, b], k=1)
    rows = {line.split("|")[1].strip(): line.split("|")[2:4] for line in table.splitlines()[2:]}
    # cat: (3/4 + 1/2) / 2 = 0.625, in the top-1 of both probes; [CLS]: (0 + 1/2) / 2
    assert [v.strip() for v in rows["cat"]] == ["0.625", "2"]
    assert [v.strip() for v in rows["\\[CLS\\]"]] == ["0.250", "0"]


def test_top_tokens_table_skips_special_tokens():
    a = make(["[CLS]", "cat", "dog", "[SEP]"], [9, 3, -4, 0])
    row = tables.top_tokens_table([a], k=2, label_names=["animal"]).splitlines()[2]
    assert row == "| 0 | animal p=0\\.50 | dog (-4), cat (3) |"


def test_spearman_and_ranks_literal():
    np.testing.assert_allclose(metrics.rankdata(np.array([10.0, 20.0, 20.0, 5.0])), [2, 3.5, 3.5, 1])
    assert metrics.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert metrics.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert metrics.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert metrics.spearman([0, 0], [0, 0]) == 1.0 and metrics.spearman([0, 0], [1, 2]) == 0.0


def test_probe_set_statistics():
    a = make(["[CLS]", "cat", "[SEP]"], [1, 2, 1], prediction=Prediction(label=1, probability=0.9))
    b = make(["[CLS]", "dog", "[SEP]"], [0, 1, 0], prediction=Prediction(label=0, probability=0.7))
    assert metrics.special_token_share([a, b]) == pytest.approx(0.25)  # (2/4 + 0) / 2
    assert metrics.mean_confidence([a, b]) == pytest.approx(0.8)
    assert metrics.accuracy([a, b], [1, 1]) == 0.5
    assert metrics.accuracy([a, b], [1, None]) == 1.0  # an unlabelled probe counts neither way
    tagged = make(["[CLS]", "paris", "[SEP]"], [0, 1, 0], prediction=Prediction(label=3, probability=0.6))
    tagged = replace(tagged, task="token_classification", target=(1, 3))  # class 3 at position 1
    assert metrics.correct(tagged, [0, 3, 0]) is True and metrics.correct(tagged, [0, 2, 0]) is False


def test_convergence_stats():
    a = make(["[CLS]", "x", "[SEP]"], [0, 1, 0], convergence_delta=-0.02, score=3.0, info={"baseline_score": 1.0})
    b = make(["[CLS]", "x", "[SEP]"], [0, 1, 0], convergence_delta=0.1, score=0.5, info={"baseline_score": 0.0})
    stats = metrics.convergence_stats([a, b])
    assert stats == pytest.approx({"mean_abs": 0.06, "max_abs": 0.1, "mean_rel": 0.105, "max_rel": 0.2})
