"""The working copy grading computes on: RAND() pinned to the values the file saved, then each
block that is not right patched with the values it should hold (judge.py) and recomputed: only
the sheets a patch can change, where which those are is certain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from .block import Block
from .evaluate import Result, evaluate
from .refs import RANDOM
from .submission import Cell
from .xlsxio import Book, BookError, Sheet, read_cached

# Joins formula texts so that one search tells whether any of them holds a pattern or a name:
# neither a word character, nor ".", nor space, so none matches across it.
_SEP = "\x00"
# A sheet prefix as refs.py reads one: 'Quoted ''name'''! or Plain_name!
_PREFIX = re.compile(r"(?:'((?:[^']|'')+)'|([A-Za-z_][\w.]*))!")


def working_copy(book: Book) -> Book:
    """A copy of `book` whose cells can be pinned and patched without touching the book. Its
    entries are immutable (numbers, texts, formula texts, tuples), so copying the dictionaries
    that hold them is a deep copy."""
    sheets = {
        key: replace(s, values=dict(s.values), formulas=dict(s.formulas),
                     arrays=dict(s.arrays), names=dict(s.names))
        for key, s in book.sheets.items()
    }  # fmt: skip
    return replace(book, sheets=sheets, names=dict(book.names))


def pin_random(book: Book, path: Path) -> dict[Cell, str]:
    """RAND() weights in `book` take the values the file saved; a cell with no saved value
    gets an error. Returns why each such cell has no value."""
    why: dict[Cell, str] = {}
    texts = [t for sheet in book.sheets.values() for t in sheet.formulas.values()]
    texts += [t for sheet in book.sheets.values() for t, _, _ in sheet.arrays.values()]
    joined = _SEP.join(texts)
    # The common case in one pass over the text, not a search per cell.
    if "RAND" not in joined.upper() or not RANDOM.search(joined):
        return why
    hits = [
        (sheet, rc)
        for sheet in book.sheets.values()
        for rc, text in sheet.formulas.items()
        if RANDOM.search(text)
    ]
    hits += [
        (sheet, rc)
        for sheet in book.sheets.values()
        for rc, (text, _, _) in sheet.arrays.items()
        if RANDOM.search(text)
    ]
    if not hits:
        return why
    cached = read_cached(path)
    for sheet, (r, c) in hits:
        saved = cached.get(sheet.name, {})
        if (r, c) in sheet.arrays:
            _, nr, nc = sheet.arrays.pop((r, c))
            cells = [(r + i, c + j) for i in range(nr) for j in range(nc)]
        else:
            sheet.formulas.pop((r, c))
            cells = [(r, c)]
        for rc in cells:
            v = saved.get(rc)
            if isinstance(v, int | float) and not isinstance(v, bool):
                sheet.values[rc] = float(v)
            else:
                sheet.values[rc] = "#N/A"
                why[(sheet.name.upper(), *rc)] = (
                    "uses RAND() and the file holds no saved value for it; open and save "
                    "the file in Excel or LibreOffice, or enter the weights as numbers"
                )
    return why


class WorkingCopy:
    """The book grading computes on (pinned, then patched) and its recomputed values."""

    def __init__(self, original: Book, path: Path) -> None:
        self.book = working_copy(original)
        self.preset = pin_random(self.book, path)  # cell -> why it has no value
        self.result: Result | None = None
        self.reads: dict[str, np.ndarray] | None = None  # sheet (upper) -> cells formulas read
        self._sheet_reads: dict[str, frozenset[str] | None] | None = None  # on first need
        self._stale = False  # a patch changed cells that formulas read
        self._dirty: set[str] = set()  # sheets patched since `result` was computed

    def current(self) -> Result:
        if self.result is None:
            # The first evaluation (of the file as handed in) says which cells formulas read.
            self.result = evaluate(self.book, lenient=True, track_reads=self.reads is None)
        elif self._stale:
            self.result = self._recompute(self.result)
            self._stale, self._dirty = False, set()
        return self.result

    def is_read(self, block: Block) -> bool:
        """Whether any formula of the file reads a cell of `block` (as the evaluator resolved
        the references of the file as handed in: names, whole columns, other sheets)."""
        if self.reads is None:
            res = self.current()
            self.reads = {n.upper(): m for n, m in zip(res.sheet_names, res.reads, strict=True)}
        mask = self.reads.get(block.sheet.upper())
        if mask is None:
            return False
        return bool(
            mask[block.row : block.row + block.nrows, block.col : block.col + block.ncols].any()
        )

    def patch(self, block: Block, values: np.ndarray) -> None:
        """Replace a block's cells by `values` (what the blocks after it are judged on), so
        that its mistakes, blanks and errors do not spread to the blocks that read it."""
        fresh = self.result is None  # the first evaluation, still to come, sees this patch
        key, sheet = self._sheet_for(block.sheet)
        for (ar, ac), (_, nr, nc) in list(sheet.arrays.items()):
            inside = block.row <= ar < block.row + block.nrows
            if inside and block.col <= ac < block.col + block.ncols:
                del sheet.arrays[(ar, ac)]
                for i in range(nr):
                    for j in range(nc):
                        sheet.values.pop((ar + i, ac + j), None)
        for i, j, r, c in block.cells():
            sheet.formulas.pop((r, c), None)
            sheet.values[(r, c)] = float(values[i, j])
        if fresh:
            self.is_read(block)  # evaluates the book, this patch in it, as any first read does
            return
        self._dirty.add(key)
        if self.is_read(block):
            self._stale = True  # recompute before the next block is judged

    def _sheet_for(self, name: str) -> tuple[str, Sheet]:
        try:
            sheet = self.book.sheet(name)
        except BookError:
            sheet = self.book.sheets[name] = Sheet(name)
            return name, sheet
        return next(k for k, s in self.book.sheets.items() if s is sheet), sheet

    def _recompute(self, last: Result) -> Result:
        """The values after the patches since `last`: the sheets they can change (the patched
        ones, those that read them) computed on their own with the sheets they read, where
        which sheets a sheet reads is certain; else the whole book."""
        if self._sheet_reads is None:
            # From the book as now: patches only take formulas away, so what a sheet reads
            # now it read before, and may read later.
            self._sheet_reads = _sheet_reads(self.book)
        need = _closure(self._sheet_reads, self._dirty)
        keys = list(self.book.sheets)
        if need is None or len(need) == len(keys) or keys != last.sheet_names:
            return evaluate(self.book, lenient=True)
        sub = replace(self.book, sheets={k: s for k, s in self.book.sheets.items() if k in need})
        part = evaluate(sub, lenient=True)
        at = [keys.index(k) for k in sub.sheets]  # sheet index in `sub` -> in the book
        grids = list(last.grids)
        for j, i in enumerate(at):
            grids[i] = part.grids[j]
        why = {cell: v for cell, v in last.why.items() if keys[cell[0]] not in need}
        why.update(((at[s], r, c), v) for (s, r, c), v in part.why.items())
        # Grading reads values and causes; the other sheets' are those of `last`, unchanged.
        return replace(last, grids=grids, why=why)


def _sheet_reads(book: Book) -> dict[str, frozenset[str] | None]:
    """The other sheets each sheet's formulas may read (by key in book.sheets): those named
    before a "!"; None (any) for a sheet whose formulas use a defined name, a table or another
    workbook ([...]), a 3D range, INDIRECT, or a "!" that is not plainly a sheet's."""
    by_name: dict[str, str] = {}
    for k in book.sheets:
        by_name[k.upper()] = k  # the last of a name wins, as in refs.Resolver
    out: dict[str, frozenset[str] | None] = {}
    for key, sheet in book.sheets.items():
        texts = [*sheet.formulas.values(), *(t for t, _, _ in sheet.arrays.values())]
        upper = _SEP.join(texts).upper()
        names = [*book.names, *sheet.names]
        if "[" in upper or "INDIRECT" in upper or any(n.upper() in upper for n in names):
            out[key] = None
            continue
        reads = _prefixed((t for t in texts if "!" in t), by_name)
        out[key] = None if reads is None else frozenset(reads - {key})
    return out


