"""A faster XlsxWriter worksheet for large training sheets: the same API and the same bytes.

Where a build of a million cells spends its time in XlsxWriter, and what this sheet does:
- every formula is rewritten by ~29 regular expressions that prefix Excel 365's functions with
  `_xlfn.` (SORT, FILTER, LAMBDA ...). A training sheet calls a handful of classic functions
  over and over, so this sheet asks XlsxWriter's own rewriting once per distinct function name
  whether it would change a call of it, and skips the rewriting where none would change;
- an array formula's range is padded with zeros cell by cell, which the writer then
  overwrote with each cell's cached value; `write_array_values` stores the values directly;
- the innermost XML loop builds an attribute list per cell; the two cells a training sheet
  is made of (a formatted number, a formatted formula with a float value) are written here
  directly, once per sheet compared with the text XlsxWriter writes for the same cell (if a
  version writes them differently, XlsxWriter writes them all); every other cell by XlsxWriter.
"""

from __future__ import annotations

import io
import math
import re

from xlsxwriter.utility import xl_rowcol_to_cell_fast
from xlsxwriter.worksheet import (
    CellArrayFormulaTuple,
    CellBlankTuple,
    CellFormulaTuple,
    CellNumberTuple,
    CellStringTuple,
    Worksheet,
)

from .shown import DEFAULT_PX, HEADER_CHARS, SPACER_PX, column_px, number_px, shown, text_px

# A function call: the whole run of name characters before a "(" (dots included, as in
# STDEV.P); a "(" after an operator or another "(" is a group, not a call. ASCII only, and
# possessive, for speed: a run cut at a non-ASCII letter is only checked more strictly.
_CALL = re.compile(r"[\w.]++(?=\()", re.ASCII)


