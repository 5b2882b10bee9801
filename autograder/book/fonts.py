"""The fonts of the book's figures: in the Chinese build, matplotlib draws Chinese words with a
CJK font from Debian's packages, and a character no font has is an error, not a tofu box.

:func:`use_language_font` runs when a chapter imports :mod:`autograder.book`; in English it
changes nothing (and does not import matplotlib).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from autograder.i18n import CHINESE, language

# Debian's fonts-wqy-microhei (1.6 MB, installed by .ci/run and the Makefile): a sans-serif CJK
# font whose Latin letters match DejaVu Sans closely enough; Noto CJK (fonts-noto-cjk) is 56 MB.
CJK_FONT = "WenQuanYi Micro Hei"
CJK_FONT_FILE = "wqy-microhei.ttc"
CJK_FONT_PACKAGE = "fonts-wqy-microhei"
MISSING_GLYPH = r"Glyph .* missing from (current )?font"


class MissingFontError(RuntimeError):
    """The Chinese build cannot draw its figures: no CJK font is installed."""


def _register_cjk_font() -> None:
    """Make matplotlib know the CJK font, even when its font cache predates the font's install."""
    from matplotlib import font_manager

    if any(entry.name == CJK_FONT for entry in font_manager.fontManager.ttflist):
        return
    for path in font_manager.findSystemFonts():
        if Path(path).name == CJK_FONT_FILE:
            font_manager.fontManager.addfont(path)
            return
    raise MissingFontError(f"the Chinese book draws its figures with the font {CJK_FONT!r}, which is not installed: `apt-get install {CJK_FONT_PACKAGE}` (make venv does it as root)")


def use_language_font(lang: str | None = None) -> None:
    """In Chinese: draw with DejaVu Sans (the English figures' font), falling back to the CJK font
    for Chinese characters, and turn matplotlib's "Glyph ... missing" warning into an error.

    Raises:
        MissingFontError: in Chinese, when the CJK font is not installed.
    """
    if (lang or language()) != CHINESE:
        return
    import matplotlib

    _register_cjk_font()
    # Glyph fallback runs along font.family, not along a generic family's list (font.sans-serif).
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", CJK_FONT]
    warnings.filterwarnings("error", message=MISSING_GLYPH, category=UserWarning)
