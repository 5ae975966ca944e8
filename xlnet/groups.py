"""Formula cells grouped by relative form, each group's cells and references as integer arrays.

A filled-down or filled-right formula differs from cell to cell only in the digits and column
letters of its references. The cells of a sheet are first grouped by shape (the text with each
run of digits collapsed), with the digits of every cell read into integer arrays in one NumPy
pass over the sheet's formula text; one text per shape is analysed (refs.py), and each cell's
rows follow from its digits without another look at its text. Shapes whose texts differ only
in the column letters of their references (=TANH(V3) and =TANH(W3)) then merge into one group,
so that a whole block is computed as one vectorised step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from . import a1
from .refs import REF_MARK, STRING, VOLATILE, Analysis, EvalError, Ref, Resolver, row_runs
from .xlsxio import Book

_CHUNK = 1 << 14  # formulas per pass: bounds the transient text and digit arrays
_SEP, _RUN = "\x00", "\x01"  # neither occurs in XML text
_MAX_DIGITS = 18  # a longer run of digits does not fit an int64


@dataclass
class RefCols:
    """One reference of every cell of a group: its sheet, each cell's top-left corner, and
    the height and width every cell's reference shares."""

    sheet: int
    r0: np.ndarray
    c0: np.ndarray
    h: int
    w: int
    address: bool = False  # the whole argument of ROW, COLUMN, ROWS...: no value is read


@dataclass
class Group:
    """Cells that compute one function of references of equal sizes (a plain formula each,
    or each an array formula of `size`)."""

    sheet: int
    text: str  # the formula of one cell, the one compiled
    first: list[Ref]  # that cell's references
    key: tuple  # cells of groups with equal keys compile to one function
    rows: np.ndarray
    cols: np.ndarray
    refs: list[RefCols]
    size: tuple[int, int] | None  # rows and columns of each array formula; None: plain cells
    order: np.ndarray  # each cell's place in the book (which failure is named first)
    volatile: bool = False

    def ref(self, k: int, i: int) -> Ref:
        """Reference k of cell i as (sheet, r0, c0, r1, c1)."""
        rc = self.refs[k]
        r, c = int(rc.r0[i]), int(rc.c0[i])
        return (rc.sheet, r, c, r + rc.h - 1, c + rc.w - 1)


@dataclass
class Failure:
    """A formula that cannot be computed at all, and why."""

    sheet: int
    row: int
    col: int
    size: tuple[int, int]
    why: str
    order: int


@dataclass
class Groups:
    """A book's formula cells: grouped, or failed, and the texts of spill references resolved."""

    groups: list[Group] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    resolved: dict[tuple[int, int, int], str] = field(default_factory=dict)  # spills resolved


@dataclass
class CellTexts:
    """Formula cells of one sheet of one kind (plain or array), in book order."""

    texts: list[str]
    rows: np.ndarray
    cols: np.ndarray
    nr: np.ndarray | None  # array formulas: their sizes
    nc: np.ndarray | None
    order: np.ndarray  # each cell's place in the book

    def subset(self, idx: np.ndarray, texts: list[str] | None = None) -> CellTexts:
        """Some of the cells (with other texts, if given), each keeping its place."""
        return CellTexts(
            [self.texts[i] for i in idx] if texts is None else texts,
            self.rows[idx], self.cols[idx],
            None if self.nr is None else self.nr[idx], None if self.nc is None else self.nc[idx],
            self.order[idx],
        )  # fmt: skip


# Parts of groups by key, merged at the end: (cells, which of them, analysis, rows, volatile).
_Merged = dict[tuple, list[tuple["CellTexts", np.ndarray, Analysis, list[np.ndarray], bool]]]


