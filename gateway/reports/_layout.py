"""Line breaking and page flow. Text is measured with the report font and broken into lines here,
then placed on rows and rows on pages; nothing is ever parsed as markup, so whatever a company
calls itself is drawn as the characters it is.

Lines break at spaces, between two CJK characters, and inside a word only when the word alone is
wider than the line. A CJK closing mark (，。）」 ...) never starts a line and an opening mark
never ends one. Short blocks are kept on one page; a heading stays with what follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from gateway.reports._fonts import REPLACEMENT, ReportFonts

RGB = tuple[float, float, float]

_CJK = (
    "\u1100-\u11ff\u2e80-\u303f\u3040-\u9fff\ua960-\ua97f\uac00-\ud7ff\uf900-\ufaff"
    "\ufe10-\ufe1f\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff" + REPLACEMENT
)
_UNITS = re.compile(f" +|[{_CJK}]|[^ {_CJK}]+")
_NO_BREAK_BEFORE = frozenset("，。、；：？！）」』》〉】〕”’…·％,.;:?!)]}%")
_NO_BREAK_AFTER = frozenset("（「『《〈【〔“‘([{")
_KEEP_TOGETHER_ROWS = 6  # a block of up to this many rows is not split across pages
_MIN_LABEL_WIDTH = 60.0


@dataclass(frozen=True)
class Style:
    size: float
    leading: float
    color: RGB


@dataclass(frozen=True)
class Span:
    x: float  # from the left edge of the body
    text: str
    style: Style


@dataclass(frozen=True)
class Row:
    height: float
    spans: tuple[Span, ...]
    rule: bool = False  # a thin line under the row (headings)


@dataclass
class Block:
    rows: list[Row]
    space_before: float = 0.0
    keep_with_next: bool = False
    keep_together: bool = False

    @property
    def height(self) -> float:
        return sum(row.height for row in self.rows)


def wrap(fonts: ReportFonts, text: str, width: float, size: float) -> list[str]:
    """``text`` (cleaned) broken into lines no wider than ``width``; ``\\n`` breaks a line."""
    lines: list[str] = []
    for hard in text.split("\n"):
        lines.extend(_wrap_line(fonts, hard, width, size))
    return lines


def _wrap_line(fonts: ReportFonts, text: str, width: float, size: float) -> list[str]:
    if fonts.width(text, size) <= width:
        return [text.strip()]
    tokens: list[list[str]] = []  # [text, " " or ""] where the second is the space before it
    space = ""
    for unit in _UNITS.findall(text):
        if unit[0] == " ":
            space = " "
            continue
        if (
            tokens
            and not space
            and (unit[0] in _NO_BREAK_BEFORE or tokens[-1][0][-1] in _NO_BREAK_AFTER)
        ):
            tokens[-1][0] += unit
        else:
            tokens.append([unit, space])
        space = ""
    space_width = fonts.width(" ", size)
    lines: list[str] = []
    current, current_width = "", 0.0
    for token, before in tokens:
        token_width = fonts.width(token, size)
        gap = space_width if before and current else 0.0
        if current and current_width + gap + token_width <= width:
            current += (" " if gap else "") + token
            current_width += gap + token_width
            continue
        if current:
            lines.append(current)
            current, current_width = "", 0.0
        if token_width <= width:
            current, current_width = token, token_width
            continue
        for char in token:  # a word wider than the line: broken where it must be
            char_width = fonts.width(char, size)
            if current and current_width + char_width > width:
                lines.append(current)
                current, current_width = "", 0.0
            current += char
            current_width += char_width
    if current or not lines:
        lines.append(current)
    return lines


def paragraph(
    fonts: ReportFonts,
    text: str,
    style: Style,
    width: float,
    *,
    indent: float = 0.0,
    space_before: float = 0.0,
) -> Block:
    rows = [
        Row(style.leading, (Span(indent, line, style),))
        for line in wrap(fonts, fonts.clean(text), width - indent, style.size)
    ]
    return Block(rows, space_before, keep_together=len(rows) <= _KEEP_TOGETHER_ROWS)


def heading(
    fonts: ReportFonts, text: str, style: Style, width: float, *, space_before: float, rule: bool
) -> Block:
    lines = wrap(fonts, fonts.clean(text), width, style.size)
    rows = [Row(style.leading, (Span(0.0, line, style),)) for line in lines]
    rows[-1] = Row(rows[-1].height, rows[-1].spans, rule=rule)
    return Block(rows, space_before, keep_with_next=True, keep_together=True)


def labelled(
    fonts: ReportFonts,
    label: str,
    value: str,
    label_style: Style,
    value_style: Style,
    *,
    width: float,
    label_width: float,
    indent: float = 0.0,
    space_before: float = 0.0,
) -> Block:
    """A label and its value beside it in the value column (``label_width`` from the body's
    left edge), both wrapped, row by row."""
    gap = 6.0
    # Values line up in one column whatever the label's indent, as long as labels keep room.
    value_x = max(label_width, indent + _MIN_LABEL_WIDTH)
    labels = wrap(fonts, fonts.clean(label), value_x - indent - gap, label_style.size)
    values = wrap(fonts, fonts.clean(value), width - value_x, value_style.size)
    height = max(label_style.leading, value_style.leading)
    rows = []
    for index in range(max(len(labels), len(values))):
        spans = []
        if index < len(labels):
            spans.append(Span(indent, labels[index], label_style))
        if index < len(values):
            spans.append(Span(value_x, values[index], value_style))
        rows.append(Row(height, tuple(spans)))
    return Block(rows, space_before, keep_together=len(rows) <= _KEEP_TOGETHER_ROWS)


def paginate(blocks: Sequence[Block], height: float) -> list[list[tuple[float, Row]]]:
    """Each page's rows with their offsets down from the top of the body (``height`` high)."""
    pages: list[list[tuple[float, Row]]] = [[]]
    y = 0.0
    for index, block in enumerate(blocks):
        if not block.rows:
            continue
        need = block.height if block.keep_together else block.rows[0].height
        if block.keep_with_next:
            following = _next_rows(blocks[index + 1 :])
            need += following
        space = block.space_before if pages[-1] else 0.0
        if pages[-1] and y + space + need > height and need <= height:
            pages.append([])
            y, space = 0.0, 0.0
        y += space
        for row in block.rows:
            if pages[-1] and y + row.height > height:
                pages.append([])
                y = 0.0
            pages[-1].append((y, row))
            y += row.height
    return pages


def _next_rows(blocks: Iterable[Block]) -> float:
    """What must follow a heading on its page: the blocks up to the first that is no heading,
    whole when short, else its first row."""
    total = 0.0
    for block in blocks:
        if block.rows:
            total += block.space_before + (
                block.height if block.keep_together else block.rows[0].height
            )
            if not block.keep_with_next:
                break
    return total
