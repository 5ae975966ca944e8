"""What a recalculation holds: every sheet's values, the formulas behind them, the errors."""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Mapping
from dataclasses import dataclass, field
from itertools import chain, islice

import numpy as np

from . import a1
from .refs import STRING, VOLATILE, EvalError
from .values import EMPTY, empty_grid, input_value, is_error
from .xlsxio import MAX_GRID_CELLS, Book

Cell = tuple[int, int, int]  # sheet index, row, col


class FormulaCells(Mapping[Cell, str]):
    """(sheet index, row, col) -> the formula of that cell, "{...}" for each cell an array
    formula covers. Read from the book's own dictionaries (copied, so that a caller editing
    the book afterwards does not change it), not one entry per cell."""

    def __init__(self, book: Book, resolved: dict[Cell, str] | None = None) -> None:
        sheets = list(book.sheets.values())
        self._plain = [dict(s.formulas) for s in sheets]
        self._arrays = [dict(s.arrays) for s in sheets]
        self._resolved = resolved or {}  # spill references rewritten as ranges
        # Per sheet with arrays, built on first use: 1 + the array covering each cell, and
        # each array's text as shown.
        self._at: list[tuple[np.ndarray, int, int, list[str]] | None] = [None] * len(sheets)

    def get(self, key: Cell, default: str | None = None) -> str | None:  # type: ignore[override]
        # Called for every cell of every block by verify: kept to a few lookups.
        s, r, c = key
        text = self._plain[s].get((r, c))
        if text is not None:
            return self._resolved.get(key, text) if self._resolved else text
        if not self._arrays[s]:
            return default
        at = self._at[s] or self._index(s)
        if 0 <= r < at[1] and 0 <= c < at[2] and (k := at[0].item(r, c)):
            return at[3][k - 1]
        return default

    def __getitem__(self, key: Cell) -> str:
        text = self.get(key)
        if text is None:
            raise KeyError(key)
        return text

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and len(key) == 3 and self.get(key) is not None

    def _index(self, s: int) -> tuple[np.ndarray, int, int, list[str]]:
        arrays = self._arrays[s]
        rows = max(r0 + nr for (r0, _), (_, nr, _) in arrays.items())
        cols = max(c0 + nc for (_, c0), (_, _, nc) in arrays.items())
        at = np.zeros((rows, cols), dtype=np.int32)
        shown = []
        for k, ((r0, c0), (text, nr, nc)) in enumerate(arrays.items()):
            at[r0 : r0 + nr, c0 : c0 + nc] = k + 1
            text = self._resolved.get((s, r0, c0), text)
            shown.append(text if nr * nc == 1 else "{" + text + "}")
        self._at[s] = (at, rows, cols, shown)
        return self._at[s]  # type: ignore[return-value]

    def __iter__(self) -> Iterator[Cell]:
        for s, plain in enumerate(self._plain):
            for r, c in plain:
                yield (s, r, c)
            for (r, c), (_, nr, nc) in self._arrays[s].items():
                for i in range(nr):
                    for j in range(nc):
                        yield (s, r + i, c + j)

    def __len__(self) -> int:
        arrays = sum(nr * nc for sheet in self._arrays for _, nr, nc in sheet.values())
        return sum(map(len, self._plain)) + arrays

    def keys(self) -> _Keys:  # type: ignore[override]
        return _Keys(self)

    def _masks(self) -> list[np.ndarray]:
        """Per sheet, which cells hold a formula."""
        out = []
        for plain, arrays in zip(self._plain, self._arrays, strict=True):
            rc = np.fromiter(chain.from_iterable(plain), np.int64, 2 * len(plain)).reshape(-1, 2)
            spans = [(r + nr, c + nc) for (r, c), (_, nr, nc) in arrays.items()]
            rows = max([int(rc[:, 0].max(initial=-1)) + 1] + [r for r, _ in spans])
            cols = max([int(rc[:, 1].max(initial=-1)) + 1] + [c for _, c in spans])
            mask = np.zeros((rows, cols), dtype=bool)
            mask[rc[:, 0], rc[:, 1]] = True
            for (r, c), (_, nr, nc) in arrays.items():
                mask[r : r + nr, c : c + nc] = True
            out.append(mask)
        return out


