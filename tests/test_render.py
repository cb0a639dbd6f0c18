"""Rendered images: decodable, bounded, and coloured by score."""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from PIL import Image

from gradcallback.attribution import Attribution, Prediction
from gradcallback.io.writers import png
from gradcallback.views import fonts
from gradcallback.views import images as render
from gradcallback.views.fonts import font_for, needs_cjk


def make(tokens, scores, task="classification", **kw) -> Attribution:
    n = len(tokens)
    special = np.array([t.startswith("[") for t in tokens])
    defaults = dict(prediction=Prediction(label=1, probabilities=np.array([0.3, 0.7]), probability=0.7), target=1)
    defaults.update(kw)
    return Attribution(tokens=list(tokens), token_ids=np.arange(n, dtype=np.int32),
                       scores=np.asarray(scores, np.float32), method="gradient_norm", task=task,
                       special_mask=special, segment_ids=np.zeros(n, np.int32), **defaults)


def box_colours(a: Attribution, pixels: np.ndarray, font_size: int = 15) -> list[np.ndarray]:
    """The fill colour inside each token's box (its top-left corner, away from the glyphs)."""
    line_h = font_size + 2 * render.PAD + render.LINE_GAP
    top = render.MARGIN + len(render.header_lines(a, None, None)) * line_h
    boxes = render.token_boxes(a, font_for(a.tokens, font_size), 1200, len(a.tokens), line_h)
    return [pixels[top + y + 2, x + 2].astype(int) for _, x, y, _ in boxes]


def saturation(rgb: np.ndarray) -> int:
    return int(rgb.max() - rgb.min())


def test_heatmap_box_colour_follows_score():
    a = make(["[CLS]", "the", "sky", "is", "green", "[SEP]"], [0.1, 0.2, 0.9, 0.05, 0.5, 0.0])
    pixels = render.heatmap(a, signed=False)
    assert pixels.dtype == np.uint8 and pixels.shape[2] == 3 and pixels.shape[1] <= 1600
    sats = [saturation(c) for c in box_colours(a, pixels)]
    assert int(np.argmax(sats)) == 2  # "sky", the top-scored token, is the most saturated box
    assert np.argsort(sats).tolist() == np.argsort(a.scores).tolist()
    assert sats[5] == 0  # a zero score is white


def test_signed_scores_use_a_diverging_map():
    a = make(["[CLS]", "good", "bad", "[SEP]"], [0.0, 0.8, -0.8, 0.0])
    blue, red = box_colours(a, render.heatmap(a, signed=True))[1:3]
    assert blue[2] > blue[0] and red[0] > red[2]
    assert saturation(blue) == pytest.approx(saturation(red), abs=40)


def test_width_is_capped_and_long_probes_are_cut_with_a_note():
    a = make(["[CLS]"] + ["word"] * 600 + ["[SEP]"], np.linspace(0, 1, 602))
    pixels = render.heatmap(a, signed=False, width=5000, max_tokens=100)
    assert 1400 < pixels.shape[1] <= 1600  # capped at 1600, cropped to the wrapped lines
    short = render.heatmap(make(["[CLS]"] + ["word"] * 100, np.linspace(0, 1, 101)), signed=False, width=5000)
    # the same 100 tokens wrapped the same way, plus exactly one line (15 px font + 2 * 3 padding + 6 gap)
    # for the note "... 502 more tokens not shown": drawing all 600 would add 5 lines per 100 tokens
    assert pixels.shape[1] == short.shape[1] and pixels.shape[0] - short.shape[0] == 27


def test_image_survives_png_round_trip():
    a = make(["[CLS]", "a", "[SEP]"], [0.0, 1.0, 0.0])
    buffer = io.BytesIO()
    Image.fromarray(render.heatmap(a, signed=False)).save(buffer, format="PNG")
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    original = render.heatmap(a, signed=False)
    assert decoded.shape == original.shape and np.array_equal(decoded, original)  # PNG is lossless: every pixel
    assert tuple(box_colours(a, decoded)[1]) == render.colour(1.0, False) == (8, 81, 156)  # the top score's blue