def sheet_cells(book: Book) -> list[list[CellTexts]]:
    """Each sheet's formula cells: its plain formulas, then its array formulas."""
    out: list[list[CellTexts]] = []
    base = 0
    for sheet in book.sheets.values():
        kinds = []
        if sheet.formulas:
            rc = np.fromiter(chain.from_iterable(sheet.formulas), np.int32, 2 * len(sheet.formulas))
            order = np.arange(base, base + len(sheet.formulas), dtype=np.int32)
            texts = list(sheet.formulas.values())
            kinds.append(CellTexts(texts, rc[0::2], rc[1::2], None, None, order))
            base += len(order)
        if sheet.arrays:
            spec = [(r, c, nr, nc) for (r, c), (_, nr, nc) in sheet.arrays.items()]
            a = np.array(spec, dtype=np.int32).reshape(-1, 4)
            texts = [t for t, _, _ in sheet.arrays.values()]
            order = np.arange(base, base + len(a), dtype=np.int32)
            kinds.append(CellTexts(texts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], order))
            base += len(order)
        out.append(kinds)
    return out


def used_extent(book: Book, cells: list[list[CellTexts]]) -> list[tuple[int, int]]:
    """Each sheet's last used row and column (entered values, formulas, array ranges): where
    whole columns and rows end."""
    out = []
    for sheet, kinds in zip(book.sheets.values(), cells, strict=True):
        last = [0, 0]
        if sheet.values:
            rc = np.fromiter(chain.from_iterable(sheet.values), np.int64, 2 * len(sheet.values))
            last = [int(rc[0::2].max()), int(rc[1::2].max())]
        for k in kinds:
            nr = 1 if k.nr is None else k.nr
            nc = 1 if k.nc is None else k.nc
            last = [max(last[0], int((k.rows + nr).max()) - 1),
                    max(last[1], int((k.cols + nc).max()) - 1)]  # fmt: skip
        out.append((last[0], last[1]))
    return out


def group_book(cells: list[list[CellTexts]], resolver: Resolver) -> Groups:
    """Every formula cell grouped; formulas that cannot be analysed as failures."""
    out = Groups()
    merged: _Merged = {}
    for s, kinds in enumerate(cells):
        for k in kinds:
            _group_cells(s, k, resolver, out, merged)
    for key, parts in merged.items():
        out.groups.append(_merge(key, parts))
    return out


def _shapes(texts: list[str]) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Shape id per text, the shapes, and every text's digit runs (values and lengths, in
    text order) with the offset of each text's first run."""
    index: dict[str, int] = {}
    sid = np.empty(len(texts), dtype=np.int64)
    values, lengths = [], []
    seen = 0  # digit runs so far
    for a in range(0, len(texts), _CHUNK):
        chunk = texts[a : a + _CHUNK]
        big = _SEP.join(chunk)
        if _RUN in big or REF_MARK in big or big.count(_SEP) != len(chunk) - 1:
            raise EvalError("a formula holds a control character")
        raw = np.frombuffer(big.encode(), dtype=np.uint8)
        dv = raw - np.uint8(48)
        dig = dv < 10
        edge = np.flatnonzero(dig[1:] != dig[:-1]) + 1
        if len(raw) and dig[0]:
            edge = np.r_[0, edge]
        if len(raw) and dig[-1]:
            edge = np.r_[edge, len(raw)]
        st, en = edge[0::2], edge[1::2]
        n = en - st
        val = dv[st].astype(np.int64)
        for j in range(1, min(int(n.max(initial=0)), _MAX_DIGITS)):
            m = np.flatnonzero(n > j)
            val[m] = val[m] * 10 + dv[st[m] + j]
        # A run too long for an int64 gets a value of its own, so its texts never share a
        # literal with another; as a row number it is out of range anyway.
        long = np.flatnonzero(n > _MAX_DIGITS)
        val[long] = -1 - (seen + long)
        seen += len(val)
        values.append(val)
        lengths.append(np.minimum(n, 255).astype(np.uint8))  # told apart, not measured
        keep = ~dig
        keep[st] = True
        collapsed = raw.copy()
        collapsed[st] = 1
        shapes = collapsed[keep].tobytes().decode().split(_SEP)
        for x in dict.fromkeys(shapes):
            index.setdefault(x, len(index))
        sid[a : a + len(chunk)] = np.fromiter(map(index.__getitem__, shapes), np.int64, len(chunk))
    names = list(index)
    nruns = np.array([x.count(_RUN) for x in names], dtype=np.int64)
    counts = nruns[sid]
    offsets = np.zeros(len(texts), dtype=np.int64)
    np.cumsum(counts[:-1], out=offsets[1:])
    empty = np.zeros(0, dtype=np.int64)
    return (sid, names, np.concatenate(values or [empty]), np.concatenate(lengths or [empty]),
            offsets)  # fmt: skip


