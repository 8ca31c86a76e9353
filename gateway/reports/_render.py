"""``render_report``: the report's pages drawn with reportlab, then made PDF/A-3b (``_pdfa``).

Every page has the same header (title, report id, issue time, validity, page x/y, and the QR code
of ``verify_url`` with the URL written under it) and footer (issuer, purpose, what the report
replaces). The QR code is drawn as vector squares from segno's matrix, error correction M, so it
stays sharp at any print size and needs no image. The body is laid out first (``_layout``), so
the page count is known when headers are drawn.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, datetime

import pikepdf
import segno
from reportlab import rl_config  # type: ignore[import-untyped]  # reportlab ships no types
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfdoc import PDFError  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from gateway.errors import Unavailable
from gateway.reports._content import (
    BLUE,
    BODY,
    columns,
    joined,
    purpose_words,
    report_blocks,
    say,
)
from gateway.reports._facts import ReportFacts
from gateway.reports._fonts import ReportFonts
from gateway.reports._layout import Row, Span, Style, paginate, wrap
from gateway.reports._pdfa import Archival, to_pdfa
from gateway.reports._text import TEXT

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
TOP = 12 * mm
BOTTOM = 10 * mm
BODY_WIDTH = PAGE_WIDTH - 2 * MARGIN
QR_MAX_SIDE = 28 * mm
QR_MAX_MODULE = 0.9 * mm  # a short URL's code is no larger than it needs to be
QR_QUIET_MODULES = 4  # ISO/IEC 18004: four modules of white around the symbol
VERIFY_WIDTH = 44 * mm
GAP = 4 * mm

TITLE = Style(15.0, 19.0, BLUE)
SUBTITLE = Style(10.5, 14.0, BLUE)
HEADER = Style(8.0, 11.0, (0.15, 0.15, 0.15))
REPORT_ID = Style(10.0, 13.0, (0.0, 0.0, 0.0))
VERIFY = Style(6.5, 8.5, (0.2, 0.2, 0.2))
FOOTER = Style(6.8, 9.0, (0.35, 0.35, 0.35))
RULE = (0.6, 0.65, 0.75)
LANGUAGE_TAGS = {"zh": "zh-CN", "en": "en", "ru": "ru"}
ATTACHMENT = "profile.jws"
QR_FORM = "cxgVerifyQr"

# Streams Flate-compressed only, not also ASCII85-encoded: a quarter smaller, and reportlab's
# pure-Python ASCII85 was a fifth of a render. Process-wide, and reports are reportlab's only
# use in the gateway.
rl_config.useA85 = 0


def render_report(facts: ReportFacts, fonts: ReportFonts) -> bytes:
    """The report as unsigned PDF/A-3b bytes, the profile's JWS attached."""
    try:
        return _render(facts, fonts)
    except (PDFError, pikepdf.PdfError, segno.DataOverflowError) as exc:
        raise Unavailable(f"report {facts.report_id} could not be rendered: {exc}") from exc


def _render(facts: ReportFacts, fonts: ReportFonts) -> bytes:
    header = _Header(facts, fonts)
    footer = _footer(facts, fonts)
    body_top = PAGE_HEIGHT - TOP - header.height - GAP
    body_bottom = BOTTOM + footer[-1][0] + footer[-1][1].height + GAP
    pages = paginate(report_blocks(facts, fonts, BODY_WIDTH), body_top - body_bottom)
    out = io.BytesIO()
    with fonts.lock:  # reportlab's subsetter shares the font file's read position
        canvas = Canvas(
            out,
            pagesize=A4,
            pageCompression=1,
            invariant=1,  # no clock readings of its own: dates and IDs are set in _pdfa
            enforceColorSpace="rgb",
            initialFontName=fonts.name,
            initialFontSize=BODY.size,
        )
        for number, rows in enumerate(pages, start=1):
            header.draw(canvas, number, len(pages))
            _draw_rows(canvas, fonts, footer, MARGIN, BOTTOM + footer[-1][0] + footer[-1][1].height)
            _draw_rows(canvas, fonts, rows, MARGIN, body_top)
            canvas.showPage()
        canvas.save()
    primary = columns(facts)[0]
    return to_pdfa(
        out.getvalue(),
        Archival(
            title=f"{TEXT['title'][primary]} {facts.report_id}",
            author=facts.issuer,
            created=facts.issued_at,
            language=LANGUAGE_TAGS[facts.languages[0]],
            document_id=hashlib.sha256(f"{facts.issuer}/{facts.report_id}".encode()).digest()[:16],
            attachment=facts.profile_jws.encode("ascii"),
            attachment_name=ATTACHMENT,
            attachment_type="application/jose",
            attachment_description=(
                f"{facts.profile.name or 'profile'} version {facts.profile_version},"
                " signed (JWS, RFC 7515): the profile this report shows"
            ),
        ),
    )


