"""Streams one worksheet part's XML into its cells, as Excel and LibreOffice read it.

Every `<row>` and `<c>` the part holds is read, in any order and wherever it sits: the
`<dimension>` is a hint, never a bound. What spreadsheet programs resolve differently is
refused instead of guessed (a row or a cell given twice, a cell whose address is outside its
row, overlapping array formulas, a formula inside another formula's array range). Excel's
specification limits (1,048,576 rows, 16,384 columns, 8,192 characters a formula, 64 nesting
levels, 255 arguments) are applied while reading, before any per-cell work.

This module is the expat state machine over rows and cells; a cell's address and value are
read by sheetcells.py, its formula by sheetformulas.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import a1
from .a1 import MAX_COLS, MAX_ROWS
from .sheetcells import Cells, cell_at, cell_value
from .sheetformulas import MAX_ARGUMENTS, MAX_FORMULA_CHARS, MAX_NESTING, Formulas, check_arrays
from .xmlstream import PartError, feed, parser

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_NS = "http://purl.oclc.org/ooxml/spreadsheetml/main"
# The evaluator holds each sheet as a dense grid (~21 bytes a cell): a sheet whose cells or
# references span more than this many (rows x columns of its extent) is refused, not computed.
MAX_GRID_CELLS = 32_000_000

# The elements every cell is made of, compared by identity in the callbacks (see parser()).
_C, _F, _V = (f"{MAIN_NS} {local}" for local in ("c", "f", "v"))
_NAMES = {n: n for n in (_C, _F, _V)}


class _Reader:
    """Expat callbacks for one worksheet part. Each element name (namespace included) maps to
    its handler in one dict, since this runs once per element of files of millions of cells."""

    def __init__(self, strings: list[str], budget: list[int], cached: bool) -> None:
        self.strings, self.budget, self.keep_cached = strings, budget, cached
        self.out = Cells()
        self.formulas = Formulas(self.out)
        self.rows: set[int] = set()
        self.row = self.last_row = -1
        self.row_text = ""
        self.col = -1
        self.row_cols: list[int] = []  # columns of the current row's cells, in file order
        self.extent = (0, 0)  # rows, columns: one past the last cell of any row
        # Cells that array formulas already read cover: their cached values are skipped as
        # they stream by (millions in an arrays-layout file). Only arrays whose anchors came
        # first count here; check_arrays settles the rest once the whole part is read.
        self.active: list[tuple[int, int, int]] = []  # (last row, first col, last col)
        self.cover = bytearray()
        self.skip = False
        self.depth_ignored = 0  # inside an element whose content is not cells (extLst, ...)
        self.in_data = self.data_seen = False
        self.cell: tuple[int, int] | None = None  # the cell open now
        self.where = (0, 0)  # the cell last opened, for messages
        self.kind = "n"
        self.f_attrs: dict[str, str] | None = None
        self.collect: list[str] | None = None
        self.f_text: str | None = None
        self.v_text: str | None = None
        self.is_text: list[str] | None = None
        self.in_rph = 0
        self.columns: dict[str, int] = {}
        starts = {"c": self._start_cell, "f": self._start_f, "v": self._start_text,
                  "t": self._start_t, "row": self._start_row, "is": self._start_is,
                  "rPh": self._start_rph, "sheetData": self._start_data,
                  "extLst": self._start_ext}  # fmt: skip
        ends = {"c": self._end_cell, "f": self._end_f, "v": self._end_v, "t": self._end_t,
                "row": self._end_row, "rPh": self._end_rph,
                "sheetData": self._end_data}  # fmt: skip
        self.starts = {f"{ns} {k}": h for ns in (MAIN_NS, STRICT_NS) for k, h in starts.items()}
        self.ends = {f"{ns} {k}": h for ns in (MAIN_NS, STRICT_NS) for k, h in ends.items()}

    # --- expat callbacks -----------------------------------------------------------------
    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.depth_ignored:
            self.depth_ignored += 1
            return
        # The three elements of every cell first, without a look-up.
        if name is _C:
            self._start_cell(attrs)
            return
        if name is _V:
            # A formula's cached value is wanted only by read_cached, so not collected.
            if self.cell is not None and (
                self.keep_cached or (self.f_attrs is None and not self.skip)
            ):
                self.collect = []
            return
        if name is _F:
            self._start_f(attrs)
            return
        handler = self.starts.get(name)
        if handler is not None:
            handler(attrs)
        elif self.in_data and not name.startswith((MAIN_NS + " ", STRICT_NS + " ")):
            self.depth_ignored = 1  # another namespace's element: not cells

    def text(self, data: str) -> None:
        collect = self.collect
        if collect is not None:
            collect.append(data)

    def end(self, name: str) -> None:
        if self.depth_ignored:
            self.depth_ignored -= 1
            return
        if name is _C:
            self._end_cell()
            return
        if name is _V or name is _F:
            collect = self.collect
            if collect is not None:
                if name is _V:
                    self.v_text = "".join(collect)
                else:
                    self.f_text = "".join(collect)
                self.collect = None
            return
        handler = self.ends.get(name)
        if handler is not None:
            handler()

    def _start_f(self, attrs: dict[str, str]) -> None:
        if self.cell is not None:
            if self.f_attrs is not None:
                raise self._error("holds two formulas")
            self.f_attrs = attrs
            self.collect = []

    def _start_text(self, _attrs) -> None:
        if self.cell is not None and (not self.skip or self.keep_cached):
            self.collect = []

    def _cover_from_active(self) -> None:
        cover = self.cover = bytearray(max((a[2] + 1 for a in self.active), default=0))
        for _, c0, c1 in self.active:
            cover[c0 : c1 + 1] = b"\1" * (c1 - c0 + 1)

    def _start_t(self, _attrs) -> None:
        if self.is_text is not None and not self.in_rph:
            self.collect = []

    def _start_is(self, _attrs) -> None:
        if self.cell is not None:
            self.is_text = []

    def _start_rph(self, _attrs) -> None:
        self.in_rph += 1

    def _end_rph(self) -> None:
        self.in_rph -= 1

    def _start_data(self, _attrs) -> None:
        if self.data_seen:
            raise PartError("two sheetData elements")
        self.in_data = self.data_seen = True

    def _end_data(self) -> None:
        self.in_data = False

    def _start_ext(self, _attrs) -> None:
        if self.in_data:
            self.depth_ignored = 1

    def _end_f(self) -> None:
        if self.collect is not None:
            self.f_text = "".join(self.collect)
            self.collect = None

    def _end_v(self) -> None:
        if self.collect is not None:
            self.v_text = "".join(self.collect)
            self.collect = None

    def _end_t(self) -> None:
        if self.collect is not None:
            if self.is_text is not None:
                self.is_text.append("".join(self.collect))
            self.collect = None

    # --- rows and cells ----------------------------------------------------------------
    def _start_row(self, attrs: dict[str, str]) -> None:
        if not self.in_data:
            return
        r = attrs.get("r")
        # Without r, a row follows the previous one, as the specification says.
        row = self.last_row + 1 if r is None else _whole(r, "row number") - 1
        if not 0 <= row < MAX_ROWS:
            raise PartError(f"row number {r} is beyond Excel's 1,048,576 rows")
        if row in self.rows:
            raise PartError(
                f"row {row + 1} is given twice; spreadsheet programs disagree on which copy counts"
            )
        self.rows.add(row)
        if row < self.last_row:
            self.active = []  # rows out of order: no skipping; check_arrays decides
            self.cover = bytearray()
        elif self.active and min(a[0] for a in self.active) < row:
            self.active = [a for a in self.active if a[0] >= row]
            self._cover_from_active()
        self.row = self.last_row = row
        self.row_text = str(row + 1)
        self.col = -1
        self.row_cols = []

    def _end_row(self) -> None:
        if self.row >= 0 and self.row_cols:
            rows, cols = self.extent
            self.extent = (max(rows, self.row + 1), max(cols, max(self.row_cols) + 1))
            self.budget[0] -= len(self.row_cols)
            if self.budget[0] < 0:
                raise PartError("more cells than xlnet reads")
        self.row = -1

    def _start_cell(self, attrs: dict[str, str]) -> None:
        row = self.row
        if row < 0:
            return  # a cell outside any row is not part of the sheet
        ref = attrs.get("r")
        if ref is None:
            c = self.col + 1
            if c >= MAX_COLS:
                raise PartError(f"row {row + 1} runs past column XFD")
        else:
            # The usual address is the column's letters, then this row's number as written.
            digits = self.row_text
            c = self.columns.get(ref[: -len(digits)], -1) if ref.endswith(digits) else -1
            if c < 0:
                at, c = cell_at(ref, ref)
                if at != row:
                    raise PartError(f"cell {ref} stands inside row {row + 1}")
                letters = ref.rstrip("0123456789")
                if letters + digits == ref:
                    self.columns[letters] = c
        cols = self.row_cols
        if c <= self.col and c in cols:
            raise PartError(
                f"cell {a1.cell(row, c)} is given twice; spreadsheet programs disagree on "
                "which copy counts"
            )
        cols.append(c)
        self.col = c
        self.cell = self.where = (row, c)
        self.kind = attrs.get("t", "n")
        self.skip = c < len(self.cover) and self.cover[c] != 0
        self.f_attrs = self.f_text = self.v_text = self.is_text = None

    def _error(self, what: str) -> PartError:
        where = a1.cell(*self.where)
        return PartError(f"cell {where} {what}")

    def _end_cell(self) -> None:
        rc = self.cell
        if rc is None:
            return
        self.cell = None
        fa = self.f_attrs
        if self.skip:
            if fa is not None:
                raise self._error("holds a formula inside an array formula's range")
            if self.keep_cached and self.v_text is not None:
                value = self._value(self.v_text)
                if value is not None:
                    self.out.cached[rc] = value
            return
        if fa is not None:
            text = self.f_text or ""
            if (
                not fa
                and text
                and len(text) <= MAX_FORMULA_CHARS
                and text.count("(") <= MAX_NESTING
                and text.count(",") < MAX_ARGUMENTS
            ):
                self.out.formulas[rc] = "=" + text  # the common case, checked inline
            else:
                self._formula(rc, fa, text)
            if self.keep_cached and self.v_text is not None:
                value = self._value(self.v_text)
                if value is not None:
                    self.out.cached[rc] = value
            return
        if self.is_text is not None:
            self.out.values[rc] = "".join(self.is_text)
        elif self.v_text is not None:
            value = self._value(self.v_text)
            if value is not None:
                self.out.values[rc] = value

    def _value(self, v: str) -> object:
        try:
            return cell_value(self.kind, v, self.strings)
        except ValueError as exc:
            raise self._error(f"holds {exc}") from None

    def _formula(self, rc: tuple[int, int], fa: dict[str, str], text: str) -> None:
        array = self.formulas.add(rc, fa, text)
        # An array anchored in this row covers cells still to stream by: skip their values.
        if array is not None and rc[0] == self.row:
            r1, c0, c1 = array
            self.active.append((r1, c0, c1))
            if len(self.cover) <= c1:
                self.cover.extend(bytes(c1 + 1 - len(self.cover)))
            self.cover[c0 : c1 + 1] = b"\1" * (c1 - c0 + 1)

    def finish(self) -> Cells:
        self.formulas.expand_shared()
        _check_extent(self.out, self.extent)
        check_arrays(self.out, self.keep_cached)
        return self.out


def _whole(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise PartError(f"an unreadable {what} {text!r}") from None


def _check_extent(cells: Cells, extent: tuple[int, int]) -> None:
    corners = [(r + nr - 1, c + nc - 1) for (r, c), (_, nr, nc) in cells.arrays.items()]
    rows = max([extent[0], *(r + 1 for r, _ in corners)])
    cols = max([extent[1], *(c + 1 for _, c in corners)])
    if rows * cols > MAX_GRID_CELLS:
        corners += list(cells.values) + list(cells.formulas)
        far = max(corners, key=lambda rc: (rc[0] + 1) * (rc[1] + 1))
        raise PartError(
            f"spans {rows:,} rows x {cols:,} columns (to {a1.cell(*far)}); xlnet computes "
            f"sheets of at most {MAX_GRID_CELLS:,} cells"
        )


def read_sheet(
    chunks: Iterator[bytes], strings: list[str], budget: list[int], cached: bool = False
) -> Cells:
    """The cells of one worksheet part, read from its XML chunks."""
    reader = _Reader(strings, budget, cached)
    feed(parser(reader.start, reader.end, reader.text, _NAMES), chunks)
    return reader.finish()