class FastSheet(Worksheet):
    """A Worksheet, for `Workbook.add_worksheet(name, FastSheet)`."""

    def __init__(self) -> None:
        super().__init__()
        self._untouched: dict[str, bool] = {}  # function name -> XlsxWriter leaves its calls
        self._same_xml: dict[type, bool] = {}  # cell kind -> our text is XlsxWriter's
        self.fit = True  # set each column's width from what it shows, when the file is written
        self.narrow_spacers = True  # and an empty column between two used ones narrow

    def _assemble_xml_file(self) -> None:
        if self.fit:
            self.fit_columns()
        super()._assemble_xml_file()

    def fit_columns(self) -> None:
        """Widen every column to the widest text it shows (numbers in their number format,
        bold and larger fonts included), so that no cell shows `###` and no header is cut off.
        Longer text (a title, prose) with nothing to its right may spill over and is not
        counted; a formatted blank (a cell for a student to fill) keeps a default width;
        columns given a width with set_column keep it."""
        table = self.str_table  # a dict while cells are written, a list once the file is
        strings = table.string_array or sorted(table.string_table, key=table.string_table.get)
        text: dict[int, int] = {}  # column -> pixels its text needs (capped: prose may wrap)
        numbers: dict[int, int] = {}  # column -> pixels its numbers need (never capped: ###)
        spans: dict[tuple[int, object], list[float]] = {}  # fixed-decimal numbers: min, max

        def note(into: dict[int, int], col: int, px: int) -> None:
            into[col] = max(into.get(col, 0), px)

        for cells in self.table.values():
            for col, cell in cells.items():
                kind, fmt = cell.__class__, cell.format
                if kind is CellNumberTuple:
                    value = cell.number
                elif kind is CellFormulaTuple or kind is CellArrayFormulaTuple:
                    value = cell.value
                elif kind is CellStringTuple:
                    shown_text = strings[cell.string]
                    if col + 1 in cells or len(shown_text) <= HEADER_CHARS:
                        note(text, col, _text_px(shown_text, fmt))
                    continue
                elif kind is CellBlankTuple and fmt is not None:
                    note(numbers, col, DEFAULT_PX)
                    continue
                else:
                    continue
                if value.__class__ is float or value.__class__ is int:
                    number_format = fmt.num_format if fmt is not None else "General"
                    if "General" not in str(number_format) and value == value:
                        span = spans.setdefault((col, fmt), [value, value])
                        span[0], span[1] = min(span[0], value), max(span[1], value)
                        continue
                    note(numbers, col, _value_px(value, fmt))
                else:
                    note(text, col, _value_px(value, fmt))
        for (col, fmt), ends in spans.items():
            note(numbers, col, max(_value_px(v, fmt) for v in ends))
        used = sorted(set(text) | set(numbers))
        for col in range(used[0] if used else 0, used[-1] + 1 if used else 0):
            if col in self.col_info:
                continue
            if col in text or col in numbers:
                self.set_column_pixels(col, col, column_px(text.get(col, 0), numbers.get(col, 0)))
            elif self.narrow_spacers:
                self.set_column_pixels(col, col, SPACER_PX)

    def _leaves(self, name: str) -> bool:
        known = self._untouched.get(name)
        if known is None:
            # Some patterns look one character before the name; dotted patterns match any
            # character for the dot, so dotted names are left to XlsxWriter.
            calls, prepare = ("(" + name + "(", " " + name + "("), super()._prepare_formula
            known = "." not in name and all(prepare(c) == c for c in calls)
            self._untouched[name] = known
        return known

    def _prepare_formula(self, formula, expand_future_functions=False):
        if self.use_future_functions or expand_future_functions or "_xlfn." in formula:
            return super()._prepare_formula(formula, expand_future_functions)
        for name in _CALL.findall(formula):
            if not self._leaves(name):
                return super()._prepare_formula(formula, expand_future_functions)
        # What XlsxWriter strips before rewriting: the array braces and the leading "=".
        if formula.startswith("{"):
            formula = formula[1:]
        if formula.startswith("="):
            formula = formula[1:]
        if formula.endswith("}"):
            formula = formula[:-1]
        return formula

    def write_array_values(self, row: int, col: int, formula: str, cell_format, values) -> None:
        """`write_array_formula` over the block the rows of `values` cover, each cell with its
        own cached value and the format (XlsxWriter pads the range with zeros)."""
        last_row, last_col = row + len(values) - 1, col + len(values[0]) - 1
        self.write_array_formula(row, col, last_row, last_col, formula, cell_format, values[0][0])
        padded = not self.constant_memory  # which keeps no table to store into
        for i, line in enumerate(values):
            cells = self.table[row + i]  # the padding has checked the range's dimensions
            for j, value in enumerate(line):
                if not (i or j):
                    continue
                if padded and math.isfinite(value):
                    cells[col + j] = CellNumberTuple(value, cell_format)
                else:
                    self.write_number(row + i, col + j, value, cell_format)  # or its error

    def _write_cell(self, row: int, col: int, cell) -> None:
        kind, fmt, text = cell.__class__, cell.format, None
        if fmt is not None and kind is CellNumberTuple:
            ref, xf = xl_rowcol_to_cell_fast(row, col), fmt._get_xf_index()
            text = f'<c r="{ref}" s="{xf}"><v>{cell.number:.16G}</v></c>'
        elif fmt is not None and kind is CellFormulaTuple and cell.value.__class__ is float:
            ref, xf = xl_rowcol_to_cell_fast(row, col), fmt._get_xf_index()
            formula = self._escape_data(cell.formula)
            text = f'<c r="{ref}" s="{xf}"><f>{formula}</f><v>{cell.value}</v></c>'
        if text is not None and kind not in self._same_xml:
            fh, self.fh = self.fh, io.StringIO()
            try:
                super()._write_cell(row, col, cell)
                self._same_xml[kind] = self.fh.getvalue() == text
            finally:
                self.fh = fh
        if text is not None and self._same_xml[kind]:
            self.fh.write(text)
        else:
            super()._write_cell(row, col, cell)


def _text_px(text: str, fmt) -> int:
    bold, size = (False, 11) if fmt is None else (bool(fmt.bold), fmt.font_size or 11)
    return text_px(text, bold, size)


def _value_px(value, fmt) -> int:
    """Pixels the cached value of a number or formula cell needs under its format."""
    if value is None or value == "":
        return 0
    bold, size = (False, 11) if fmt is None else (bool(fmt.bold), fmt.font_size or 11)
    text = shown(value, fmt.num_format if fmt is not None else "General")
    if isinstance(value, str):
        return text_px(text, bold, size)
    return number_px(text, bold, size)


def straight_lines(chart) -> None:
    """Make an XlsxWriter chart say `<c:smooth val="0"/>` for every series: it writes only
    `val="1"`, and a reader that takes the element's absence for the schema's default (true)
    draws a smoothed curve through points that were computed, not interpolated."""

    def smooth(on) -> None:
        chart._xml_empty_tag("c:smooth", [("val", "1" if on else "0")])

    chart._write_c_smooth = smooth
