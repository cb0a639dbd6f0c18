"""Images built from `Attribution`s: text heatmaps, the seeds' bar charts, evolution grids.

Pure PIL and numpy; returns uint8 RGB arrays [H, W, 3] for the writers. TensorBoard's
text dashboard strips colour styles, so coloured heatmaps have to be images.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from ..attribution import Attribution
from .fonts import font_for
from .tables import printable

MAX_WIDTH = 1600
MARGIN, PAD, GAP, LINE_GAP = 12, 3, 4, 6
WHITE, BLACK, GREY = (255, 255, 255), (20, 20, 20), (110, 110, 110)
BLUE, RED = (8, 81, 156), (178, 24, 43)  # ColorBrewer Blues end / RdBu ends
SPAN_OUTLINE = (0, 140, 60)
LEGEND_W = 520  # colour bar plus its two labels


LEVELS = 256  # colour resolution of the lookup tables


@functools.lru_cache(maxsize=2)
def _palette(signed: bool) -> np.ndarray:
    """uint8 [2 * LEVELS + 1, 3]: colours for normalized scores -1..1 (white at 0)."""
    t = np.abs(np.linspace(-1.0, 1.0, 2 * LEVELS + 1))[:, None]
    negative = np.linspace(-1.0, 1.0, 2 * LEVELS + 1)[:, None] < 0
    end = np.where(negative & signed, np.array(RED), np.array(BLUE))
    if not signed:
        t = np.where(negative, 0.0, t)  # an unsigned map shows negatives as zero
    return np.round(np.array(WHITE) + (end - np.array(WHITE)) * t).astype(np.uint8)


def colours(values: np.ndarray, signed: bool) -> np.ndarray:
    """uint8 [..., 3] colours of normalized scores (clipped to [-1, 1], NaN as 0)."""
    v = np.nan_to_num(np.clip(np.asarray(values, np.float64), -1.0, 1.0))
    return _palette(signed)[np.round((v + 1.0) * LEVELS).astype(int)]


def colour(value: float, signed: bool) -> tuple[int, int, int]:
    """Colour of one normalized score: white -> blue for |v| in [0, 1]; red for negative if signed."""
    return tuple(int(c) for c in colours(np.array([value]), signed)[0])


def _ink(background: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2]
    return WHITE if luminance < 140 else BLACK


def _scaled(scores: np.ndarray, scale: float | None) -> np.ndarray:
    peak = scale if scale else float(np.max(np.abs(scores))) if scores.size else 0.0
    return scores / peak if peak and np.isfinite(peak) else np.zeros_like(scores)


def header_lines(a: Attribution, label_names: Sequence[str] | None, true_label: int | None) -> list[str]:
    """Prediction, probability and true label (classification), or question and answer (QA)."""
    name = lambda i: label_names[i] if label_names and 0 <= i < len(label_names) else str(i)  # noqa: E731
    p = a.prediction
    if a.task == "question_answering":
        lines = [f"Q: {a.text[0]}" if isinstance(a.text, tuple) else "",
                 f"Answer: {p.answer!r}  (tokens {p.span[0]}-{p.span[1]}, p={p.probability:.3f})"]
    elif a.task == "causal_lm" and "target_text" in a.info:  # the prompt is drawn below, then its continuation
        lines = [f"Continuation: {printable(a.info['target_text'])!r}   (log p={a.score:.3f}, mean per token "
                 f"{a.info['mean_logprob']:.3f})   greedy: {printable(p.answer or '?')!r}"]
    elif a.task == "causal_lm":  # the prompt is drawn below; name the next token that is explained
        lines = [f"Next token: {printable(a.info.get('target_token', '?'))!r}   predicted: "
                 f"{printable(p.answer or '?')!r} p={p.probability:.3f}"]
    else:
        lines = [f"Predicted: {name(p.label)}  p={p.probability:.3f}"
                 + (f"   True: {name(true_label)}" if true_label is not None else "")]
    target = a.target if a.task not in ("classification", "causal_lm") else \
        name(a.target) if a.task == "classification" else \
        repr(printable(a.info.get("target_text", a.info.get("target_token", ""))))
    lines.append(f"{a.method}  target={target}" + (
        f"  delta={a.convergence_delta:+.2e}" if a.convergence_delta is not None else ""))
    return [line for line in lines if line]


def heatmap(a: Attribution, *, signed: bool, scale: float | None = None, width: int = 1200,
            max_tokens: int = 256, label_names: Sequence[str] | None = None,
            true_label: int | None = None, font_size: int = 15) -> np.ndarray:
    """Tokens as wrapped text, each on a background coloured by its score / scale.

    `scale` None normalizes by this probe's max |score|; pass a number to keep one scale
    across epochs. QA: question and context on separate blocks, the predicted span outlined.
    """
    a = replace(a, tokens=[printable(t) for t in a.tokens])  # a control character breaks text layout
    width = min(int(width), MAX_WIDTH)
    font = font_for(a.tokens, font_size)
    values = _scaled(a.scores, scale)
    shown = min(len(a.tokens), max_tokens)
    line_h = font_size + 2 * PAD + LINE_GAP
    span = a.prediction.span if a.task == "question_answering" else None
    boxes = token_boxes(a, font, width, shown, line_h)
    y = boxes[-1][2] if boxes else 0
    notes = [f"... {len(a.tokens) - shown} more tokens not shown"] if shown < len(a.tokens) else []
    if "target_text" in a.info:  # a causal LM's explained continuation, after the prompt
        notes.append(f"-> {printable(a.info['target_text'])!r}")
    head = header_lines(a, label_names, true_label)
    top = MARGIN + len(head) * line_h
    legend_y = top + y + line_h + LINE_GAP + len(notes) * line_h
    # Crop to the content: the widest of the token lines, the header and the legend.
    used = [bx + w for _, bx, _, w in boxes] + [int(font.getlength(t)) + MARGIN for t in head + notes] + [LEGEND_W]
    width = min(width, max(used) + MARGIN)
    image = Image.new("RGB", (width, legend_y + 2 * line_h + MARGIN), WHITE)
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(head):
        draw.text((MARGIN, MARGIN + k * line_h), line, fill=BLACK, font=font)
    fills = colours(values, signed)
    for i, bx, by, w in boxes:
        fill = tuple(int(c) for c in fills[i])
        box = (bx, top + by, bx + w, top + by + font_size + 2 * PAD)
        draw.rectangle(box, fill=fill, outline=SPAN_OUTLINE if span and span[0] <= i <= span[1] else None,
                       width=2)
        draw.text((bx + PAD, top + by + PAD), a.tokens[i], fill=_ink(fill), font=font)
    for k, note in enumerate(notes):
        draw.text((MARGIN, top + y + line_h + k * line_h), note, fill=GREY, font=font)
    _legend(image, draw, legend_y, signed, scale or float(np.max(np.abs(a.scores), initial=0.0)), font)
    return np.asarray(image)


def token_boxes(a: Attribution, font, width: int, shown: int, line_h: int) -> list[tuple[int, int, int, int]]:
    """(token index, x, y, box width) of each drawn token, y relative to the token area."""
    boxes, x, y = [], MARGIN, 0
    for i in range(shown):
        new_segment = a.task == "question_answering" and i and a.segment_ids[i] != a.segment_ids[i - 1]
        if new_segment:
            x, y = MARGIN, y + line_h + LINE_GAP  # the context starts on a block of its own
        w = int(font.getlength(a.tokens[i])) + 2 * PAD
        if x + w > width - MARGIN and x > MARGIN:
            x, y = MARGIN, y + line_h
        boxes.append((i, x, y, w))
        x += w + GAP
    return boxes


def _legend(image: Image.Image, draw: ImageDraw.ImageDraw, y: int, signed: bool, peak: float, font) -> None:
    """A colour bar with the score each end stands for."""
    low = f"{-peak if signed else 0.0:.2e}"
    bar_w, bar_h, x0 = 300, 12, MARGIN + int(font.getlength(low)) + 8
    image.paste(Image.fromarray(_colour_bar(signed, bar_w, bar_h)), (x0, y))
    draw.rectangle((x0, y, x0 + bar_w, y + bar_h), outline=GREY)
    draw.text((MARGIN, y - 2), low, fill=GREY, font=font)
    draw.text((x0 + bar_w + 8, y - 2), f"{peak:.2e}", fill=GREY, font=font)


@functools.lru_cache(maxsize=4)
def _colour_bar(signed: bool, width: int, height: int) -> np.ndarray:
    values = np.linspace(-1.0 if signed else 0.0, 1.0, width)
    return np.repeat(colours(values, signed)[None], height, axis=0)


def bars(a: Attribution, *, signed: bool, scale: float | None = None, width: int = 1200,
         max_tokens: int = 256, label_names: Sequence[str] | None = None,
         true_label: int | None = None, font_size: int = 13) -> np.ndarray:
    """The seeds' bar chart: one bar per token, height by normalized score, labels rotated."""
    a = replace(a, tokens=[printable(t) for t in a.tokens])  # a control character breaks text layout
    font = font_for(a.tokens, font_size)
    shown = min(len(a.tokens), max_tokens)
    values = _scaled(a.scores[:shown], scale)
    slot = max(8, min(28, (min(width, MAX_WIDTH) - 2 * MARGIN) // max(shown, 1)))
    width = min(MAX_WIDTH, max(400, 2 * MARGIN + slot * shown))
    label_h = int(max((font.getlength(t) for t in a.tokens[:shown]), default=0)) + 2 * PAD
    head = header_lines(a, label_names, true_label)
    plot_top, plot_h = MARGIN + len(head) * (font_size + 8), 160
    axis = plot_top + (plot_h // 2 if signed else plot_h)
    image = Image.new("RGB", (width, plot_top + plot_h + label_h + MARGIN), WHITE)
    draw = ImageDraw.Draw(image)
    for k, line in enumerate(head):
        draw.text((MARGIN, MARGIN + k * (font_size + 8)), line, fill=BLACK, font=font)
    draw.line([(MARGIN, axis), (width - MARGIN, axis)], fill=GREY)
    reach = plot_h // 2 if signed else plot_h
    for i, v in enumerate(values):
        x = MARGIN + i * slot
        end = axis - int(round(v * reach))
        draw.rectangle((x + 1, min(axis, end), x + slot - 2, max(axis, end)), fill=colour(v, signed))
        _vertical_text(image, a.tokens[i], (x, plot_top + plot_h + PAD), font)
    return np.asarray(image)


def _vertical_text(image: Image.Image, text: str, at: tuple[int, int], font) -> None:
    w = int(font.getlength(text)) + 2
    h = int(font.size) + 4
    label = Image.new("RGB", (max(w, 1), h), WHITE)
    ImageDraw.Draw(label).text((1, 1), text, fill=BLACK, font=font)
    image.paste(label.rotate(90, expand=True), at)


def evolution(history: Sequence[tuple[int, Attribution]], *, signed: bool, max_tokens: int = 128,
              font_size: int = 13) -> np.ndarray:
    """Tokens on x, logged steps on y: how one probe's attribution moved during training.

    Each row is normalized by its own max |score| (shape of attention, not magnitude).
    """
    tokens = tuple(printable(t) for t in history[-1][1].tokens[:max_tokens])
    rows = np.stack([_scaled(a.scores[: len(tokens)], None) for _, a in history])  # [steps, T]
    return _token_grid(tokens, rows, signed, [(f"{step:>5}", GREY) for step, _ in history], font_size)


def _token_grid(tokens: tuple, rows: np.ndarray, signed: bool, labels: list, font_size: int) -> np.ndarray:
    """Tokens across the top, one coloured row of cells per row of `rows` [R, T] (already scaled), each row
    named on the left by its (text, colour) label."""
    header = _token_header(tokens, font_size)  # cached: the same probe every step
    cell_w, cell_h, left = _cell_width(len(tokens)), 18, MARGIN + 60
    cells = np.repeat(np.repeat(colours(rows, signed), cell_h, axis=0), cell_w, axis=1)
    cells[:, cell_w - 1:: cell_w] = 255  # thin white gaps between columns
    top = header.shape[0]
    image = np.full((top + cells.shape[0] + MARGIN, min(MAX_WIDTH, left + cells.shape[1] + MARGIN), 3), 255, np.uint8)
    image[:top, : header.shape[1]] = header[:, : image.shape[1]]
    image[top: top + cells.shape[0], left: left + cells.shape[1]] = cells[:, : image.shape[1] - left]
    canvas = Image.fromarray(image)
    draw, font = ImageDraw.Draw(canvas), font_for(tokens, font_size)
    for r, (text, fill) in enumerate(labels):
        draw.text((MARGIN, top + r * cell_h + 2), text, fill=fill, font=font)
    return np.asarray(canvas)


def token_matrix(a: Attribution, *, signed: bool, max_tokens: int = 128, font_size: int = 13) -> np.ndarray:
    """A causal LM's per-token matrix: prompt tokens on x, continuation tokens on y (row j: the attribution
    of log p(c_j | prompt, c_<j), `info["token_scores"]`), one colour scale for the whole matrix."""
    tokens = tuple(printable(t) for t in a.tokens[:max_tokens])
    matrix = np.asarray(a.info["token_scores"], np.float64)[:, : len(tokens)]  # [K, T]
    labels = [(printable(token)[:8], BLACK) for token in a.info["target_tokens"]]
    return _token_grid(tokens, _scaled(matrix, None), signed, labels, font_size)


def _cell_width(n_tokens: int) -> int:
    return max(14, min(40, (MAX_WIDTH - 2 * MARGIN - 60) // max(n_tokens, 1)))


@functools.lru_cache(maxsize=512)
def _token_header(tokens: tuple[str, ...], font_size: int) -> np.ndarray:
    """Rotated token labels, each ending just above its column."""
    font = font_for(tokens, font_size)
    cell_w, left = _cell_width(len(tokens)), MARGIN + 60
    label_h = int(max((font.getlength(t) for t in tokens), default=0)) + 2 * PAD
    top = MARGIN + label_h
    image = Image.new("RGB", (left + cell_w * len(tokens) + MARGIN, top), WHITE)
    for j, token in enumerate(tokens):
        y = top - PAD - int(font.getlength(token)) - 2
        _vertical_text(image, token, (left + j * cell_w + (cell_w - font_size - 4) // 2, y), font)
    return np.asarray(image)
