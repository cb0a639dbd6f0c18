"""Property-based bad input (hypothesis): random Unicode, control characters, hostile Markdown and HTML,
empty and overlong texts, through explain, rendering, Markdown, JSONL and the HTML report."""

from __future__ import annotations

import html
import json
import re
import warnings

import numpy as np
import pytest
from conftest import build_hf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.plugin_util import markdown_to_safe_html

from gradcallback import Alert, Attribution, Prediction, explain
from gradcallback.cli.html_report import as_html
from gradcallback.cli.report import summarize
from gradcallback.io.runs import Run
from gradcallback.io.writers import JsonlWriter
from gradcallback.views import images as render
from gradcallback.views.tables import escape_markdown, top_tokens_table

HOSTILE = ["|", "<script>alert(1)</script>", "](javascript:alert(1))", "![](http://tracker.example/p.png)",
           "\u202eevil", "e\u0301", "\x00", "\x07", "😀", "大韓民國", "한국어", "日本語", "**bold**", "`code`",
           "<img src=x onerror=alert(1)>", "&amp;", "\\", "[SEP]", "\n\n# title", "  ", "\t"]
CHARS = st.characters(exclude_categories=("Cs",))  # every code point a Python str can carry
TEXTS = st.lists(st.one_of(st.text(CHARS, max_size=12), st.sampled_from(HOSTILE)), max_size=8).map("".join)
TOKENS = st.lists(st.one_of(st.text(CHARS, min_size=1, max_size=10), st.sampled_from(HOSTILE)), min_size=1, max_size=12)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def model():
    return build_hf("bert", "classification", seed=1)


def attribution(tokens: list[str], seed: int = 0) -> Attribution:
    scores = np.random.default_rng(seed).normal(size=len(tokens)).astype(np.float32)
    return Attribution(tokens=tokens, token_ids=np.arange(len(tokens), dtype=np.int32), scores=scores,
                       method="gradient_x_input", target=0,
                       prediction=Prediction(label=0, probabilities=np.array([0.6, 0.4]), probability=0.6),
                       special_mask=np.zeros(len(tokens), bool), segment_ids=np.zeros(len(tokens), np.int32))


def visible_text(safe_html: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", safe_html))


@SETTINGS
@given(text=TEXTS)
def test_explain_any_text(model, hf_tokenizer, text):
    if not text.strip():
        with pytest.raises(ValueError, match="Empty text"):
            explain(model, hf_tokenizer, [text])
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # truncation warnings for the long ones
        (a,) = explain(model, hf_tokenizer, [text], method="integrated_gradients", steps=4)
    assert len(a.tokens) == len(a.scores) and np.isfinite(a.scores).all() and np.isfinite(a.convergence_delta)


def test_text_far_beyond_the_model_limit_truncates_with_one_warning(model, hf_tokenizer):
    with pytest.warns(UserWarning, match="Truncated to max_length=64") as caught:
        (a,) = explain(model, hf_tokenizer, ["good movie " * 500])
    assert len(caught) == 1 and "(0, 938)" in str(caught[0].message)  # which probe, how many dropped
    assert len(a.tokens) == 64 and np.isfinite(a.scores).all()


@SETTINGS
@given(token=st.one_of(st.text(CHARS, min_size=1, max_size=20), st.sampled_from(HOSTILE)))
def test_tensorboard_shows_every_token_literally(token):
    """Through TensorBoard's own Markdown renderer: no link, image or tag, and the text as written
    (control characters shown as U+XXXX)."""
    shown = markdown_to_safe_html(escape_markdown(token))
    assert not re.search(r"<(a|img|script|h\d|strong|em|code)\b", shown)
    expected = "".join(f"U+{ord(c):04X}" if c in "\r\n\t" or ord(c) < 32 or 0x7F <= ord(c) < 0xA0 else c
                       for c in token)
    assert visible_text(shown).strip() == expected.strip()


@SETTINGS
@given(tokens=TOKENS)
def test_tables_images_jsonl_and_html_with_hostile_tokens(tokens, tmp_path_factory):
    a = attribution(tokens)
    table = top_tokens_table([a], k=5)
    assert "<script" not in markdown_to_safe_html(table) and "<img" not in markdown_to_safe_html(table)
    for pixels in (render.heatmap(a, signed=True), render.bars(a, signed=True),
                   render.evolution([(0, a), (1, a)], signed=True)):
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
    path = tmp_path_factory.mktemp("jsonl") / "records.jsonl"
    writer = JsonlWriter(path)
    writer.write({"step": 0, "tokens": a.tokens, "scores": a.scores})
    writer.close()
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"] == tokens
    record = {"step": 0, "epoch": 0, "kind": "attribution", "probe": 0, "method": "gradient_x_input",
              "tokens": tokens, "scores": a.scores.tolist(), "label": 0}
    alert = Alert("spurious", " ".join(tokens), 0, "where_present share", 0.5, 0.2, "warn", "gradient_x_input",
                  f"group {' '.join(tokens)} holds 50%")
    run = Run(path.parent, records=[record], alerts=[alert])
    page = as_html(run, summarize(run))
    assert not re.search(r"<(script|a)\b", page) and not re.search(r"<img(?![^>]*data:image/png)", page)