class _Keys(KeysView):
    """The cells of a FormulaCells; `keys() - cells` (the formulas outside every block) by
    masks rather than one tuple per formula cell."""

    _mapping: FormulaCells

    def __sub__(self, other: object) -> set:
        if not isinstance(other, set | frozenset):
            return super().__sub__(other)  # type: ignore[operator]
        masks = self._mapping._masks()
        cells = iter(other)
        while chunk := list(islice(cells, 1 << 20)):  # a million cells at a time
            try:  # (sheet, row, col) triples of ints, read in one pass
                flat = np.fromiter(chain.from_iterable(chunk), np.int64, 3 * len(chunk))
            except (TypeError, ValueError):
                return super().__sub__(other)  # type: ignore[operator]
            flat = flat.reshape(-1, 3)
            for s, mask in enumerate(masks):
                rows, cols = flat[flat[:, 0] == s, 1:].T
                inside = (rows >= 0) & (rows < mask.shape[0]) & (cols >= 0) & (cols < mask.shape[1])
                mask[rows[inside], cols[inside]] = False
        return {(s, r, c) for s, mask in enumerate(masks) for r, c in np.argwhere(mask).tolist()}


@dataclass
class Result:
    """Values of every cell after recalculation, and the formulas that produced them."""

    sheet_names: list[str]
    grids: list[np.ndarray]
    formulas: Mapping[Cell, str] = field(default_factory=dict)
    why: dict[Cell, str] = field(default_factory=dict)  # cause of an error
    volatile: list[str] = field(default_factory=list)  # cells using RAND(), NOW(), OFFSET()...
    reads: list[np.ndarray] = field(default_factory=list)  # per sheet: cells some formula reads
    # Formulas that may hold an error (anchor, rows, cols): those computed cell by cell or
    # that failed; None: any formula may (values another engine computed).
    suspects: list[tuple[int, int, int, int, int]] | None = None
    _lookup: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, name in enumerate(self.sheet_names):
            self._lookup.setdefault(name.upper(), i)

    def index(self, sheet: str) -> int:
        hit = self._lookup.get(sheet.upper())  # called per cell by callers: a dictionary
        if hit is not None:
            return hit
        for i, name in enumerate(self.sheet_names):
            if name.upper() == sheet.upper():
                return i
        raise KeyError(sheet)

    def value(self, sheet: str, row: int, col: int) -> object:
        grid = self.grids[self.index(sheet)]
        if row < grid.shape[0] and col < grid.shape[1]:
            return grid[row, col]
        return EMPTY

    def error_cells(self) -> list[str]:
        """Every formula cell holding an error value, as "Sheet!A1 #CODE"."""
        if self.suspects is None:
            cells = set(self.formulas)
        else:
            cells = {(s, r + i, c + j) for s, r, c, nr, nc in self.suspects
                     for i in range(nr) for j in range(nc)}  # fmt: skip
            cells = {cell for cell in cells if cell in self.formulas}
        out = []
        for s, r, c in sorted(cells):
            grid = self.grids[s]
            v = grid[r, c] if r < grid.shape[0] and c < grid.shape[1] else EMPTY
            if is_error(v):
                out.append(f"{self.sheet_names[s]}!{a1.cell(r, c)} {v}")
        return out


def from_cached(book: Book, cached: dict[str, dict[tuple[int, int], object]]) -> Result:
    """A Result holding the values another engine saved (e.g. LibreOffice after recalculating),
    with the formulas of `book` for reporting."""
    names = list(book.sheets)
    grids = []
    volatile = []
    for s, name in enumerate(names):
        values = cached.get(name, {})
        sheet = book.sheets[name]
        rows, cols = 1, 1
        for cells in (values, sheet.formulas, sheet.arrays):
            if cells:
                rc = np.fromiter(chain.from_iterable(cells), np.int64, 2 * len(cells))
                rows, cols = max(rows, int(rc[0::2].max()) + 1), max(cols, int(rc[1::2].max()) + 1)
        for (r, c), (_, nr, nc) in sheet.arrays.items():
            rows, cols = max(rows, r + nr), max(cols, c + nc)
        if rows * cols > MAX_GRID_CELLS:
            raise EvalError(
                f"sheet {name}: its cells span {rows:,} rows x {cols:,} columns; xlnet reads at "
                f"most {MAX_GRID_CELLS:,} cells"
            )
        grid = empty_grid((rows, cols))
        for (r, c), v in values.items():
            grid[r, c] = input_value(v)
        grids.append(grid)
        for (r, c), text in sheet.formulas.items():
            if VOLATILE.search(text) and VOLATILE.search(STRING.sub("", text)):
                volatile.append((s, r, c))
        for (r, c), (text, nr, nc) in sheet.arrays.items():
            if VOLATILE.search(STRING.sub("", text)):
                volatile += [(s, r + i, c + j) for i in range(nr) for j in range(nc)]
    shown = [f"{names[s]}!{a1.cell(r, c)}" for s, r, c in sorted(volatile)]
    return Result(names, grids, FormulaCells(book), volatile=sorted(shown))
