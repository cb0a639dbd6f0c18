"""Attributions in a terminal: tokens on coloured backgrounds (ANSI), or plain text with scores.

`gradcallback explain` prints this. Colours come from the images' colour scales; without a
terminal (a pipe, a file, `NO_COLOR`, `TERM=dumb`) each token carries its score instead, as
`token(0.85)` (scores divided by the probe's max |score|). Tokens go through `printable`, so a
token holding an escape character cannot drive the terminal.
"""

from __future__ import annotations

import os
import shutil
from typing import Sequence, TextIO

import numpy as np

from ..attribution import Attribution
from ..engine.registry import is_signed
from .images import _ink, colours, header_lines
from .tables import printable

RESET, UNDERLINE, DIM = "\x1b[0m", "\x1b[4m", "\x1b[2m"


def use_color(stream: TextIO, choice: str = "auto") -> bool:
    """"always", "never", or "auto": ANSI colours only on a terminal that wants them."""
    if choice != "auto":
        return choice == "always"
    is_tty = getattr(stream, "isatty", lambda: False)()
    return bool(is_tty) and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def render(a: Attribution, *, color: bool, label_names: Sequence[str] | None = None,
           true_label: int | None = None, top: int = 5, width: int | None = None) -> str:
    """Header (prediction, target), the tokens, the scale and the top tokens of one probe."""
    scores = np.nan_to_num(np.asarray(a.scores, np.float64))
    peak = float(np.max(np.abs(scores), initial=0.0))
    values = scores / peak if peak else np.zeros_like(scores)
    signed = is_signed(a.method, a.info)
    words = _words(a, values, signed, color)
    lines = [printable(line) for line in header_lines(a, label_names, true_label)]
    lines += _wrap(words, width or shutil.get_terminal_size((100, 24)).columns)
    lines.append(f"scores / max |score| ({peak:.3g}); " + ("signed" if signed else "unsigned"))
    lines.append("top: " + ", ".join(f"{printable(t)} {s:+.3g}" for _, t, s in a.top_k(top)))
    return "\n".join(lines)


def render_all(attributions: Sequence[Attribution], *, color: bool, label_names: Sequence[str] | None = None,
               true_labels: Sequence[int | None] | None = None, top: int = 5, width: int | None = None) -> str:
    """Several probes, a blank line between them."""
    return "\n\n".join(
        render(a, color=color, label_names=label_names, top=top, width=width,
               true_label=true_labels[i] if true_labels is not None and i < len(true_labels) else None)
        for i, a in enumerate(attributions))


def _words(a: Attribution, values: np.ndarray, signed: bool, color: bool) -> list[tuple[str, int]]:
    """(what to print, its width on screen) per token; QA: a `|` between question and context."""
    span = a.prediction.span if a.task == "question_answering" else None
    segments = a.segment_ids if a.segment_ids is not None else np.zeros(len(a.tokens), int)
    fills = colours(values, signed)
    words = []
    for i, token in enumerate(a.tokens):
        if a.task == "question_answering" and i and segments[i] != segments[i - 1]:
            words.append((f"{DIM}|{RESET}" if color else "|", 1))
        text = printable(token)
        in_span = span is not None and span[0] <= i <= span[1]
        if color:
            fill = tuple(int(c) for c in fills[i])
            style = f"\x1b[48;2;{fill[0]};{fill[1]};{fill[2]}m\x1b[38;2;{';'.join(map(str, _ink(fill)))}m"
            words.append((f"{style}{UNDERLINE if in_span else ''} {text} {RESET}", len(text) + 2))
        else:
            shown = f"{text}({values[i]:+.2f})" if signed else f"{text}({values[i]:.2f})"
            if in_span:  # the predicted answer span, marked without colour
                shown = ("[[" if i == span[0] else "") + shown + ("]]" if i == span[1] else "")
            words.append((shown, len(shown)))
    return words


def _wrap(words: list[tuple[str, int]], width: int) -> list[str]:
    """Words joined by spaces into lines no wider than `width` on screen (a longer word gets its own)."""
    lines, line, used = [], [], 0
    for text, size in words:
        if line and used + 1 + size > width:
            lines.append(" ".join(line))
            line, used = [], 0
        used += size + (1 if line else 0)
        line.append(text)
    return lines + ([" ".join(line)] if line else [])
