"""Recalculates every formula of a workbook read from a file, built on the `formulas` package.

Independent of the code that wrote the workbook: it sees only the formulas in the file. The
pipeline, one module per step:

1. groups.py: formula cells grouped by relative form, their references as integer arrays;
2. schedule.py: each group cut into rectangles, rectangles ordered by dependency level, the
   rectangles of a group at one level one batch (cell by cell only inside circles);
3. compiler.py: each distinct formula parsed by `formulas` once;
4. here: each batch computed in one vectorised step (batch.py) where the formula and its
   inputs allow it, else cell by cell with formulas' compiled function, which gives the
   spreadsheet's error values.

Cached values in the file are never used: only entered values (numbers, text) are inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import a1
from .batch import Unsupported, run, run_block
from .compiler import Compiled, Compiler, compute
from .functions import addressed
from .groups import CellTexts, Failure, Group, group_book, sheet_cells, used_extent
from .refs import EMPTY_CALL, EvalError, Resolver, own_cell
from .result import FormulaCells, Result, from_cached
from .schedule import Cells, schedule
from .values import EMPTY, Grids, input_value, is_error, xl_error
from .xlsxio import MAX_GRID_CELLS, Book

__all__ = ["EMPTY", "EvalError", "Result", "evaluate", "from_cached", "is_error", "xl_error"]

_GATHER = 1 << 21  # numbers gathered per vectorised step: bounds the memory of one step


def evaluate(
    book: Book,
    progress: Callable[[int, int], None] | None = None,
    vectorise: bool = True,
    lenient: bool = False,
    track_reads: bool = False,
) -> Result:
    """Recompute every formula cell of `book`; entered values are the only inputs.

    Cells are scheduled by dependency level (a cell's level is one more than the highest level
    it reads); cells of one level that share a formula are computed together, vectorised when
    `vectorise` and the formula allows it, else one by one with formulas' compiled function.
    A formula that cannot be computed at all (a circular or external reference) raises
    EvalError, or with `lenient` becomes #REF! with its cause in Result.why, as in a spreadsheet.
    With `track_reads`, Result.reads marks the cells that some formula reads.
    """
    names = list(book.sheets)
    cells = sheet_cells(book)
    for kinds in cells:
        for k in kinds:
            _own_cells(k)
    resolver = Resolver(book, used_extent(book, cells))
    grouped = group_book(cells, resolver)
    failures = grouped.failures
    if failures and not lenient:
        first = min(failures, key=lambda f: f.order)
        raise EvalError(f"{_name(names, first.sheet, first.row, first.col)}: {first.why}",
                        (names[first.sheet], first.row, first.col))  # fmt: skip
    groups = grouped.groups
    shapes = _extents(book, groups, failures)
    grids = Grids(shapes)
    for s, sheet in enumerate(book.sheets.values()):
        for (r, c), v in sheet.values.items():
            grids.put(s, r, c, input_value(v))
    plan = schedule(groups, shapes, names, lenient)
    result = Result(names, grids.obj, FormulaCells(book, grouped.resolved), suspects=[])
    result.volatile = sorted(
        _name(names, g.sheet, r, c)
        for g in groups
        if g.volatile
        for r, c in zip(g.rows.tolist(), g.cols.tolist(), strict=True)
    )
    if track_reads:
        result.reads = _reads(groups, shapes)
    for f in failures:
        _fail(grids, result, f.sheet, f.row, f.col, f.size, f.why)
    for gi, i, why in plan.circular:
        g = groups[gi]
        _fail(grids, result, g.sheet, int(g.rows[i]), int(g.cols[i]), g.size or (1, 1), why)
    ev = _Run(Compiler(resolver), grids, result, vectorise)
    total, count = sum(len(g.rows) for g in groups) - len(plan.circular), 0
    for batch in plan.batches:
        g = groups[batch.group]
        try:
            ev.batch(g, batch.cells, batch.box)
        except EvalError as exc:
            members = _cells(batch.cells)
            i = int(members[np.argmin(g.order[members])])
            r, c = int(g.rows[i]), int(g.cols[i])
            if not lenient:
                where = (names[g.sheet], r, c)
                raise EvalError(f"{_name(names, g.sheet, r, c)}: {exc}", where) from None
            for j in members:
                _fail(grids, result, g.sheet, int(g.rows[j]), int(g.cols[j]), g.size or (1, 1),
                      str(exc))  # fmt: skip
        count += len(g.order[batch.cells])
        if progress is not None:
            progress(count, total)
    return result


def _own_cells(cells: CellTexts) -> None:
    """ROW() and COLUMN() given the cell's own address (refs.own_cell), so that each cell of a
    group that shares such a formula computes its own."""
    if not EMPTY_CALL.search("\n".join(cells.texts)):  # one search: the usual case, none
        return
    nr = np.ones(len(cells.texts), dtype=int) if cells.nr is None else cells.nr
    nc = np.ones(len(cells.texts), dtype=int) if cells.nc is None else cells.nc
    cells.texts = [own_cell(t, r, c, a, b) for t, r, c, a, b in zip(
        cells.texts, cells.rows.tolist(), cells.cols.tolist(), nr.tolist(), nc.tolist(),
        strict=True)]  # fmt: skip


def _name(names: list[str], s: int, r: int, c: int) -> str:
    return f"{names[s]}!{a1.cell(r, c)}"


def _cells(sel: Cells) -> np.ndarray:
    return np.arange(sel.start, sel.stop) if isinstance(sel, slice) else sel


def _fail(
    grids: Grids, result: Result, s: int, r: int, c: int, size: tuple[int, int], why: str
) -> None:
    """A formula that cannot be computed: #REF! in each of its cells, and why."""
    nr, nc = size
    for i in range(nr):
        for j in range(nc):
            grids.put(s, r + i, c + j, xl_error("#REF!"))
            result.why[(s, r + i, c + j)] = why
    result.suspects.append((s, r, c, nr, nc))  # type: ignore[union-attr]