def _draw_rows(
    canvas: Canvas, fonts: ReportFonts, rows: list[tuple[float, Row]], left: float, top: float
) -> None:
    """Rows at their offsets down from ``top``, each span on its row's baseline."""
    font: tuple[float, tuple[float, float, float]] | None = None
    for offset, row in rows:
        baseline = top - offset - row.height * 0.78
        for span in row.spans:
            if span.text:
                if font != (span.style.size, span.style.color):
                    font = (span.style.size, span.style.color)
                    canvas.setFont(fonts.name, span.style.size)
                    canvas.setFillColorRGB(*span.style.color)
                canvas.drawString(left + span.x, baseline, span.text)
        if row.rule:
            canvas.setStrokeColorRGB(*RULE)
            canvas.setLineWidth(0.6)
            canvas.line(left, baseline - 3.5, left + BODY_WIDTH, baseline - 3.5)


def _stacked(rows: list[Row]) -> list[tuple[float, Row]]:
    """Rows one under the other."""
    placed, offset = [], 0.0
    for row in rows:
        placed.append((offset, row))
        offset += row.height
    return placed


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _footer(facts: ReportFacts, fonts: ReportFonts) -> list[tuple[float, Row]]:
    rows = [Row(2.5 * mm, (), rule=False)]
    purpose = purpose_words(facts.purpose)
    for column in columns(facts):
        text = " · ".join(
            (
                say("issued_by", column, issuer=facts.issuer),
                say("purpose", column, purpose=purpose),
                say("replaces", column),
            )
        )
        rows += _lines(fonts, text, FOOTER, BODY_WIDTH)
    return _stacked(rows)


def _lines(fonts: ReportFonts, text: str, style: Style, width: float, x: float = 0.0) -> list[Row]:
    return [
        Row(style.leading, (Span(x, line, style),))
        for line in wrap(fonts, fonts.clean(text), width, style.size)
    ]


