"""Markdown tables built from `Attribution`s, and word-piece aggregation.

Every token is escaped: TensorBoard renders text summaries as Markdown, so a token
like `|`, `<b>` or `![](http://...)` must show literally, never act as markup.
"""

from __future__ import annotations

import string
from collections import defaultdict
from typing import Sequence

import numpy as np

from ..adapters.words import word_spans, word_text
from ..attribution import Attribution, normalize_l1_share

_MARKDOWN = set("\\`*_{}[]()#+-.!|")  # what Python-Markdown (TensorBoard) unescapes; "~" is not markup there
_HTML = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}
_ENTITIES = {entity: ch for ch, entity in _HTML.items()}
_PUNCTUATION = set(string.punctuation)  # what a backslash escapes in CommonMark; includes _MARKDOWN


def is_control(ch: str) -> bool:
    """Whether `ch` is a control character (newlines and tabs too), which `printable` shows as U+XXXX."""
    return ch in "\r\n\t" or ord(ch) < 32 or 0x7F <= ord(ch) < 0xA0


def printable(text: str) -> str:
    """Control characters (NUL, newlines, escapes) made visible as U+XXXX; everything else kept."""
    return "".join(f"U+{ord(ch):04X}" if is_control(ch) else ch for ch in str(text))


def escape_markdown(text: str) -> str:
    """Show `text` literally in Markdown (and the HTML it becomes): no links, images, tags or tables."""
    out = []
    for ch in str(text):
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _MARKDOWN:
            out.append("\\" + ch)
        elif is_control(ch):
            out.append(printable(ch))  # control characters made visible
        else:
            out.append(ch)
    return "".join(out)


def unescape_markdown(markdown: str) -> str:
    r"""The text `escape_markdown` was given: `unescape_markdown(escape_markdown(s)) == s` for any `s`
    without control characters (those it shows as U+XXXX, which cannot be told from typed text).

    One left-to-right pass, so an escaped entity (`&amp;lt;`, from a typed `&lt;`) or an escaped
    backslash before a markup character (`\\\*`, from a typed `\*`) comes back as typed. A backslash
    before any ASCII punctuation is an escape (CommonMark's rule: alert texts written by hand use
    `\<` too); escape_markdown never leaves a backslash before anything else, so the round trip
    holds. Other characters are kept (a backslash before a letter, a bare `&`).
    """
    out, i, text = [], 0, str(markdown)
    while i < len(text):
        entity = next((e for e in _ENTITIES if text.startswith(e, i)), None)
        if entity is not None:
            out.append(_ENTITIES[entity])
            i += len(entity)
        elif text[i] == "\\" and i + 1 < len(text) and text[i + 1] in _PUNCTUATION:
            out.append(text[i + 1])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)



def plain_text(markdown: str) -> str:
    """An alert text (escaped Markdown) as a console shows it: its first line, unescaped."""
    lines = unescape_markdown(markdown).splitlines()
    return lines[0] if lines else ""

def word_groups(a: Attribution) -> list[list[int]]:
    """Token positions of each word of `a`, by its tokenizer's scheme (`adapters.words.word_spans`).
    Special tokens are words of their own."""
    return word_spans(a.tokens, a.scheme, a.special_mask)


def words(a: Attribution) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Word pieces merged into words with summed scores; returns (words, scores, is_special)."""
    special = a.special_mask if a.special_mask is not None else np.zeros(len(a.tokens), bool)
    groups = word_groups(a)
    labels = [a.tokens[g[0]] if special[g[0]] else word_text([a.tokens[i] for i in g], a.scheme) for g in groups]
    scores = np.asarray([float(np.sum(a.scores[g])) for g in groups], np.float32)
    return labels, scores, np.asarray([bool(special[g[0]]) for g in groups], bool)


def units(a: Attribution, aggregate: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(labels, scores, is_special) per token or per word."""
    if aggregate == "word":
        return words(a)
    special = a.special_mask if a.special_mask is not None else np.zeros(len(a.tokens), bool)
    return list(a.tokens), np.asarray(a.scores), np.asarray(special, bool)


def top_tokens_table(attributions: Sequence[Attribution], k: int, aggregate: str = "token",
                     label_names: Sequence[str] | None = None) -> str:
    """Per probe: prediction and the top-k tokens (or words) with their scores."""
    rows = ["| probe | prediction | top tokens (score) |", "|---:|---|---|"]
    for i, a in enumerate(attributions):
        labels, scores, special = units(a, aggregate)
        order = [j for j in np.argsort(-np.abs(scores), kind="stable") if not special[j]][:k]
        top = ", ".join(f"{escape_markdown(labels[j])} ({scores[j]:.3g})" for j in order)
        rows.append(f"| {i} | {escape_markdown(_prediction_text(a, label_names))} | {top} |")
    return "\n".join(rows)


def token_mass_table(attributions: Sequence[Attribution], k: int, aggregate: str = "token", limit: int = 30) -> str:
    """Probe-set table: token, share of all attribution mass, number of probes with it in their top-k."""
    share, in_top = defaultdict(float), defaultdict(int)
    for a in attributions:
        labels, scores, special = units(a, aggregate)
        shares = normalize_l1_share(scores) / max(len(attributions), 1)
        for label, s in zip(labels, shares):
            share[label] += float(s)
        top = [j for j in np.argsort(-np.abs(scores), kind="stable") if not special[j]][:k]
        for label in {labels[j] for j in top}:
            in_top[label] += 1
    ranked = sorted(share, key=lambda t: (-share[t], t))[:limit]
    rows = ["| token | share of mass | probes with it in top-k |", "|---|---:|---:|"]
    rows += [f"| {escape_markdown(t)} | {share[t]:.3f} | {in_top[t]} |" for t in ranked]
    return "\n".join(rows)


def _prediction_text(a: Attribution, label_names: Sequence[str] | None) -> str:
    p = a.prediction
    if a.task in ("question_answering", "causal_lm"):
        return f"{p.answer!r} p={p.probability:.2f}"
    name = label_names[p.label] if label_names and 0 <= p.label < len(label_names) else str(p.label)
    return f"{name} p={p.probability:.2f}"