def _extents(book: Book, groups: list[Group], failures: list[Failure]) -> list[tuple[int, int]]:
    """Each sheet's grid: its cells and every range a formula reads, refused beyond
    MAX_GRID_CELLS before anything that large is allocated."""
    names = list(book.sheets)
    far = [_Far() for _ in names]
    for t, sheet in enumerate(book.sheets.values()):
        if sheet.values:
            for axis in (0, 1):
                r, c = max(sheet.values, key=lambda rc, axis=axis: rc[axis])
                far[t].reach(axis, (r, c)[axis] + 1, f"the value at {_name(names, t, r, c)}", None)
    for f in failures:
        for axis in (0, 1):
            end = (f.row, f.col)[axis] + f.size[axis]
            far[f.sheet].reach(axis, end, _what(names, f.sheet, f.row, f.col, f.size),
                               (names[f.sheet], f.row, f.col))  # fmt: skip
    for g in groups:
        size = g.size or (1, 1)
        for axis, ends in ((0, g.rows + size[0]), (1, g.cols + size[1])):
            i = int(np.argmax(ends))
            r, c = int(g.rows[i]), int(g.cols[i])
            what = _what(names, g.sheet, r, c, size)
            far[g.sheet].reach(axis, int(ends[i]), what, (names[g.sheet], r, c))
    for t, reach in enumerate(far):
        reach.check(names[t])
    for g in groups:
        for k, rc in enumerate(g.refs):
            if rc.address:  # its values are never read: ROWS(A:A) needs no grid of a column
                continue
            for axis, ends in ((0, rc.r0 + rc.h), (1, rc.c0 + rc.w)):
                i = int(np.argmax(ends))
                r, c = int(g.rows[i]), int(g.cols[i])
                t, r0, c0, r1, c1 = g.ref(k, i)
                what = (f"{_name(names, g.sheet, r, c)} reading "
                        f"{names[t]}!{a1.cell(r0, c0)}:{a1.cell(r1, c1)}")  # fmt: skip
                far[t].reach(axis, int(ends[i]), what, (names[g.sheet], r, c))
    for t, reach in enumerate(far):
        reach.check(names[t])
    return [(reach.end[0], reach.end[1]) for reach in far]


class _Far:
    """How far a sheet's grid reaches down and right, and what reaches that far."""

    def __init__(self) -> None:
        self.end = [1, 1]
        self.what = ["", ""]
        self.cell: list[tuple[str, int, int] | None] = [None, None]  # the formula reaching it

    def reach(self, axis: int, end: int, what: str, cell: tuple[str, int, int] | None) -> None:
        if end > self.end[axis]:
            self.end[axis], self.what[axis], self.cell[axis] = end, what, cell

    def check(self, sheet: str) -> None:
        rows, cols = self.end
        if rows * cols <= MAX_GRID_CELLS:
            return
        by = self.what[0] if self.what[0] == self.what[1] else " and ".join(self.what)
        # The formula at fault: the one reaching further in proportion to the sheet's size.
        axis = 0 if rows / a1.MAX_ROWS >= cols / a1.MAX_COLS else 1
        cell = self.cell[axis] or self.cell[1 - axis]
        raise EvalError(
            f"sheet {sheet} would span {rows:,} rows x {cols:,} columns ({rows * cols:,} cells, "
            f"through {by}); xlnet computes at most {MAX_GRID_CELLS:,} cells of a sheet",
            cell,
        )