@dataclass
class _Header:
    """The part of every page above the body; only the page number changes."""

    facts: ReportFacts
    fonts: ReportFonts

    def __post_init__(self) -> None:
        facts, fonts = self.facts, self.fonts
        cols = columns(facts)
        code = segno.make_qr(facts.verify_url, error="m", boost_error=False)
        self.matrix = [bytes(row) for row in code.matrix]
        count = len(self.matrix)
        self.module = min(QR_MAX_MODULE, QR_MAX_SIDE / count)
        side = count * self.module
        quiet = QR_QUIET_MODULES * self.module
        self.qr_left = PAGE_WIDTH - MARGIN - side
        self.qr_top = PAGE_HEIGHT - TOP
        verify_width = max(side, VERIFY_WIDTH)
        # A Chinese label takes a full-width colon; a bilingual one the Latin colon.
        colon = "：" if facts.languages == ("zh",) else ": "
        verify_label = joined(TEXT["verify_at"][c] for c in cols) + colon.strip()
        self.verify = wrap(fonts, fonts.clean(verify_label), verify_width, VERIFY.size) + _chunks(
            fonts, facts.verify_url, verify_width, VERIFY.size
        )
        self.verify_top = self.qr_top - side - quiet
        right_bottom = self.verify_top - len(self.verify) * VERIFY.leading

        self.left_width = (
            min(self.qr_left - quiet, PAGE_WIDTH - MARGIN - verify_width) - GAP - MARGIN
        )
        self.titles = [
            _lines(fonts, TEXT["title"][c], TITLE if i == 0 else SUBTITLE, self.left_width)
            for i, c in enumerate(cols)
        ]
        self.lines: list[Row] = []
        self.lines += _lines(
            fonts,
            f"{joined(TEXT['report_id'][c] for c in cols)}{colon}{facts.report_id}",
            REPORT_ID,
            self.left_width,
        )
        self.lines += _lines(
            fonts,
            f"{joined(TEXT['issued'][c] for c in cols)}{colon}{_utc(facts.issued_at)}",
            HEADER,
            self.left_width,
        )
        self.lines += _lines(
            fonts,
            f"{joined(TEXT['valid_until'][c] for c in cols)}{colon}{_utc(facts.expires_at)}",
            HEADER,
            self.left_width,
        )
        self.cols = cols
        title_height = sum(row.height for rows in self.titles for row in rows)
        page_height = len(self._page_line(999, 999)) * HEADER.leading
        left_bottom = (
            self.qr_top - 2.0 - title_height - sum(r.height for r in self.lines) - page_height
        )
        self.height = self.qr_top - min(left_bottom, right_bottom) + 2.0

    def _page_line(self, page: int, pages: int) -> list[Row]:
        text = joined(say("page", c, page=page, pages=pages) for c in self.cols)
        return _lines(self.fonts, text, HEADER, self.left_width)

    def draw(self, canvas: Canvas, page: int, pages: int) -> None:
        fonts = self.fonts
        rows = (
            [row for rows in self.titles for row in rows]
            + self.lines
            + self._page_line(page, pages)
        )
        _draw_rows(canvas, fonts, _stacked(rows), MARGIN, self.qr_top - 2.0)
        if page == 1:
            self._define_qr(canvas)
        canvas.saveState()
        canvas.translate(self.qr_left, self.qr_top - len(self.matrix) * self.module)
        canvas.doForm(QR_FORM)
        canvas.restoreState()
        canvas.setFont(fonts.name, VERIFY.size)
        canvas.setFillColorRGB(*VERIFY.color)
        y = self.verify_top
        for line in self.verify:
            y -= VERIFY.leading
            canvas.drawRightString(PAGE_WIDTH - MARGIN, y + 2.0, line)
        rule_y = PAGE_HEIGHT - TOP - self.height
        canvas.setStrokeColorRGB(*RULE)
        canvas.setLineWidth(0.8)
        canvas.line(MARGIN, rule_y, PAGE_WIDTH - MARGIN, rule_y)

    def _define_qr(self, canvas: Canvas) -> None:
        """The QR code as a form XObject, drawn on every page: defined once per document, one
        filled path of a rectangle per run of dark modules, in module units."""
        count = len(self.matrix)
        side = count * self.module
        canvas.beginForm(QR_FORM, 0, 0, side, side)
        canvas.setFillColorRGB(0, 0, 0)
        canvas.scale(self.module, self.module)
        runs = []
        for r, row in enumerate(self.matrix):
            y = count - r - 1
            c = 0
            while c < count:
                if row[c]:
                    start = c
                    while c < count and row[c]:
                        c += 1
                    runs.append(f"{start} {y} {c - start} 1 re")
                else:
                    c += 1
        canvas.addLiteral("\n".join(runs) + "\nf")
        canvas.endForm()


def _chunks(fonts: ReportFonts, text: str, width: float, size: float) -> list[str]:
    """``text`` cut anywhere, to lines of ``width``: a URL has no place it must break."""
    lines, current = [], ""
    for char in fonts.clean(text):
        if current and fonts.width(current + char, size) > width:
            lines.append(current)
            current = ""
        current += char
    return [*lines, current] if current else lines
