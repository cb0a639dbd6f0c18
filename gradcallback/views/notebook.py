"""Attributions inline in Jupyter: tokens coloured with the images' colour scales, as HTML.

`Attribution._repr_html_` and `AttributionList._repr_html_` (what `explain()` returns) call
`attribution_html` and `attributions_html`; `show()` adds label names and true labels, and
`side_by_side()` puts several methods of the same probes in columns. Styles are inline
(some notebook viewers drop <style> blocks), and every token, text and label goes through
`html.escape`: a token `<script>` shows literally.
"""

from __future__ import annotations

from html import escape
from typing import Any, Mapping, Sequence

import numpy as np

from ..attribution import Attribution
from ..engine.registry import is_signed
from .images import SPAN_OUTLINE, _ink, colours, header_lines
from .tables import printable

MAX_TOKENS = 512
BOX = "font-family:system-ui,sans-serif;margin:0.3em 0 1em 0;line-height:1.9;color:#141414"
HEAD = "font-weight:600"
SUB = "color:#555;font-size:90%"
# One token's chip (not named TOKEN: bandit's S105 reads that as a password).
CHIP = ("display:inline-block;padding:0 4px;margin:1px;border-radius:3px;white-space:pre;"
        "font-family:ui-monospace,monospace;line-height:1.5")
SEPARATOR = '<span style="color:#888;font-weight:600;margin:0 0.5em">|</span>'
GREY = "color:#6e6e6e;font-size:85%"


def attribution_html(a: Attribution, *, label_names: Sequence[str] | None = None, true_label: int | None = None,
                     scale: float | None = None, max_tokens: int = MAX_TOKENS, title: str | None = None) -> str:
    """One probe: header (prediction, target), tokens coloured by score with hover titles, a legend.

    `scale` None normalizes by this probe's max |score| (as the images do by default).
    """
    signed = is_signed(a.method, a.info)
    scores = np.nan_to_num(np.asarray(a.scores, np.float64))
    peak = float(scale) if scale else float(np.max(np.abs(scores), initial=0.0))
    values = scores / peak if peak and np.isfinite(peak) else np.zeros_like(scores)
    parts = [f'<div class="gradcallback-attribution" style="{BOX}">']
    if title:
        parts.append(f'<div style="{GREY}">{escape(title)}</div>')
    for k, line in enumerate(header_lines(a, label_names, true_label)):
        parts.append(f'<div style="{HEAD if k == 0 else SUB}">{escape(printable(line))}</div>')
    parts.append(f"<div>{_tokens(a, scores, values, signed, max_tokens)}</div>")
    parts.append(_legend(signed, peak))
    return "".join(parts) + "</div>"


def _tokens(a: Attribution, scores: np.ndarray, values: np.ndarray, signed: bool, max_tokens: int) -> str:
    """Token spans; QA: question | context, the predicted span outlined."""
    fills = colours(values, signed)
    span = a.prediction.span if a.task == "question_answering" else None
    segments = a.segment_ids if a.segment_ids is not None else np.zeros(len(a.tokens), int)
    shown = min(len(a.tokens), max_tokens)
    out = []
    for i in range(shown):
        if a.task == "question_answering" and i and segments[i] != segments[i - 1]:
            out.append(SEPARATOR)
        in_span = span is not None and span[0] <= i <= span[1]
        out.append(_token(a.tokens[i], scores[i], values[i], tuple(int(c) for c in fills[i]), in_span))
    if shown < len(a.tokens):
        out.append(f'<span style="{GREY}"> ... {len(a.tokens) - shown} more tokens not shown</span>')
    return "".join(out)


def _token(token: str, score: float, value: float, fill: tuple[int, int, int], in_span: bool) -> str:
    text = escape(printable(token))  # quote=True: also safe inside the title attribute
    outline = f";outline:2px solid rgb{SPAN_OUTLINE}" if in_span else ""
    return (f'<span title="{text}: {score:+.4g} ({value:+.2f} of max |score|)" '
            f'style="{CHIP};background:rgb{fill};color:rgb{_ink(fill)}{outline}">{text}</span>')


def _legend(signed: bool, peak: float) -> str:
    """The images' colour bar, with the score each end stands for."""
    stops = ", ".join(f"rgb{tuple(int(c) for c in rgb)}"
                      for rgb in colours(np.linspace(-1.0 if signed else 0.0, 1.0, 9), signed))
    bar = ("display:inline-block;width:160px;height:10px;vertical-align:middle;border:1px solid #bbb;"
           f"margin:0 6px;background:linear-gradient(to right, {stops})")
    low = -peak if signed else 0.0
    return f'<div style="{GREY}">{low:.2e}<span style="{bar}"></span>{peak:.2e}</div>'