def _what(names: list[str], s: int, r: int, c: int, size: tuple[int, int]) -> str:
    nr, nc = size
    if nr * nc == 1:
        return f"the formula at {_name(names, s, r, c)}"
    return f"the array formula at {names[s]}!{a1.cell(r, c)}:{a1.cell(r + nr - 1, c + nc - 1)}"


def _reads(groups: list[Group], shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    reads = [np.zeros(shape, dtype=bool) for shape in shapes]
    for g in groups:
        for rc in g.refs:
            if rc.address:  # ROW(A5), ROWS(A1:A9): where the range is, not what it holds
                continue
            mask = reads[rc.sheet]
            if rc.h * rc.w == 1:
                mask[rc.r0, rc.c0] = True
                continue
            corners = np.unique(np.stack([rc.r0, rc.c0], axis=1), axis=0)
            for r, c in corners.tolist():
                mask[r : r + rc.h, c : c + rc.w] = True
    return reads


def _address(group: Group, compiled: Compiled, k: int, sel: Cells) -> np.ndarray:
    """Where reference k is for the cells `sel`, as batch.py's ROW, ROWS... take it: (cells or
    1, 1, 4) of first row, first column, rows and columns, counted from 1."""
    whole = compiled.whole.get(k)
    if whole is not None:
        _, r0, c0, r1, c1 = whole
        return np.array([r0 + 1, c0 + 1, r1 - r0 + 1, c1 - c0 + 1], dtype=float).reshape(1, 1, 4)
    rc = group.refs[k]
    r0, c0 = rc.r0[sel], rc.c0[sel]
    out = np.empty((len(r0), 1, 4))
    out[:, 0, 0], out[:, 0, 1], out[:, 0, 2], out[:, 0, 3] = r0 + 1, c0 + 1, rc.h, rc.w
    return out


def _shifted(
    r0: np.ndarray, c0: np.ndarray, box: tuple[int, int, int, int], group: Group, sel: Cells
) -> tuple[slice, slice] | None:
    """The block a one-cell reference reads for the cells of `box` (row by row), when it is
    the same block moved (a relative reference): a view instead of a gather."""
    dr, dc = r0[0] - box[0], c0[0] - box[1]
    if not ((r0 - group.rows[sel] == dr).all() and (c0 - group.cols[sel] == dc).all()):
        return None
    top, left = box[0] + int(dr), box[1] + int(dc)
    return slice(top, top + box[2] - box[0] + 1), slice(left, left + box[3] - box[1] + 1)


class _Run:
    """Computes batches: vectorised where it can, else cell by cell."""

    def __init__(self, compiler: Compiler, grids: Grids, result: Result, vectorise: bool) -> None:
        self.compiler = compiler
        self.g = grids
        self.result = result
        self.vectorise = vectorise

    def batch(self, group: Group, sel: Cells, box: tuple[int, int, int, int] | None = None) -> None:
        """The cells `sel` of `group` (`box`: when they are exactly that block, row by row)."""
        compiled = self.compiler.get(group.key, group.text, group.sheet, group.first)
        if group.size is not None:
            for i in _cells(sel).tolist():
                if not (self.vectorise and self._array(group, compiled, i)):
                    self._one(group, compiled, i)
            return
        rest = _cells(sel)
        if self.vectorise and compiled.plan is not None and compiled.error is None:
            rest = self._plain(group, compiled, sel, box)
        for i in rest.tolist():
            self._one(group, compiled, i)

    def _plain(
        self, group: Group, compiled: Compiled, sel: Cells, box: tuple[int, int, int, int] | None
    ) -> np.ndarray:
        """Vectorised cells of `sel`; returns those left to the cell-by-cell path."""
        idx = _cells(sel)
        plan = compiled.plan
        assert plan is not None
        per_cell = sum(4 if j in plan.addresses else group.refs[k].h * group.refs[k].w
                       for j, k in enumerate(compiled.plan_order))  # fmt: skip
        step = max(1, _GATHER // max(per_cell, 1))
        if len(idx) > step:
            # In chunks, so that no step gathers more than _GATHER numbers.
            return np.concatenate([self._plain(group, compiled, idx[a : a + step], None)
                                   for a in range(0, len(idx), step)])  # fmt: skip
        g = self.g
        n = len(idx)
        ok = np.ones(n, dtype=bool)
        arrays = []
        for j, k in enumerate(compiled.plan_order):
            if j in plan.addresses:
                arrays.append(_address(group, compiled, k, sel))
                continue
            rc = group.refs[k]
            r0, c0 = rc.r0[sel], rc.c0[sel]
            num, isnum = g.num[rc.sheet], g.isnum[rc.sheet]
            one_row, one_col = (r0 == r0[0]).all(), (c0 == c0[0]).all()
            rows = slice(int(r0[0]), int(r0[0]) + rc.h)
            cols = slice(int(c0[0]), int(c0[0]) + rc.w)
            if one_row and one_col:  # every cell reads the same range
                if not isnum[rows, cols].all():
                    return idx
                arrays.append(num[rows, cols][None])
                continue
            if rc.h == rc.w == 1:
                if box is not None and (shifted := _shifted(r0, c0, box, group, sel)):
                    ok &= isnum[shifted].reshape(n)  # a block the same shape as the cells'
                    arrays.append(num[shifted].reshape(n, 1, 1))
                else:
                    ok &= isnum[r0, c0]
                    arrays.append(num[r0, c0].reshape(n, 1, 1))
                continue
            # Whole rows (or columns) taken at once where the other axis is shared.
            if one_col:
                ri = r0[:, None] + np.arange(rc.h)
                got, fine = num[:, cols][ri], isnum[:, cols][ri]
            elif one_row:
                ci = c0[:, None] + np.arange(rc.w)
                got, fine = num[rows][:, ci].swapaxes(0, 1), isnum[rows][:, ci].swapaxes(0, 1)
            else:
                ri = r0[:, None, None] + np.arange(rc.h)[None, :, None]
                ci = c0[:, None, None] + np.arange(rc.w)[None, None, :]
                got, fine = num[ri, ci], isnum[ri, ci]
            ok &= fine.all(axis=(1, 2))
            arrays.append(got)
        if not ok.any():
            return idx
        try:
            values, finite = run(plan, arrays, n)
        except Unsupported:
            return idx
        ok &= finite
        s, at_rows, at_cols = group.sheet, group.rows[sel], group.cols[sel]
        if ok.all():
            if box is None:
                g.put_numbers(s, at_rows, at_cols, values)
            else:
                r0_, c0_, r1_, c1_ = box
                block = values.reshape(r1_ - r0_ + 1, c1_ - c0_ + 1)
                g.put_numbers(s, slice(r0_, r1_ + 1), slice(c0_, c1_ + 1), block)
            return idx[:0]
        g.put_numbers(s, at_rows[ok], at_cols[ok], values[ok])
        return idx[~ok]

    def _array(self, group: Group, compiled: Compiled, i: int) -> bool:
        """One array formula in one vectorised step; False if it cannot be."""
        if compiled.plan is None or compiled.error is not None:
            return False
        arrays = []
        for j, k in enumerate(compiled.plan_order):
            if j in compiled.plan.addresses:
                arrays.append(_address(group, compiled, k, slice(i, i + 1)))
                continue
            rc = group.refs[k]
            r0, c0 = int(rc.r0[i]), int(rc.c0[i])
            sl = (slice(r0, r0 + rc.h), slice(c0, c0 + rc.w))
            if not self.g.isnum[rc.sheet][sl].all():
                return False
            arrays.append(self.g.num[rc.sheet][sl][None])
        nr, nc = group.size  # type: ignore[misc]
        try:
            block = run_block(compiled.plan, arrays, nr, nc)
        except Unsupported:
            return False
        r, c = int(group.rows[i]), int(group.cols[i])
        self.g.put_numbers(group.sheet, slice(r, r + nr), slice(c, c + nc), block)
        return True

    def _one(self, group: Group, compiled: Compiled, i: int) -> None:
        """One formula with formulas' own function: the spreadsheet's values and errors."""
        self.compiler.function(compiled)
        args = []
        for k, where in zip(compiled.order, compiled.addressed, strict=True):
            t, r0, c0, r1, c1 = group.ref(k, i)
            values = self.g.obj[t][r0 : r1 + 1, c0 : c1 + 1]
            if where:  # ROW, ROWS...: where the range is, whole columns to the sheet's end
                t, r0, c0, r1, c1 = compiled.whole.get(k, (t, r0, c0, r1, c1))
                values = addressed(values, r0, c0, r1 - r0 + 1, c1 - c0 + 1)
            args.append(values)
        nr, nc = group.size or (1, 1)
        out, why = compute(compiled, args, nr, nc)
        s, r, c = group.sheet, int(group.rows[i]), int(group.cols[i])
        for a in range(nr):
            for b in range(nc):
                self.g.put(s, r + a, c + b, out[a, b])
        if why is not None:
            self.result.why[(s, r, c)] = why
        self.result.suspects.append((s, r, c, nr, nc))  # type: ignore[union-attr]
