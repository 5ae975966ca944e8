"""A submission as the student left it: what each cell holds (a formula, a value or nothing),
from the file as opened, never patched."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .block import Block
from .refs import RANDOM
from .run import as_number
from .xlsxio import Book, Sheet

Cell = tuple[str, int, int]  # sheet (upper case), row, col


@dataclass(frozen=True)
class _Scan:
    """What one block's cells hold, as Entered reports it."""

    kinds: dict[tuple[int, int], str]  # "formula", "value" or "blank" per cell, row by row
    entered: int
    texts: frozenset[str]  # the distinct formulas, "" for a cell without one


class Entered:
    """What the student entered, per cell (from the file as opened, never patched). A block's
    cells are looked at once and remembered: grading asks about each block several times."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self._sheets: dict[str, Sheet] = {}
        for s in book.sheets.values():
            self._sheets.setdefault(s.name.upper(), s)  # the first of a name, as Book.sheet
        self.array_anchor: dict[Cell, tuple[int, int]] = {}
        for sheet in book.sheets.values():
            for (r, c), (_, nr, nc) in sheet.arrays.items():
                for i in range(nr):
                    for j in range(nc):
                        self.array_anchor[(sheet.name.upper(), r + i, c + j)] = (r, c)
        self._blocks: dict[Block, _Scan] = {}

    def sheet(self, name: str) -> Sheet | None:
        return self._sheets.get(name.upper())

    def kinds(self, block: Block) -> dict[tuple[int, int], str]:
        """'formula', 'value' or 'blank' for each cell of `block`, row by row (shared: not to
        be changed by the caller)."""
        return self._scan(block).kinds

    def _scan(self, block: Block) -> _Scan:
        hit = self._blocks.get(block)
        if hit is not None:
            return hit
        kinds: dict[tuple[int, int], str] = {}
        texts: set[str] = set()
        entered = 0
        s = self.sheet(block.sheet)
        if s is None:
            kinds = dict.fromkeys(((r, c) for _, _, r, c in block.cells()), "blank")
            texts.update("" for _ in kinds)
        else:
            # A cell in an array formula's range holds that formula, shown "{...}" as Excel does.
            formulas, values, arrays = s.formulas, s.values, s.arrays
            anchor, name = self.array_anchor, s.name.upper()
            for _, _, r, c in block.cells():
                text = formulas.get((r, c))
                if text is None and (at := anchor.get((name, r, c))) is not None:
                    text = "{" + arrays[at][0] + "}"
                if text is not None:
                    kinds[(r, c)] = "formula"
                    entered += 1
                else:
                    v = values.get((r, c))
                    if v is None or (isinstance(v, str) and not v.strip()):
                        kinds[(r, c)] = "blank"
                    else:
                        kinds[(r, c)] = "value"
                        entered += spreadsheet_number(v) is not None
                texts.add(text or "")
        hit = self._blocks[block] = _Scan(kinds, entered, frozenset(texts))
        return hit

    def formula(self, sheet: str, r: int, c: int) -> str | None:
        s = self.sheet(sheet)
        if s is None:
            return None
        if (r, c) in s.formulas:
            return s.formulas[(r, c)]
        anchor = self.array_anchor.get((s.name.upper(), r, c))
        if anchor is not None:
            return "{" + s.arrays[anchor][0] + "}"
        return None

    def texts(self, block: Block) -> frozenset[str]:
        """The distinct formulas of `block`'s cells ("" for a cell without one)."""
        return self._scan(block).texts

    def entered(self, block: Block) -> int:
        """Cells holding a formula or a number (text, such as a label beside a block, is not
        an attempt at it)."""
        return self._scan(block).entered

    def value(self, sheet: str, r: int, c: int) -> object:
        s = self.sheet(sheet)
        return None if s is None else s.values.get((r, c))


def spreadsheet_number(v: object) -> float | None:
    """A number, or text that reads as one ("0.5", as a spreadsheet's arithmetic takes it)."""
    if isinstance(v, str) and v.strip():
        try:
            x = float(v.strip())
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return as_number(v)


def uses_random(text: str) -> bool:
    return RANDOM.search(text) is not None
