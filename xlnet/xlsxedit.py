"""openpyxl's one home: what xlnet asks of it that its own reader and writer do not do.

xlsxio reads values and formulas and XlsxWriter writes new files; neither edits a file, reads
a cell's number format or moves a formula. Those are done here, with openpyxl, which no other
module of xlnet imports; it is imported when first used, so that importing xlnet stays cheap.
Cells are 0-based (row, column) pairs, as everywhere in xlnet.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import a1


def row_formats(path: str | Path, sheet: str, row: int, col: int, ncols: int) -> list[str]:
    """The number formats of `ncols` cells of `sheet` from (row, col) rightwards ("" for a
    cell without one); fewer when the sheet ends before them."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about extensions it skips
        wb = openpyxl.load_workbook(path, read_only=True)
    try:
        cells = wb[sheet].iter_rows(row + 1, row + 1, col + 1, col + ncols)
        return [getattr(c, "number_format", "") or "" for r in cells for c in r]
    finally:
        wb.close()


class EditedCopy:
    """A workbook being edited, cell by cell; `edited_copy` saves it."""

    def __init__(self, wb: Any) -> None:
        self._wb = wb

    @property
    def sheet_names(self) -> list[str]:
        return list(self._wb.sheetnames)

    def enter(self, sheet: str, cells: Mapping[tuple[int, int], object]) -> None:
        """Enter values in `sheet` (a KeyError when the workbook has none of that name):
        {(row, col): value}; None empties a cell."""
        ws = self._wb[sheet]
        for (r, c), v in cells.items():
            ws.cell(r + 1, c + 1).value = v

    def add_sheet(self, name: str, rows: Iterable[Sequence[object]]) -> None:
        """A new last sheet holding `rows` from A1."""
        ws = self._wb.create_sheet(name)
        for row in rows:
            ws.append(tuple(row))


@contextmanager
def edited_copy(src: str | Path, dst: str | Path) -> Iterator[EditedCopy]:
    """Workbook `src`, to edit inside the `with`; saved to `dst` when the block ends without
    an exception (`src` itself is never written unless it is `dst`)."""
    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # openpyxl warns about extensions it drops
        wb = openpyxl.load_workbook(src)
    yield EditedCopy(wb)
    wb.save(dst)


def moved_formula(text: str, origin: tuple[int, int], dest: tuple[int, int]) -> str:
    """Formula `text` (without its "=") written at `origin`, as it reads copied to `dest`:
    relative references move with it, absolute ones stay (a shared formula's other cells)."""
    from openpyxl.formula.translate import Translator

    moved = Translator("=" + text, a1.cell(*origin)).translate_formula(a1.cell(*dest))
    return moved[1:]
