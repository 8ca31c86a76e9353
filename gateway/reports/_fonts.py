"""The one TrueType font reports are set in: loaded and registered with reportlab once per
process and path, then shared by every render.

Registering parses the whole font (about 0.2 s for WenQuanYi Micro Hei, 5 MB); each document then
only subsets the glyphs it uses. reportlab's subsetter reads the font file through one shared
file position, so a render holds ``lock`` while it builds and writes its PDF.

Text goes through ``clean`` before it is measured or drawn: a character the font has no glyph
for would be drawn as .notdef, which PDF/A forbids (ISO 19005-3, 6.2.11.8) and a reader could
not tell from a blank; it is shown as a white square instead, never dropped.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]

from gateway.errors import Unavailable

DEFAULT_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
SETTING = "CXG_REPORT_FONT"
DEBIAN_PACKAGE = "fonts-wqy-microhei"
# Every report draws these: a font without them cannot set a report in zh, en and ru.
_PROBE = "企业信用报告 Company credit report Кредитный отчёт о компании 0123456789 №«»（）：；"
REPLACEMENT = "□"  # U+25A1 WHITE SQUARE, where the font has no glyph

_loaded: dict[Path, ReportFonts] = {}
_loading = threading.Lock()


class ReportFonts:
    """The report font, registered with reportlab; ``find`` it once per process."""

    def __init__(self, name: str, font: TTFont, path: Path) -> None:
        self.name = name  # reportlab's font name
        self.path = path
        self.lock = threading.Lock()
        face = font.face
        self._widths: dict[int, float] = dict(face.charWidths)
        self._default_width = float(face.defaultWidth)
        # Glyph 0 is .notdef: a character mapped to it has no glyph of its own.
        self._glyphs = frozenset(code for code, glyph in face.charToGlyph.items() if glyph)
        self._clean_cache: dict[str, str] = {}
        self._width_cache: dict[str, float] = {}

    @classmethod
    def find(cls, path: Path | None = None) -> ReportFonts:
        """The font at ``path`` (the ``CXG_REPORT_FONT`` setting), else Debian's WenQuanYi Micro
        Hei; ``Unavailable`` naming the setting when it is missing or unusable."""
        wanted = Path(path) if path is not None else DEFAULT_FONT
        with _loading:
            key = wanted.resolve()
            fonts = _loaded.get(key)
            if fonts is None:
                fonts = _loaded[key] = cls._load(wanted, key)
            return fonts

    @classmethod
    def _load(cls, wanted: Path, key: Path) -> ReportFonts:
        hint = (
            f"set {SETTING} to a TrueType font with CJK, Cyrillic and Latin glyphs, or install"
            f" Debian's {DEBIAN_PACKAGE}"
        )
        if not key.is_file():
            raise Unavailable(f"no report font at {wanted}; {hint}", field=SETTING)
        name = "CxgReport-" + hashlib.sha256(str(key).encode()).hexdigest()[:8]
        try:
            # Index 0 of a collection (.ttc): WenQuanYi Micro Hei, not its monospaced sibling.
            font = TTFont(name, str(key), subfontIndex=0)
        except (TTFError, OSError, ValueError, KeyError, IndexError) as exc:
            raise Unavailable(
                f"report font {wanted} is unusable ({exc}); {hint}", field=SETTING
            ) from exc
        fonts = cls(name, font, key)
        missing = sorted(
            {c for c in _PROBE + REPLACEMENT if not c.isspace() and ord(c) not in fonts._glyphs}
        )
        if missing:
            raise Unavailable(
                f"report font {wanted} has no glyphs for {''.join(missing)}; {hint}", field=SETTING
            )
        pdfmetrics.registerFont(font)
        return fonts

    def clean(self, text: str) -> str:
        """``text`` as it can be drawn: spaces for tabs and other spacing, a white square for
        each character the font lacks or that is not text (controls, format characters)."""
        cached = self._clean_cache.get(text)
        if cached is not None:
            return cached
        out = []
        for char in text:
            if char == "\n" or (ord(char) in self._glyphs and char.isprintable()):
                out.append(char)
            elif char.isspace():
                out.append(" ")
            else:  # includes zero-width and direction marks: shown, never obeyed
                out.append(REPLACEMENT)
        cleaned = "".join(out)
        if len(self._clean_cache) < 4096 and len(text) < 256:  # labels and names, not summaries
            self._clean_cache[text] = cleaned
        return cleaned

    def width(self, text: str, size: float) -> float:
        """The advance width of cleaned ``text`` at ``size`` points."""
        units = self._width_cache.get(text)
        if units is None:
            widths, default = self._widths, self._default_width
            units = sum(widths.get(ord(c), default) for c in text)
            if len(self._width_cache) < 65536 and len(text) < 64:  # words, not whole summaries
                self._width_cache[text] = units
        return units * size / 1000.0
