"""What a cell shows: a value under its number format, the number format that shows a text
(a class's name over the code a cell holds), and how wide a column must be to show it whole:
no `###`, no cut-off header.

Pure functions of the formats xlnet writes. Widths are in the pixels of the default font
(Calibri 11, whose digits are 7 px wide), with room to spare for LibreOffice's substitute
fonts, which run wider.
"""

from __future__ import annotations

import math
import re

from xlsxwriter.utility import xl_pixel_width

DIGIT_PX = 7  # Calibri 11's digit width: Excel's unit of column width
PADDING_PX = 12  # Excel pads a cell by 5 px; the rest is room for wider substitute fonts
SLACK = 1.12  # LibreOffice without Calibri or Carlito draws text this much wider, or less
BOLD = 1.08
MAX_PX = 60 * DIGIT_PX  # a column never grows past 60 digits: longer text is wrapped prose
DEFAULT_PX = 64  # a column Excel has not been told the width of: 8.43 digits and padding
SPACER_PX = 3 * DIGIT_PX  # an empty column between two blocks
EXCEL_MAX_PX = 255 * DIGIT_PX  # Excel's widest column: 255 characters
HEADER_CHARS = 40  # text this short is a header and is never cut off; longer text may spill

# Literal text in a number format: quoted runs, and backslash-escaped characters.
_LITERAL = re.compile(r'"([^"]*)"|\\(.)', re.DOTALL)


def literal_format(text: str) -> str:
    """The number format that shows `text` whatever the number: quoted, with each double
    quote escaped by a backslash (a quoted run cannot hold one)."""
    runs = text.split('"')
    if not text:
        return '""'
    return '\\"'.join(f'"{run}"' if run else "" for run in runs)


def format_literal(num_format: str) -> str | None:
    """The text a number format made of literals only shows (literal_format's inverse); None
    for a format that shows the number."""
    pos, out = 0, []
    for m in _LITERAL.finditer(num_format):
        if m.start() != pos:
            return None
        out.append(m[1] if m[1] is not None else m[2])
        pos = m.end()
    return "".join(out) if pos == len(num_format) and out else None


def general(value: float) -> str:
    """A number as Excel's General format shows it in a wide enough column: up to 11
    significant characters, no trailing zeros."""
    if value == int(value) and abs(value) < 1e11:
        return str(int(value))
    text = f"{value:.10g}"
    if "e" in text:
        mantissa, exp = text.split("e")
        text = f"{float(mantissa):.5g}E{int(exp):+03d}"
    return text


def shown(value: float | str | bool, num_format: str = "General") -> str:
    """The text a cell holding `value` shows under `num_format` (the formats xlnet writes:
    General, 0, 0.000000, 0.00%, and quoted text with or without General)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return "#NUM!"
    fmt = num_format or "General"
    whole = format_literal(fmt)
    if whole is not None:
        return whole
    literal = "".join(a if a is not None else b for a, b in _LITERAL.findall(fmt))
    rest = _LITERAL.sub("", fmt)
    if rest == "General":
        return literal + general(value)
    if rest.endswith("%"):
        return literal + _decimals(value * 100, rest[:-1]) + "%"
    return literal + _decimals(value, rest)


def _decimals(value: float, pattern: str) -> str:
    places = len(pattern.split(".", 1)[1]) if "." in pattern else 0
    return f"{value:.{places}f}"


def text_px(text: str, bold: bool = False, size: float = 11) -> int:
    """Pixels `text` needs in the default font at `size` points."""
    px = max((xl_pixel_width(line) for line in text.split("\n")), default=0)
    return math.ceil(px * (BOLD if bold else 1) * size / 11)


def number_px(text: str, bold: bool = False, size: float = 11) -> int:
    """Pixels a number's text needs: every character as wide as a digit (minus sign and
    point are narrower, so this errs wide)."""
    return math.ceil(DIGIT_PX * len(text) * (BOLD if bold else 1) * size / 11)


def column_px(text_px: int, numbers_px: int = 0) -> int:
    """The width, in pixels, of a column whose widest text needs `text_px` and widest number
    `numbers_px`: text no wider than MAX_PX (prose may wrap), numbers whatever they need (a
    number too wide shows ###), and never narrower than a default column, where a number
    typed in later still fits."""
    text = min(math.ceil(text_px * SLACK) + PADDING_PX, MAX_PX)
    number = min(math.ceil(numbers_px * SLACK) + PADDING_PX, EXCEL_MAX_PX)
    return max(text, number, DEFAULT_PX)