def _group_cells(
    s: int, cells: CellTexts, resolver: Resolver, out: Groups, merged: _Merged, spills: bool = True
) -> None:
    """Group one sheet's plain or array formulas (`spills`: look for spill references)."""
    texts = cells.texts
    try:
        sid, shapes, values, lengths, offsets = _shapes(texts)
    except EvalError as exc:  # one bad text: find it and group the others
        _group_one_by_one(s, cells, resolver, out, merged, exc)
        return
    order = np.argsort(sid, kind="stable")
    bounds = np.flatnonzero(np.diff(sid[order])) + 1
    for idx in np.split(order, bounds):
        if not len(idx):
            continue
        shape = shapes[sid[idx[0]]]
        if spills and "ANCHORARRAY" in shape.upper():
            _spills(s, cells, idx, resolver, out, merged)
            continue
        k = shape.count(_RUN)
        at = offsets[idx][:, None] + np.arange(k)
        digits, widths = values[at], lengths[at]
        _group_shape(s, cells, idx, digits, widths, resolver, out, merged)


def _group_one_by_one(
    s: int, cells: CellTexts, resolver: Resolver, out: Groups, merged: _Merged, exc: EvalError
) -> None:
    good = [i for i, t in enumerate(cells.texts) if not any(x in t for x in (_SEP, _RUN, REF_MARK))]
    for i in sorted(set(range(len(cells.texts))) - set(good)):
        _fail(out, s, cells, np.array([i]), str(exc))
    if good:
        _group_cells(s, cells.subset(np.array(good)), resolver, out, merged)


def _spills(
    s: int, cells: CellTexts, idx: np.ndarray, resolver: Resolver, out: Groups, merged: _Merged
) -> None:
    """Formulas with spill references: each text rewritten to plain ranges, then grouped."""
    keep, texts = [], []
    for i in idx:
        try:
            text = resolver.resolve_spills(cells.texts[i], s)
        except EvalError as exc:
            _fail(out, s, cells, np.array([i]), str(exc))
            continue
        out.resolved[(s, int(cells.rows[i]), int(cells.cols[i]))] = text
        keep.append(i)
        texts.append(text)
    if keep:
        _group_cells(s, cells.subset(np.array(keep), texts), resolver, out, merged, spills=False)


def _fail(out: Groups, s: int, cells: CellTexts, idx: np.ndarray, why: str) -> None:
    for i, o in zip(idx.tolist(), cells.order[idx].tolist(), strict=True):
        size = (1, 1) if cells.nr is None else (int(cells.nr[i]), int(cells.nc[i]))
        out.failures.append(Failure(s, int(cells.rows[i]), int(cells.cols[i]), size, why, o))


def _body(text: str) -> str:
    return text[1:] if text.startswith("=") else text


def _partition(keys: np.ndarray) -> list[np.ndarray]:
    """Row indices of `keys` (one row per cell) split by equal rows, each in cell order."""
    if not keys.shape[1] or (keys == keys[0]).all():
        return [np.arange(len(keys))]
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(inverse[order])) + 1)


def _group_shape(
    s: int,
    cells: CellTexts,
    idx: np.ndarray,
    digits: np.ndarray,
    widths: np.ndarray,
    resolver: Resolver,
    out: Groups,
    merged: _Merged,
) -> None:
    """Cells of one shape: split by their literal digits (constants, and names and sheet names
    with digits), each split analysed once, then by the sizes of their references."""
    rows = row_runs(_body(cells.texts[idx[0]]))
    literal = [j for j in range(digits.shape[1]) if j not in rows]
    keys = np.concatenate([digits[:, literal], widths[:, literal]], axis=1)
    for part in _partition(keys):
        try:
            analysis = resolver.analyse(_body(cells.texts[idx[part[0]]]), s)
        except EvalError as exc:
            _fail(out, s, cells, idx[part], str(exc))
            continue
        _group_split(s, cells, idx[part], digits[part], analysis, out, merged)


