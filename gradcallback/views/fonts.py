"""Font lookup for rendered images: a legible Latin font, and a CJK font when tokens need one."""

from __future__ import annotations

import functools
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable

from PIL import ImageFont

LATIN = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf",
         "/Library/Fonts/Arial Unicode.ttf", "C:/Windows/Fonts/arial.ttf")
CJK = ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
       "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
       "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
       "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "/System/Library/Fonts/AppleSDGothicNeo.ttc",
       "C:/Windows/Fonts/malgun.ttf")
CJK_RANGES = ((0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF), (0xF900, 0xFAFF),
              (0xFF00, 0xFFEF), (0x20000, 0x2FA1F))
CJK_PACKAGE = "fonts-noto-cjk"


def needs_cjk(texts: Iterable[str]) -> bool:
    """True if any character is Hangul, Han, Kana or full-width."""
    joined = "".join(texts)
    if not joined or ord(max(joined)) < CJK_RANGES[0][0]:  # the common case, without a loop in Python
        return False
    return any(lo <= ord(ch) <= hi for ch in joined for lo, hi in CJK_RANGES)


class MemoFont(ImageFont.FreeTypeFont):
    """A FreeType font that remembers its latest glyph masks and lengths (`MEMO_SIZE` of each).

    The callback draws the same probes' tokens at every logged step, and rendering a string's glyphs is most
    of a heatmap's drawing time. `ImageDraw.text` still does all the placing; only the pure functions of the
    string (its mask and offset, its length) are looked up instead of recomputed, so the pixels are the same.
    """

    MEMO_SIZE = 16384  # strings: every token of a few hundred probes, in both inks

    def __init__(self, path: str, size: int):
        super().__init__(path, size)
        self._masks: OrderedDict = OrderedDict()
        self._lengths: OrderedDict = OrderedDict()

    def getmask2(self, text, mode="", *args: Any, **kwargs: Any):
        """FreeTypeFont.getmask2's (mask, offset), remembered."""
        key = (text, mode, args, tuple(sorted(kwargs.items())))
        return _memo(self._masks, key, lambda: super(MemoFont, self).getmask2(text, mode, *args, **kwargs))

    def getlength(self, text, *args: Any, **kwargs: Any) -> float:
        """FreeTypeFont.getlength's length, remembered."""
        key = (text, args, tuple(sorted(kwargs.items())))
        return _memo(self._lengths, key, lambda: super(MemoFont, self).getlength(text, *args, **kwargs))


def _memo(table: OrderedDict, key: tuple, compute) -> Any:
    """table[key], computed on a miss; the least recently used entry goes beyond `MemoFont.MEMO_SIZE`."""
    try:
        table.move_to_end(key)
        return table[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable argument (a list of features): not remembered
        return compute()
    value = table[key] = compute()
    if len(table) > MemoFont.MEMO_SIZE:
        table.popitem(last=False)
    return value


@functools.lru_cache(maxsize=None)
def _first_font(paths: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | None:
    for path in paths:
        if Path(path).exists():
            return MemoFont(path, size)
    return None


@functools.lru_cache(maxsize=None)
def _warn_missing_cjk() -> None:
    warnings.warn(f"No CJK font found: Korean/Chinese/Japanese tokens render as boxes. Install one, "
                  f"e.g. `apt-get install {CJK_PACKAGE}`.", stacklevel=4)


def font_for(tokens: Iterable[str], size: int) -> ImageFont.FreeTypeFont:
    """A font that can draw `tokens`: CJK when needed (warning once if none is installed)."""
    if needs_cjk(tokens):
        cjk = _first_font(CJK, size)
        if cjk is not None:
            return cjk
        _warn_missing_cjk()
    return _first_font(LATIN, size) or ImageFont.load_default(size=size)
