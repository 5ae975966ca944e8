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
from xlsxwriter.worksheet import CellFormulaTuple, CellNumberTuple, Worksheet

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