def _drawn(monkeypatch, plain: bool) -> list[np.ndarray]:
    """A heatmap (light and dark boxes: both inks), a QA heatmap and an evolution grid, each drawn twice, in
    fresh fonts: PIL's own FreeType fonts with `plain`, else the library's `MemoFont`s."""
    from PIL import ImageFont

    if plain:
        monkeypatch.setattr(fonts, "MemoFont", lambda path, size: ImageFont.truetype(path, size))
    monkeypatch.setattr(fonts, "_first_font", functools.lru_cache(maxsize=None)(fonts._first_font.__wrapped__))
    a = make(["[CLS]", "the", "film", "##s", "Atiku", "!", "[SEP]"], [0.0, 0.1, 1.0, -0.6, 0.9, 0.3, 0.0])
    qa = make(["[CLS]", "who", "?", "[SEP]", "paris", "is", "[SEP]"], np.linspace(0, 1, 7),
              task="question_answering", prediction=Prediction(answer="paris", span=(4, 4), probability=0.4),
              target=(4, 4), text=("who ?", "paris"))
    qa = Attribution(**{**qa.__dict__, "segment_ids": np.array([0, 0, 0, 0, 1, 1, 1], np.int32)})
    history = [(step, make(a.tokens, (a.scores * (step + 1)) % 1.0)) for step in range(3)]
    drawn = [image for _ in range(2) for image in (render.heatmap(a, signed=True, true_label=0),
                                                   render.heatmap(qa, signed=False),
                                                   render.evolution(history, signed=True))]
    monkeypatch.undo()
    return drawn


def test_remembered_glyphs_draw_the_same_pixels_as_pil_fonts(monkeypatch):
    if fonts._first_font(fonts.LATIN, 15) is None:
        pytest.skip("No TrueType font here (DejaVuSans): both paths would draw PIL's default font.")
    plain = _drawn(monkeypatch, plain=True)
    memo = _drawn(monkeypatch, plain=False)  # each image's second draw comes from remembered masks
    inks = {tuple(c) for c in plain[0].reshape(-1, 3)}
    assert (255, 255, 255) in inks and (20, 20, 20) in inks  # white ink on the dark box, black on the light ones
    assert all(np.array_equal(p, m) for p, m in zip(plain, memo)) and len(memo) == 6


def test_png_decodes_to_the_same_pixels():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(1, 1), (7, 13), (40, 301)]]
    images.append(render.heatmap(make(["[CLS]", "a", "[SEP]"], [0.0, 1.0, 0.0]), signed=False))
    for pixels in images:
        decoded = Image.open(io.BytesIO(png(pixels)))
        assert decoded.mode == "RGB" and np.array_equal(np.asarray(decoded), pixels)
    with pytest.raises(ValueError, match=r"Received: shape=\(4, 4\)"):
        png(np.zeros((4, 4), np.uint8))


def test_question_answering_marks_span_and_separates_context():
    tokens = ["[CLS]", "who", "?", "[SEP]", "paris", "is", "big", "[SEP]"]
    pred = Prediction(answer="paris", span=(4, 4), probability=0.4)
    a = make(tokens, np.linspace(0, 1, 8), task="question_answering", prediction=pred, target=(4, 4),
             text=("who ?", "paris is big"))
    a = Attribution(**{**a.__dict__, "segment_ids": np.array([0, 0, 0, 0, 1, 1, 1, 1], np.int32)})
    line_h = 15 + 2 * render.PAD + render.LINE_GAP
    boxes = render.token_boxes(a, font_for(tokens, 15), 1200, 8, line_h)
    assert boxes[4][2] > boxes[3][2] and boxes[4][1] == render.MARGIN  # context on its own block
    pixels = render.heatmap(a, signed=False)
    top = render.MARGIN + len(render.header_lines(a, None, None)) * line_h
    _, x, y, _ = boxes[4]
    assert tuple(pixels[top + y, x + 1]) == render.SPAN_OUTLINE  # the predicted span is outlined
    assert "paris" in render.header_lines(a, None, None)[1]


BLUE_1, BLUE_02, RED_04 = (8, 81, 156), (206, 220, 235), (224, 163, 171)  # colour(1.0), (0.2), (-0.4), signed