def attributions_html(attributions: Sequence[Attribution], *, label_names: Sequence[str] | None = None,
                      true_labels: Sequence[int | None] | None = None, max_tokens: int = MAX_TOKENS) -> str:
    """Several probes, one block each, titled by their position in the list."""
    if not attributions:
        return f'<div style="{GREY}">no attributions</div>'
    titled = len(attributions) > 1
    return "".join(attribution_html(a, label_names=label_names, true_label=_nth(true_labels, i),
                                    max_tokens=max_tokens, title=f"probe {i}" if titled else None)
                   for i, a in enumerate(attributions))


def _nth(values: Sequence[Any] | None, i: int) -> Any:
    return values[i] if values is not None and i < len(values) else None


class HTMLView:
    """What Jupyter displays (`_repr_html_`); plain text with scores everywhere else."""

    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def show(attributions: Attribution | Sequence[Attribution], *, label_names: Sequence[str] | None = None,
         true_labels: Sequence[int | None] | None = None, max_tokens: int = MAX_TOKENS) -> HTMLView:
    """Display attributions in a notebook with class names and true labels in the headers.

    Example:
        >>> show(explain(model, tokenizer, texts), label_names=["general", "political"], true_labels=[0, 1])
    """
    from .terminal import render_all

    items = [attributions] if isinstance(attributions, Attribution) else list(attributions)
    html = attributions_html(items, label_names=label_names, true_labels=true_labels, max_tokens=max_tokens)
    return HTMLView(html, render_all(items, color=False, label_names=label_names, true_labels=true_labels))


def side_by_side(results: Mapping[str, Sequence[Attribution]] | Sequence[Sequence[Attribution]], *,
                 label_names: Sequence[str] | None = None, true_labels: Sequence[int | None] | None = None,
                 max_tokens: int = MAX_TOKENS) -> HTMLView:
    """Several methods of the same probes side by side: one row per probe, one column per method.

    `results`: method name -> attributions, or a list of attribution lists (named by their method).

    Example:
        >>> side_by_side({m: explain(model, tokenizer, texts, method=m)
        ...               for m in ("gradient_norm", "integrated_gradients")})
    """
    from .terminal import render_all

    columns = _columns(results)
    cell = "vertical-align:top;text-align:left;padding:4px 12px;border-top:1px solid #ddd"
    head = "".join(f'<th style="{cell}">{escape(name)}</th>' for name, _ in columns)
    rows = ["<tr>" + "".join(
        f'<td style="{cell}">'
        f"{attribution_html(items[i], label_names=label_names, max_tokens=max_tokens, true_label=_nth(true_labels, i))}"
        "</td>"
        for _, items in columns) + "</tr>" for i in range(len(columns[0][1]))]
    html = f'<table style="border-collapse:collapse;{BOX}"><tr>{head}</tr>{"".join(rows)}</table>'
    text = "\n\n".join(f"== {name}\n" + render_all(items, color=False, label_names=label_names,
                                                    true_labels=true_labels) for name, items in columns)
    return HTMLView(html, text)


def _columns(results: Mapping[str, Sequence[Attribution]] | Sequence[Sequence[Attribution]]
             ) -> list[tuple[str, list[Attribution]]]:
    """(name, attributions) per column, checked to hold the same probes in the same order."""
    pairs = list(results.items()) if isinstance(results, Mapping) else \
        [(items[0].method if items else "", items) for items in results]
    columns = [(str(name), list(items)) for name, items in pairs]
    if not columns or not columns[0][1]:
        raise ValueError(f"Expected at least one method with at least one attribution. Received: {results!r}")
    first = columns[0][1]
    for name, items in columns[1:]:
        if len(items) != len(first) or any(a.text != b.text for a, b in zip(items, first)):
            raise ValueError(f"Expected the same probes, in the same order, for every method. Received: "
                             f"{len(first)} probes for {columns[0][0]!r}, {len(items)} for {name!r}"
                             + ("" if len(items) != len(first) else " with different texts"))
    return columns


def page(body: str, title: str = "gradcallback") -> str:
    """A self-contained HTML file around `body` (for `gradcallback explain --html`)."""
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
            f'<body style="margin:2em;max-width:1300px">{body}</body></html>')