def _prefixed(texts: Iterable[str], by_name: dict[str, str]) -> set[str] | None:
    """The sheets named before the "!"s of `texts`; None if one is not plainly a sheet's
    prefix (text, a 3D range Sheet1:Sheet3!A1). Text by text: the pattern is slow to fail on
    a long one."""
    out: set[str] = set()
    for text in texts:
        prefixes = list(_PREFIX.finditer(text))
        if len(prefixes) != text.count("!"):
            return None
        for m in prefixes:
            target = by_name.get((m[2] if m[1] is None else m[1].replace("''", "'")).upper())
            if target is None or text[m.start() - 1 : m.start()] == ":":
                return None
            out.add(target)
    return out


def _closure(reads: dict[str, frozenset[str] | None], dirty: set[str]) -> set[str] | None:
    """The sheets to recompute after patches to `dirty`: those whose values can change (the
    patched ones and every sheet that reads one, transitively) and every sheet they read; None
    when that cannot be told (a sheet that may read any)."""
    change = set(dirty)
    grew = True
    while grew:
        grew = False
        for key, r in reads.items():
            if key not in change and (r is None or r & change):
                change.add(key)
                grew = True
    need, todo = set(change), list(change)
    while todo:
        r = reads.get(todo.pop(), frozenset())  # a sheet grading added holds no formulas
        if r is None:
            return None
        todo += [t for t in r if t not in need]
        need |= r
    return need
