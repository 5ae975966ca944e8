"""A worksheet's formulas as read: each cell's by the type of its <f> (normal, shared, array;
data tables refused), Excel's limits on a formula's text, shared formulas expanded into the
cells that use them, and array ranges that neither overlap nor hold another formula."""

from __future__ import annotations

import numpy as np

from . import a1
from .sheetcells import Cells, parse_ref
from .xlsxedit import moved_formula
from .xmlstream import PartError

MAX_FORMULA_CHARS = 8_192
MAX_NESTING = 64
MAX_ARGUMENTS = 255


def check_formula(text: str) -> str | None:
    """Why Excel would refuse this formula text, or None. The character counts bound the work:
    a formula with few parentheses and commas is not scanned at all."""
    if len(text) > MAX_FORMULA_CHARS:
        return f"a formula of {len(text):,} characters (Excel's limit is {MAX_FORMULA_CHARS:,})"
    if text.count("(") <= MAX_NESTING and text.count(",") < MAX_ARGUMENTS:
        return None
    depth, args, quoted = 0, [0], False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
            args.append(0)
            if depth > MAX_NESTING:
                return f"a formula nested more than {MAX_NESTING} levels deep (Excel's limit)"
        elif ch == ")" and depth:
            depth -= 1
            args.pop()
        elif ch == ",":
            args[-1] += 1
            if args[-1] >= MAX_ARGUMENTS:
                return f"a function of more than {MAX_ARGUMENTS} arguments (Excel's limit)"
    return None


class Formulas:
    """The formulas of one sheet's cells as they stream by, kept in `cells`. A cell that uses
    a shared formula waits for `expand_shared`: the cell defining it may come later."""

    def __init__(self, cells: Cells) -> None:
        self.cells = cells
        self.shared: dict[str, tuple[str, tuple[int, int]]] = {}  # si -> (formula, its cell)
        self.children: list[tuple[tuple[int, int], str]] = []  # cells of a shared formula

    def add(
        self, rc: tuple[int, int], attrs: dict[str, str], text: str
    ) -> tuple[int, int, int] | None:
        """Keep the formula of cell `rc` (its <f>'s attributes and text); an array formula's
        range comes back as (last row, first column, last column)."""
        kind = attrs.get("t", "normal")
        if kind == "dataTable":
            raise _at(rc, "holds a data table (What-If analysis), which xlnet does not compute")
        if kind == "shared":
            si = attrs.get("si")
            if si is None:
                raise _at(rc, "holds a shared formula without its index (si)")
            if text:
                if si in self.shared:
                    raise _at(rc, f"defines shared formula {si} a second time")
                self.shared[si] = (text, rc)
                self._plain(rc, text)
            else:
                self.children.append((rc, si))
            return None
        if not text:
            raise _at(rc, "holds an empty formula")
        why = check_formula(text)
        if why:
            raise _at(rc, f"holds {why}")
        if kind == "array":
            ref = attrs.get("ref")
            r0, c0, r1, c1 = parse_ref(ref) if ref else (*rc, *rc)
            if (r0, c0) != rc:
                raise _at(rc, f"holds an array formula whose range {ref} starts elsewhere")
            self.cells.arrays[rc] = (text, r1 - r0 + 1, c1 - c0 + 1)
            return r1, c0, c1
        if kind == "normal":
            self.cells.formulas[rc] = "=" + text
            return None
        raise _at(rc, f"holds a formula of unknown type {kind!r}")

    def expand_shared(self) -> None:
        """Give every cell that uses a shared formula its own, moved from the defining cell
        as a fill would move it."""
        if not self.children:
            return
        for rc, si in self.children:
            if si not in self.shared:
                raise _at(rc, f"uses shared formula {si}, which no cell defines")
            text, origin = self.shared[si]
            self._plain(rc, moved_formula(text, origin, rc))

    def _plain(self, rc: tuple[int, int], text: str) -> None:
        why = check_formula(text)
        if why:
            raise _at(rc, f"holds {why}")
        self.cells.formulas[rc] = "=" + text


def _at(rc: tuple[int, int], what: str) -> PartError:
    return PartError(f"cell {a1.cell(*rc)} {what}")


def check_arrays(cells: Cells, keep_cached: bool) -> None:
    """Refuse overlapping array ranges and formulas inside another formula's array range;
    drop the cached values that covered cells hold (those are normal)."""
    if not cells.arrays:
        return
    anchors = sorted(cells.arrays)
    height = max(r + nr for (r, _), (_, nr, _) in cells.arrays.items())
    width = max(c + nc for (_, c), (_, _, nc) in cells.arrays.items())
    covered = np.zeros((height, width), dtype=bool)
    for r, c in anchors:
        _, nr, nc = cells.arrays[(r, c)]
        window = covered[r : r + nr, c : c + nc]
        if window.any():
            i, j = np.argwhere(window)[0]
            raise PartError(
                f"cell {a1.cell(r + int(i), c + int(j))} lies in two array formulas' ranges "
                f"(one of them anchored at {a1.cell(r, c)})"
            )
        window[:] = True
    for r, c in cells.formulas:
        if r < height and c < width and covered[r, c]:
            raise PartError(f"cell {a1.cell(r, c)} holds a formula inside an array formula's range")
    for r, c in list(cells.values):
        if r < height and c < width and covered[r, c]:
            value = cells.values.pop((r, c))
            if keep_cached:
                cells.cached[(r, c)] = value