def _group_split(
    s: int,
    cells: CellTexts,
    idx: np.ndarray,
    digits: np.ndarray,
    an: Analysis,
    out: Groups,
    merged: _Merged,
) -> None:
    n = len(idx)
    lo, hi = [], []
    ok = np.ones(n, dtype=bool)
    for spec in an.refs:
        if spec.runs is None:
            assert spec.fixed is not None
            lo.append(np.full(n, spec.fixed[1], dtype=np.int32))
            hi.append(np.full(n, spec.fixed[3], dtype=np.int32))
            continue
        a, b = digits[:, spec.runs[0]] - 1, digits[:, spec.runs[1]] - 1
        first, last = np.minimum(a, b), np.maximum(a, b)
        ok &= (first >= 0) & (last < a1.MAX_ROWS)
        lo.append(first.clip(0, a1.MAX_ROWS).astype(np.int32))  # rows: int32 halves the memory
        hi.append(last.clip(0, a1.MAX_ROWS).astype(np.int32))
    if not ok.all():
        for i in np.flatnonzero(~ok):
            why = f"a reference in {cells.texts[idx[i]]} is to row 0 or below the last row"
            _fail(out, s, cells, idx[i : i + 1], why)
        keep = np.flatnonzero(ok)
        idx, lo, hi = idx[keep], [x[keep] for x in lo], [x[keep] for x in hi]
        n = len(idx)
        if not n:
            return
    # Two cells compile alike only if their references coincide alike (=A2+$A$1 names one
    # cell twice in row 1, two cells below), and vectorise only with equal sizes.
    cols = [(sp.sheet, sp.c0, sp.c1) for sp in an.refs]
    same = [(k, m) for k in range(len(cols)) for m in range(k + 1, len(cols)) if cols[k] == cols[m]]
    heights = [h - l + 1 for l, h in zip(lo, hi, strict=True)]  # noqa: E741
    table = [*heights, *((lo[k] == lo[m]) & (hi[k] == hi[m]) for k, m in same)]
    if cells.nr is not None:
        table += [cells.nr[idx], cells.nc[idx]]
    mat = np.stack(table, axis=1).astype(np.int64) if table else np.zeros((n, 0), np.int64)
    parts = _partition(mat)
    body = _body(cells.texts[idx[0]])
    volatile = bool(VOLATILE.search(STRING.sub("", body)))
    nh = len(heights)
    widths = tuple(sp.c1 - sp.c0 + 1 for sp in an.refs)
    sheets = tuple(sp.sheet for sp in an.refs)
    for part in parts:
        row = mat[part[0]].tolist() if mat.shape[1] else []
        pattern = tuple(pair for k, pair in enumerate(same) if row[nh + k])
        size = None if cells.nr is None else (row[-2], row[-1])
        key = (s, an.skeleton, tuple(row[:nh]), widths, sheets, pattern, size)
        merged.setdefault(key, []).append((cells, idx[part], an, [x[part] for x in lo], volatile))


def _merge(key: tuple, parts: list) -> Group:
    s, skeleton, heights, widths, sheets, pattern, size = key
    cells0, idx0, *_ = parts[0]
    refs = []
    for k, sheet in enumerate(sheets):
        r0 = np.concatenate([lo[k] for _, _, _, lo, _ in parts])
        c0 = np.concatenate([np.full(len(idx), an.refs[k].c0, dtype=np.int32)
                             for _, idx, an, _, _ in parts])  # fmt: skip
        address = parts[0][2].refs[k].address  # the skeleton's: alike in every part
        refs.append(RefCols(sheet, r0, c0, heights[k], widths[k], address))
    return Group(
        sheet=s,
        text=cells0.texts[idx0[0]],
        first=[
            (
                rc.sheet,
                int(rc.r0[0]),
                int(rc.c0[0]),
                int(rc.r0[0]) + rc.h - 1,
                int(rc.c0[0]) + rc.w - 1,
            )
            for rc in refs
        ],
        key=(s, skeleton, pattern),
        rows=np.concatenate([c.rows[idx] for c, idx, _, _, _ in parts]),
        cols=np.concatenate([c.cols[idx] for c, idx, _, _, _ in parts]),
        refs=refs,
        size=size,
        order=np.concatenate([c.order[idx] for c, idx, _, _, _ in parts]),
        volatile=any(v for *_, v in parts),
    )
