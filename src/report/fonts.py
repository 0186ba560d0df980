"""A font that renders Chinese text in matplotlib figures, from the system's fonts.

matplotlib's default DejaVu Sans has no CJK glyphs (they come out as empty boxes). Any font
file known to matplotlib or to the system (fontconfig's folders) that maps the characters of
``PROBE`` is used; files whose names hint at CJK coverage are tried first. On Debian,
``apt-get install fonts-noto-cjk`` (Noto Sans CJK) or ``fonts-wqy-zenhei`` (WenQuanYi Zen Hei)
provides one. Without any, the caller warns and draws with the default font.
"""

from __future__ import annotations

import re
from functools import lru_cache

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

PROBE = "新闻中国经济"  # "news", "China", "economy": common simplified characters
HINT = re.compile(r"cjk|wqy|zenhei|microhei|hei|song|ming|kai|han|droidsansfallback", re.I)


def covers(path: str, text: str = PROBE) -> bool:
    """Whether the font file ``path`` (its first face) maps every character of ``text``."""
    try:
        charmap = FT2Font(path).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(ch) in charmap for ch in text)


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """The family name of a font that renders Chinese (registered with matplotlib), or None
    when no font on this machine does."""
    paths = {entry.fname for entry in font_manager.fontManager.ttflist}
    paths |= set(font_manager.findSystemFonts())  # fonts installed after matplotlib's cache
    for path in sorted(paths, key=lambda p: (HINT.search(p) is None, p)):
        if covers(path):
            font_manager.fontManager.addfont(path)
            return font_manager.FontProperties(fname=path).get_name()
    return None


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds a CJK ideograph (U+3400-U+9FFF)."""
    return any("\u3400" <= ch <= "\u9fff" for ch in text)