def test_bars_and_evolution_images():
    a = make(["[CLS]", "a", "b", "[SEP]"], [0.1, 0.5, -0.2, 0.0])  # normalized: 0.2, 1.0, -0.4, 0.0
    chart = render.bars(a, signed=True)
    assert chart.shape[1] == 400  # the minimum width: 4 slots of 28 px
    plot_top = render.MARGIN + len(render.header_lines(a, None, None)) * (13 + 8)
    axis = plot_top + 80  # signed: the axis halves the 160 px plot; a bar reaches 80 px at |score| = 1
    column = [chart[plot_top: plot_top + 161, render.MARGIN + i * 28 + 10] for i in range(4)]
    drawn = [np.flatnonzero((c != 255).any(axis=1)) + plot_top for c in column]
    assert [len(d) for d in drawn] == [17, 81, 33, 0]  # 0.2 * 80 + 1, 80 + 1, 0.4 * 80 + 1 rows; zero: no bar
    assert (drawn[1][0], drawn[1][-1], drawn[2][0], drawn[2][-1]) == (axis - 80, axis, axis, axis + 32)
    assert [tuple(c[d[0] - plot_top]) for c, d in zip(column[:3], drawn)] == [BLUE_02, BLUE_1, RED_04]
    history = [(step, make(a.tokens, a.scores * (step + 1))) for step in range(5)]
    grid = render.evolution(history, signed=True)
    grid_short = render.evolution(history[:2], signed=True)
    assert grid.shape[0] - grid_short.shape[0] == 3 * 18  # one row of cells per logged step
    top, left, cell_w = grid.shape[0] - 5 * 18 - render.MARGIN, render.MARGIN + 60, 40
    cells = [[tuple(grid[top + r * 18 + 9, left + j * cell_w + 20]) for j in range(4)] for r in range(5)]
    # each row is normalized by its own max |score|: the same colours at every step, though scores grew 5x
    assert cells == [[BLUE_02, BLUE_1, RED_04, (255, 255, 255)]] * 5


def test_cjk_tokens_render_and_warn_once_without_a_font(monkeypatch):
    monkeypatch.setattr(fonts, "CJK", ("/nonexistent/NotoSansCJK.ttc",))  # as on a machine without one
    korean = make(["[CLS]", "서울", "##은", "[SEP]"], [0.0, 1.0, 0.5, 0.0])
    assert needs_cjk(korean.tokens) and not needs_cjk(["paris", "##ed"])
    fonts._warn_missing_cjk.cache_clear()  # "once" is per process: start this test from zero
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pixels = [render.heatmap(korean, signed=False) for _ in range(3)]
    assert all(p.shape[0] > 0 for p in pixels)
    missing = [str(w.message) for w in caught if "CJK font" in str(w.message)]
    assert len(missing) == 1 and "apt-get install fonts-noto-cjk" in missing[0]


@functools.lru_cache(maxsize=None)  # one install attempt per session, whatever its outcome
def _cjk_font_installed() -> bool:
    """A CJK font, installing Debian's fonts-noto-cjk when this test can (root with apt-get)."""
    if fonts._first_font(fonts.CJK, 15) is None and os.geteuid() == 0 and shutil.which("apt-get"):
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", fonts.CJK_PACKAGE], capture_output=True, timeout=180,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        except (OSError, subprocess.TimeoutExpired):
            return False  # the test is then skipped, saying why
        fonts._first_font.cache_clear()
    return fonts._first_font(fonts.CJK, 15) is not None


def _glyph(text: str, font) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("L", (40, 40), 255)
    ImageDraw.Draw(image).text((4, 4), text, fill=0, font=font)
    return np.asarray(image)


@pytest.mark.parametrize("pair", [("서", "울"), ("東", "京"), ("ひ", "ら")])
def test_cjk_tokens_are_legible_with_a_cjk_font(pair):
    if not _cjk_font_installed():
        pytest.skip(f"No CJK font is installed, and {fonts.CJK_PACKAGE} could not be installed here: "
                    f"`apt-get install {fonts.CJK_PACKAGE}` as root.")
    latin = fonts._first_font(fonts.LATIN, 15)
    if latin is not None:  # the Latin font draws both as the same missing-glyph box
        assert np.array_equal(_glyph(pair[0], latin), _glyph(pair[1], latin))
    font = font_for(list(pair), 15)
    first, second = _glyph(pair[0], font), _glyph(pair[1], font)
    assert (first < 128).sum() > 20 and not np.array_equal(first, second)  # real, distinct glyphs
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no missing-font warning once a font is there
        pixels = render.heatmap(make(["[CLS]", pair[0] + pair[1], "[SEP]"], [0.0, 1.0, 0.0]), signed=False)
    assert pixels.shape[2] == 3
