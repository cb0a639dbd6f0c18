"""Font lookup for rendered images: a legible Latin font, and a CJK font when tokens need one."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Iterable

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
    return any(lo <= ord(ch) <= hi for text in texts for ch in text for lo, hi in CJK_RANGES)


@functools.lru_cache(maxsize=None)
def _first_font(paths: tuple[str, ...], size: int) -> ImageFont.FreeTypeFont | None:
    for path in paths:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
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
