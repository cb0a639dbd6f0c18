"""Plain text for a terminal: tables and paragraphs that stay within its width.

What `gradcallback report` and `gradcallback coverage` print. Markdown is for TensorBoard's text
summaries only; a terminal gets text built from the same records, never Markdown un-escaped back.
Cells go through `printable`, so a token holding an escape character cannot drive the terminal.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from typing import Sequence

from .tables import printable

GAP = "  "  # between two columns
MIN_WIDTH = 40  # narrower than this, wrapping stops helping


def terminal_width(fallback: int = 100) -> int:
    """Columns of the terminal (`COLUMNS` first, as `shutil.get_terminal_size` reads it); `fallback` when
    the output is no terminal (a pipe, a file); never below `MIN_WIDTH`."""
    return max(shutil.get_terminal_size((fallback, 24)).columns, MIN_WIDTH)


def display_width(text: str) -> int:
    """Columns `text` takes on a terminal: East Asian wide and full-width characters 2, combining marks 0."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """`text` as lines of at most `width` columns, broken at spaces; lines after the first start with `indent`
    (the first keeps the spaces `text` starts with)."""
    text = printable(text)
    lead = text[:len(text) - len(text.lstrip(" "))]
    words = text.split()
    return _pack([(lead + words[0], False)] + [(word, True) for word in words[1:]] if words else [], width, indent)


def _cell_lines(text: str, width: int) -> list[str]:
    """A cell's text in lines of at most `width` columns: broken at spaces, then after `_` and `/`, then anywhere."""
    parts, spaced, at = re.findall(r"[^ _/]*[_/]|[^ _/]+", text), [], 0
    for part in parts:  # whether a space came before each part
        start = text.index(part, at)
        spaced.append((part, start > 0 and text[start - 1] == " "))
        at = start + len(part)
    return _pack(spaced, width)


def _pack(parts: list[tuple[str, bool]], width: int, indent: str = "") -> list[str]:
    """(part, space before it) packed greedily into lines of at most `width` columns; a part wider than
    a line is cut where the line ends."""
    indent = indent if display_width(indent) < width // 2 else ""
    lines, line = [], ""
    for part, spaced in parts:
        joined = line + (" " if spaced and line.strip() else "") + part
        if line.strip() and display_width(joined) > width:
            lines.append(line)
            joined = indent + part
        line = joined
        while display_width(line) > width:
            head, rest = _cut(line, width)
            lines.append(head)
            line = indent + rest
    return lines + [line] if line.strip() or not lines else lines


def _cut(text: str, width: int) -> tuple[str, str]:
    """The longest head of `text` within `width` columns (one character at least), and the rest."""
    used = 0
    for i, ch in enumerate(text):
        used += display_width(ch)
        if used > width and i > 0:
            return text[:i], text[i:]
    return text, ""


def _pad(text: str, width: int, left: bool) -> str:
    fill = " " * max(width - display_width(text), 0)
    return text + fill if left else fill + text


def table(header: Sequence[str], rows: Sequence[Sequence[str]], width: int, *, left: Sequence[int] = (),
          keep: int = 1, wrap_last: bool = False) -> list[str]:
    """An aligned table no wider than `width`.

    Headers wrap over several lines. A table still too wide is cut into blocks of columns, one under
    the other, each repeating the first `keep` columns (the step); with `wrap_last` its last column's
    cells wrap instead (a word's pieces). Columns in `left` are left-aligned, the others right-aligned.
    """
    header = [printable(h) for h in header]
    rows = [[printable(c) for c in row] for row in rows]
    widths = [max([display_width(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(header)]
    if sum(widths) + len(GAP) * (len(widths) - 1) > width:  # headers wrap before columns are cut into blocks
        widths = [max([_longest_part(h)] + [display_width(r[i]) for r in rows]) for i, h in enumerate(header)]
    if wrap_last:
        room = width - sum(widths[:-1]) - len(GAP) * (len(widths) - 1)
        widths[-1] = max(min(widths[-1], room), 8)
        return _block(header, rows, widths, list(range(len(header))), set(left))
    lines: list[str] = []
    for block in _blocks(widths, width, keep):
        lines += ([""] if lines else []) + _block(header, rows, widths, block, set(left))
    return lines


def _longest_part(text: str) -> int:
    """The widest unbreakable part of a header, capped so one long name cannot widen its column alone."""
    return min(max((display_width(p) for p in re.findall(r"[^ _/]*[_/]?", text)), default=0), 14)


def _blocks(widths: list[int], width: int, keep: int) -> list[list[int]]:
    """Column indices per block: the first `keep` columns, then as many of the others as fit."""
    kept = list(range(min(keep, len(widths))))
    used = sum(widths[i] for i in kept) + len(GAP) * max(len(kept) - 1, 0)
    blocks, block, size = [], [], used
    for i in range(len(kept), len(widths)):
        if block and size + len(GAP) + widths[i] > width:
            blocks.append(kept + block)
            block, size = [], used
        block.append(i)
        size += len(GAP) + widths[i]
    return blocks + [kept + block] if block or not blocks else blocks


def _block(header: list[str], rows: list[list[str]], widths: list[int], columns: list[int], left: set) -> list[str]:
    """One block: the wrapped header, a rule, then the rows (a cell that wraps makes its row taller)."""
    rule = GAP.join("-" * widths[i] for i in columns)
    return _lines(header, widths, columns, left, bottom=True) + [rule] + [line for row in rows
                                                             for line in _lines(row, widths, columns, left)]


def _lines(cells: list[str], widths: list[int], columns: list[int], left: set, bottom: bool = False) -> list[str]:
    """A row's lines; a header (`bottom`) sits on the rule, its shorter cells padded above."""
    wrapped = {i: _cell_lines(cells[i], widths[i]) for i in columns}
    height = max(len(w) for w in wrapped.values())
    if bottom:
        wrapped = {i: [""] * (height - len(w)) + w for i, w in wrapped.items()}
    return [GAP.join(_pad(wrapped[i][k] if k < len(wrapped[i]) else "", widths[i], i in left)
                     for i in columns).rstrip() for k in range(height)]
