"""A rectangle of cells on one sheet, and the A1 text by which formulas refer to its parts."""

from __future__ import annotations

from dataclasses import dataclass

from . import a1


@dataclass(frozen=True)
class Block:
    """A rectangle of cells on one sheet, 0-based top-left, with A1 helpers for formulas."""

    sheet: str
    row: int
    col: int
    nrows: int
    ncols: int

    def _prefix(self, here: str) -> str:
        return "" if here == self.sheet else a1.quote_sheet(self.sheet) + "!"

    def ref(self, i: int, j: int, here: str, row_abs: bool = False, col_abs: bool = False) -> str:
        return self._prefix(here) + a1.cell(self.row + i, self.col + j, row_abs, col_abs)

    def row_range(self, i: int, here: str) -> str:
        """Row i of the block, columns anchored so the formula can be filled right."""
        r = self.row + i
        left = a1.cell(r, self.col, col_abs=True)
        right = a1.cell(r, self.col + self.ncols - 1, col_abs=True)
        return f"{self._prefix(here)}{left}:{right}"

    def col_range(self, j: int, here: str) -> str:
        """Column j of the block, rows anchored so the formula can be filled down."""
        c = self.col + j
        top = a1.cell(self.row, c, row_abs=True)
        bottom = a1.cell(self.row + self.nrows - 1, c, row_abs=True)
        return f"{self._prefix(here)}{top}:{bottom}"

    def whole(self, here: str) -> str:
        tl = a1.cell(self.row, self.col, True, True)
        br = a1.cell(self.row + self.nrows - 1, self.col + self.ncols - 1, True, True)
        return (
            f"{self._prefix(here)}{tl}:{br}"
            if self.nrows * self.ncols > 1
            else (self._prefix(here) + tl)
        )

    def holds(self, row: int, col: int) -> bool:
        """Whether cell (row, col), 0-based, lies in the block."""
        return self.row <= row < self.row + self.nrows and self.col <= col < self.col + self.ncols

    def cells(self):
        for i in range(self.nrows):
            for j in range(self.ncols):
                yield i, j, self.row + i, self.col + j

    @property
    def a1(self) -> str:
        return self.whole(here="")
