"""Recalculates every formula of a workbook read from a file, built on the `formulas` package.

Independent of the code that wrote the workbook: it sees only the formulas in the file. Each
distinct formula (up to the rows it reads) is parsed by `formulas` once; cells are scheduled by
dependency level, and the cells of a level that share a formula are computed in one vectorised
step (batch.py) or, where that cannot be done, one by one with formulas' compiled function.
Cached values in the file are never used: only entered values (numbers, text) are inputs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import schedula as sh
from formulas import Parser
from formulas.tokens.operand import XlError

from . import a1
from .batch import Plan, Unsupported, make_plan, run, run_block
from .xlsxio import Book

EMPTY = sh.EMPTY


class EvalError(ValueError):
    """A workbook the evaluator cannot compute (circular or unsupported references); `cell`
    is (sheet, row, col) of the formula at fault where one is known."""

    def __init__(self, message: str, cell: tuple[str, int, int] | None = None) -> None:
        super().__init__(message)
        self.cell = cell


def xl_error(code: str) -> XlError:
    """An error value as `formulas` itself makes them, so that it propagates through the
    formulas that read it (SUM, ISERROR, IFERROR...) the way a spreadsheet's does."""
    return XlError(code)


_TOKEN = re.compile(
    r"""
      (?P<str>"(?:[^"]|"")*")
    | (?<![\w.$'])(?P<ref>
          (?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?
          (?P<c1>\$?[A-Za-z]{1,3})(?P<r1>\$?[0-9]+)
          (?::(?P<c2>\$?[A-Za-z]{1,3})(?P<r2>\$?[0-9]+))?
      )(?![\w(.!:])
    | (?<![\w.$'])(?P<span>
          (?:(?P<ssheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?
          (?:(?P<k1>\$?[A-Za-z]{1,3}):(?P<k2>\$?[A-Za-z]{1,3})
            |(?P<w1>\$?[0-9]+):(?P<w2>\$?[0-9]+))
      )(?![\w(.!:$])
    | (?<![\w.$'])(?P<name>[A-Za-z_\\][\w.]*)(?![\w(.!:])
    """,
    re.X,
)
# Excel 365's spill reference V3# is saved as _xlfn.ANCHORARRAY(V3): the anchor's whole array.
_SPILL = re.compile(
    r"_xlfn\.ANCHORARRAY\(((?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?\$?([A-Za-z]{1,3})\$?([0-9]+)\)",
    re.I,
)

_STRING = re.compile(r'"(?:[^"]|"")*"')
# Functions whose value changes at every recalculation: a file using them cannot be checked.
_VOLATILE = re.compile(
    r"(?<![\w.])(?:_xlfn\.)?(RAND|RANDBETWEEN|RANDARRAY|NOW|TODAY|OFFSET|INDIRECT)\s*\(", re.I
)

Ref = tuple[int, int, int, int, int]  # sheet index, r0, c0, r1, c1 (inclusive, 0-based)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class _ShapePlan:
    # Per reference: a fixed Ref (a defined name) or None, then the sheet index (None: the
    # formula's own sheet), the digit runs holding its two row numbers, and its two columns.
    refs: tuple[tuple[Ref | None, int | None, int, int, int, int], ...]
    literals: tuple[int, ...]  # digit runs that are not row numbers (constants, strings)


@dataclass
class _Compiled:
    func: Callable
    order: list[int]  # for each input of func, the index of the textual reference feeding it
    plan: Plan | None = None  # the vectorised form, where every function has one
    plan_order: list[int] = field(default_factory=list)  # same, for the plan's inputs


@dataclass
class Result:
    """Values of every cell after recalculation, and the formulas that produced them."""

    sheet_names: list[str]
    grids: list[np.ndarray]
    formulas: dict[tuple[int, int, int], str] = field(default_factory=dict)
    why: dict[tuple[int, int, int], str] = field(default_factory=dict)  # cause of an error
    volatile: list[str] = field(default_factory=list)  # cells using RAND(), NOW(), OFFSET()...
    reads: list[np.ndarray] = field(default_factory=list)  # per sheet: cells some formula reads

    def index(self, sheet: str) -> int:
        for i, name in enumerate(self.sheet_names):
            if name.upper() == sheet.upper():
                return i
        raise KeyError(sheet)

    def value(self, sheet: str, row: int, col: int):
        grid = self.grids[self.index(sheet)]
        if row < grid.shape[0] and col < grid.shape[1]:
            return grid[row, col]
        return EMPTY

    def error_cells(self) -> list[str]:
        """Every formula cell holding an error value, as "Sheet!A1 #CODE"."""
        out = []
        for s, r, c in sorted(self.formulas):
            grid = self.grids[s]
            v = grid[r, c] if r < grid.shape[0] and c < grid.shape[1] else EMPTY
            if is_error(v):
                out.append(f"{self.sheet_names[s]}!{a1.cell(r, c)} {v}")
        return out


def is_error(v) -> bool:
    """Whether a cell value is a spreadsheet error (#VALUE!, #DIV/0!, ...)."""
    return isinstance(v, XlError) or (isinstance(v, str) and v in _XL_ERRORS)


def from_cached(book: Book, cached: dict[str, dict[tuple[int, int], object]]) -> Result:
    """A Result holding the values another engine saved (e.g. LibreOffice after recalculating),
    with the formulas of `book` for reporting."""
    names = list(book.sheets)
    grids, formulas = [], {}
    for s, name in enumerate(names):
        values = cached.get(name, {})
        sheet = book.sheets[name]
        extent = [1, 1]
        for r, c in list(values) + list(sheet.formulas) + list(sheet.arrays):
            extent = [max(extent[0], r + 1), max(extent[1], c + 1)]
        for (r, c), (_, nr, nc) in sheet.arrays.items():
            extent = [max(extent[0], r + nr), max(extent[1], c + nc)]
        grid = _empty_grid(tuple(extent))
        for (r, c), v in values.items():
            grid[r, c] = _input_value(v)
        grids.append(grid)
        for (r, c), text in sheet.formulas.items():
            formulas[(s, r, c)] = text
        for (r, c), (text, nr, nc) in sheet.arrays.items():
            for i in range(nr):
                for j in range(nc):
                    formulas[(s, r + i, c + j)] = "{" + text + "}"
    volatile = sorted(
        f"{names[s]}!{a1.cell(r, c)}"
        for (s, r, c), text in formulas.items()
        if _VOLATILE.search(_STRING.sub("", text))
    )
    return Result(names, grids, formulas, volatile=volatile)


class _Evaluator:
    def __init__(self, book: Book) -> None:
        self.book = book
        self.sheet_names = list(book.sheets)
        self.sheet_index = {n.upper(): i for i, n in enumerate(self.sheet_names)}
        self.parser = Parser()
        self.cache: dict[str, _Compiled | tuple[XlError, str]] = {}
        self.shapes: dict[str, _ShapePlan | None] = {}
        # Whole columns (A:A) and rows (3:3) are read up to the sheet's used extent.
        self.used: list[tuple[int, int]] = []
        for sheet in book.sheets.values():
            cells = list(sheet.values) + list(sheet.formulas)
            cells += [(r + nr - 1, c + nc - 1) for (r, c), (_, nr, nc) in sheet.arrays.items()]
            self.used.append((max((r for r, _ in cells), default=0),
                              max((c for _, c in cells), default=0)))  # fmt: skip
        self.names: dict[str, Ref] = {}
        for name, text in book.names.items():
            ref = self._parse_name_target(name, text)
            if ref is not None:
                self.names[name] = ref

    # --- references -------------------------------------------------------------------
    def _sheet(self, quoted: str | None, here: int) -> int:
        if quoted is None:
            return here
        name = quoted[1:-1].replace("''", "'") if quoted.startswith("'") else quoted
        try:
            return self.sheet_index[name.upper()]
        except KeyError:
            raise EvalError(f"reference to a missing sheet {name!r}") from None

    def _ref(self, m: re.Match, here: int) -> tuple[Ref, tuple[bool, bool, bool, bool]]:
        c1, r1 = m.group("c1"), m.group("r1")
        c2, r2 = m.group("c2") or c1, m.group("r2") or r1
        s = self._sheet(m.group("sheet"), here)
        rows = (int(r1.lstrip("$")) - 1, int(r2.lstrip("$")) - 1)
        cols = (a1.col_index(c1.lstrip("$")), a1.col_index(c2.lstrip("$")))
        if min(rows) < 0:
            raise EvalError(f"row 0 in reference {m.group('ref')!r}")
        ref = (s, min(rows), min(cols), max(rows), max(cols))
        flags = (r1.startswith("$"), c1.startswith("$"), r2.startswith("$"), c2.startswith("$"))
        return ref, flags

    def _span(self, m: re.Match, here: int) -> Ref:
        """A whole column range (AH:AH) or row range (3:3), clipped to the sheet's used cells."""
        s = self._sheet(m.group("ssheet"), here)
        last_row, last_col = self.used[s]
        if m.group("k1"):
            c0, c1 = (a1.col_index(m.group(g).lstrip("$")) for g in ("k1", "k2"))
            return (s, 0, min(c0, c1), last_row, max(c0, c1))
        r0, r1 = (int(m.group(g).lstrip("$")) - 1 for g in ("w1", "w2"))
        if min(r0, r1) < 0:
            raise EvalError(f"row 0 in reference {m.group('span')!r}")
        return (s, min(r0, r1), 0, max(r0, r1), last_col)

    def resolve_spills(self, text: str, here: int) -> str:
        """V3# (saved as _xlfn.ANCHORARRAY(V3)) -> the range of the array anchored at V3."""
        if "ANCHORARRAY" not in text.upper():
            return text

        def swap(m: re.Match) -> str:
            prefix = m.group(1) or ""
            s = self._sheet(prefix[:-1] or None, here)
            r, c = int(m.group(3)) - 1, a1.col_index(m.group(2))
            arrays = self.book.sheets[self.sheet_names[s]].arrays
            if (r, c) not in arrays:
                raise EvalError(
                    f"{m.group(0)}: no spilled array is anchored at {m.group(2)}{r + 1}"
                )
            _, nr, nc = arrays[(r, c)]
            return f"{prefix}{a1.cell(r, c)}:{a1.cell(r + nr - 1, c + nc - 1)}"

        return _SPILL.sub(swap, text)

    def _parse_name_target(self, name: str, text: str) -> Ref | None:
        text = text.lstrip("=")
        m = _TOKEN.fullmatch(text)
        if not m or not m.group("ref"):
            return None  # a constant or a formula name; unsupported until used
        try:
            return self._ref(m, 0)[0]
        except EvalError:
            return None

    def tokenize(self, text: str, here: int, row: int, col: int) -> tuple[str, list[Ref]]:
        """A key shared by formulas that compile to the same function with inputs of the same
        shapes, and the formula's references in textual order.

        Formulas filled down differ only in the digits of their references, so the analysis of
        one text is cached under its digit-free shape and reused for the others: only the row
        numbers are read per cell.
        """
        if "[" in text and "[" in _STRING.sub("", text):
            raise EvalError(
                "refers to another workbook or a table ([...]), which xlnet does not follow"
            )
        shape = _DIGITS.sub("#", text)
        plan = self.shapes.get(shape, False)
        if plan is False:
            plan = self.shapes[shape] = self._shape_plan(text, here)
        if plan is None:
            return self._tokenize_full(text, here, row, col)
        nums = _DIGITS.findall(text)
        refs: list[Ref] = []
        for fixed, sheet, i1, c0, i2, c1 in plan.refs:
            if fixed is not None:
                refs.append(fixed)
                continue
            r1, r2 = int(nums[i1]) - 1, int(nums[i2]) - 1
            if r1 > r2:
                r1, r2 = r2, r1
            refs.append((here if sheet is None else sheet, r1, c0, r2, c1))
        literals = ",".join(nums[i] for i in plan.literals)
        heights = ",".join(str(r[3] - r[1]) for r in refs)
        pattern = ",".join(str(refs.index(r)) for r in refs)
        return f"{shape}|{literals}|{heights}|{pattern}", refs

    def _shape_plan(self, text: str, here: int) -> _ShapePlan | None:
        """How to read the references of any formula of this text's shape, or None when the
        digits carry more than row numbers (a sheet or a name with digits)."""
        runs = [m.span() for m in _DIGITS.finditer(text)]
        row_runs: set[int] = set()
        refs = []
        for m in _TOKEN.finditer(text):
            if m.group("str"):
                continue
            if m.group("name"):
                name = m.group("name").upper()
                if name not in self.names:
                    if name in self.book.names:
                        raise EvalError(f"defined name {name} is not a plain cell range")
                    continue
                if any(m.start() <= a < m.end() for a, _ in runs):
                    return None
                refs.append((self.names[name], None, 0, 0, 0, 0))
                continue
            if m.group("span"):
                # A whole column or row is clipped to the extent of the sheet it is on, which
                # the digit-free shape does not say: analyse such formulas one by one.
                return None
            if m.group("sheet") and any(m.start("sheet") <= a < m.end("sheet") for a, _ in runs):
                return None
            ref = self._ref(m, here)[0]
            ends = [g if m.group(g) else "r1" for g in ("r1", "r2")]
            idx = [next(k for k, (a, _) in enumerate(runs) if m.start(e) <= a < m.end(e))
                   for e in ends]  # fmt: skip
            row_runs.update(idx)
            sheet = None if m.group("sheet") is None else ref[0]
            refs.append((None, sheet, idx[0], ref[2], idx[1], ref[4]))
        literals = tuple(k for k in range(len(runs)) if k not in row_runs)
        return _ShapePlan(tuple(refs), literals)

    def _tokenize_full(self, text: str, here: int, row: int, col: int) -> tuple[str, list[Ref]]:
        """The relative (R1C1) key of a formula and its references in textual order."""
        refs: list[Ref] = []
        out: list[str] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            if m.group("str"):
                continue
            if m.group("ref"):
                ref, (ra, ca, ra2, ca2) = self._ref(m, here)
                sheet = m.group("sheet")
                piece = (sheet.upper() + "!" if sheet else "") + _r1c1(
                    ref[1], ref[2], ra, ca, row, col
                )
                if m.group("c2"):
                    piece += ":" + _r1c1(ref[3], ref[4], ra2, ca2, row, col)
            elif m.group("span"):
                ref, piece = self._span(m, here), m.group("span").upper()
            else:
                name = m.group("name").upper()
                if name not in self.names:
                    if name in self.book.names:
                        raise EvalError(f"defined name {name} is not a plain cell range")
                    continue
                ref, piece = self.names[name], name
            out.append(text[pos : m.start()])
            out.append(piece)
            pos = m.end()
            refs.append(ref)
        out.append(text[pos:])
        # Two cells share a compiled formula only if their references coincide the same way
        # (=A2+$A$1 in row 1 names one cell twice, in row 2 two cells).
        pattern = ",".join(str(refs.index(r)) for r in refs)
        return "R1C1|" + "".join(out) + "|" + pattern, refs

    # --- compiling ------------------------------------------------------------------------
    def compile(
        self, key: str, text: str, here: int, refs: list[Ref]
    ) -> _Compiled | tuple[XlError, str]:
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        try:
            builder = self.parser.ast(text)[1]
            plan = make_plan(builder)
            func = builder.compile()
        except Exception as exc:  # formulas raises many types for what it cannot parse
            compiled: _Compiled | tuple[XlError, str] = (
                xl_error("#NAME?"),
                f"cannot compile {text}: {exc}",
            )
        else:
            order = []
            for inp in func.inputs:
                target = self._input_target(inp, here, text)
                try:
                    order.append(refs.index(target))
                except ValueError:
                    raise EvalError(f"cannot match input {inp!r} of {text}") from None
            compiled = _Compiled(func, order)
            if plan is not None:
                compiled.plan = plan
                for inp, _ in plan.inputs:
                    compiled.plan_order.append(refs.index(self._input_target(inp, here, text)))
        self.cache[key] = compiled
        return compiled

    def _input_target(self, inp: str, here: int, text: str) -> Ref:
        """The range a compiled formula's input name stands for."""
        m = _TOKEN.fullmatch(inp)
        if m and m.group("name") and m.group("name").upper() in self.names:
            return self.names[m.group("name").upper()]
        if m and m.group("ref"):
            return self._ref(m, here)[0]
        if m and m.group("span"):
            return self._span(m, here)
        # formulas drops the quotes of some sheet names ('It''s', '2020', 'Übung'): split at
        # the last "!" and look the sheet up by its bare name.
        sheet, bang, cells = inp.rpartition("!")
        m = _TOKEN.fullmatch(cells)
        if bang and m and ((m.group("ref") and not m.group("sheet")) or m.group("span")):
            name = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
            s = self.sheet_index.get(name.upper())
            if s is not None:
                ref = self._ref(m, s)[0] if m.group("ref") else self._span(m, s)
                return (s, *ref[1:])
        raise EvalError(f"unsupported reference {inp!r} in {text}")


def _r1c1(r: int, c: int, r_abs: bool, c_abs: bool, row: int, col: int) -> str:
    return (f"R{r}" if r_abs else f"R[{r - row}]") + (f"C{c}" if c_abs else f"C[{c - col}]")


def _scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    if v is EMPTY:
        return 0.0
    return v


Node = tuple[int, int, int]  # sheet index, row, col (the top-left cell of an array formula)


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
    # schedula logs a traceback for every function that fails; a failure is an error value.
    for name in ("schedula", "formulas"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    ev = _Evaluator(book)
    sheets = list(book.sheets.values())
    nodes: dict[Node, tuple[str, int, int]] = {}  # -> (formula, rows, cols); 1, 1 for a cell
    for s, sheet in enumerate(sheets):
        for (r, c), text in sheet.formulas.items():
            nodes[(s, r, c)] = (text, 1, 1)
        for (r, c), (text, nr, nc) in sheet.arrays.items():
            nodes[(s, r, c)] = (text, nr, nc)
    parsed: dict[Node, tuple[str, list[Ref]]] = {}
    extent = [[1, 1] for _ in sheets]
    for s, sheet in enumerate(sheets):
        for r, c in sheet.values:
            extent[s][0], extent[s][1] = max(extent[s][0], r + 1), max(extent[s][1], c + 1)
    volatile = []
    failed: dict[Node, str] = {}  # lenient: formulas that cannot be computed, and why
    for (s, r, c), (text, nr, nc) in list(nodes.items()):
        try:
            resolved = ev.resolve_spills(text, s)
            if resolved is not text:
                text = resolved
                nodes[(s, r, c)] = (text, nr, nc)
            key, refs = ev.tokenize(text[1:] if text.startswith("=") else text, s, r, c)
        except EvalError as exc:
            if lenient:
                failed[(s, r, c)] = str(exc)
                extent[s][0], extent[s][1] = max(extent[s][0], r + nr), max(extent[s][1], c + nc)
                continue
            raise EvalError(f"{_name(ev, (s, r, c))}: {exc}", (ev.sheet_names[s], r, c)) from None
        if _VOLATILE.search(_STRING.sub("", text)):
            volatile.append(_name(ev, (s, r, c)))
        parsed[(s, r, c)] = (key, refs)
        extent[s][0], extent[s][1] = max(extent[s][0], r + nr), max(extent[s][1], c + nc)
        for rs, _, _, r1, c1 in refs:
            extent[rs][0], extent[rs][1] = max(extent[rs][0], r1 + 1), max(extent[rs][1], c1 + 1)
    g = _Grids([tuple(e) for e in extent])
    for s, sheet in enumerate(sheets):
        for (r, c), v in sheet.values.items():
            g.put(s, r, c, _input_value(v))
    for node in failed:
        del nodes[node]
    groups = _schedule(ev, nodes, parsed, g, failed if lenient else None)
    result = Result(ev.sheet_names, g.obj, volatile=sorted(volatile))
    if track_reads:
        result.reads = [np.zeros(o.shape, dtype=bool) for o in g.obj]
        for rs, r0, c0, r1, c1 in {ref for _, refs in parsed.values() for ref in refs}:
            result.reads[rs][r0 : r1 + 1, c0 : c1 + 1] = True
    for node, why in failed.items():
        _fail(ev, node, book, why, g, result)
    total, count = len(nodes), 0
    for _, members in sorted(groups.items(), key=lambda kv: kv[0][0]):
        try:
            if not (vectorise and _run_group(ev, members, nodes, parsed, g, result)):
                for node in members:
                    _compute(ev, node, nodes[node], parsed[node], g, result)
        except EvalError as exc:
            if lenient:
                for node in members:
                    _fail(ev, node, book, str(exc), g, result)
            elif exc.cell is not None:
                raise
            else:
                s, r, c = members[0]
                where = (ev.sheet_names[s], r, c)
                raise EvalError(f"{_name(ev, members[0])}: {exc}", where) from None
        count += len(members)
        if progress is not None:
            progress(count, total)
    return result


def _empty_grid(shape: tuple[int, int]) -> np.ndarray:
    """A grid of blank cells. Not np.full: it turns the EMPTY token (a str subclass) into the
    plain text "empty", which arithmetic then rejects with #VALUE! where a blank reads as 0."""
    grid = np.empty(shape, dtype=object)
    grid.fill(EMPTY)
    return grid


class _Grids:
    """Cell values per sheet: objects (the truth), and a float copy of the numbers."""

    def __init__(self, shapes: list[tuple[int, int]]) -> None:
        self.obj = [_empty_grid(shape) for shape in shapes]
        self.num = [np.zeros(shape) for shape in shapes]
        self.isnum = [np.zeros(shape, dtype=bool) for shape in shapes]

    def put(self, s: int, r: int, c: int, v) -> None:
        self.obj[s][r, c] = v
        numeric = isinstance(v, float) and not isinstance(v, bool)
        self.isnum[s][r, c] = numeric
        if numeric:
            self.num[s][r, c] = v


def _fail(ev, node: Node, book: Book, why: str, g: _Grids, result: Result) -> None:
    """A formula that cannot be computed: #REF! in each of its cells, and why."""
    s, r, c = node
    sheet = book.sheets[ev.sheet_names[s]]
    if (r, c) in sheet.formulas:
        text, nr, nc = sheet.formulas[(r, c)], 1, 1
    else:
        text, nr, nc = sheet.arrays[(r, c)]
    for i in range(nr):
        for j in range(nc):
            g.put(s, r + i, c + j, xl_error("#REF!"))
            result.formulas[(s, r + i, c + j)] = text if nr * nc == 1 else "{" + text + "}"
            result.why[(s, r + i, c + j)] = why


_PENDING = np.int32(2**30)  # the level of a formula cell not yet scheduled


def _schedule(ev, nodes, parsed, g: _Grids, failed=None) -> dict[tuple, list[Node]]:
    """Dependency levels by depth-first search; groups of (level, formula, sheet).

    A cell's level is one more than the highest level it reads (entered values are level 0);
    cells not yet scheduled hold _PENDING, so one max over a window both finds the level and
    tells whether anything in it is still pending.
    """
    level = [np.zeros(o.shape, dtype=np.int32) for o in g.obj]
    master: dict[Node, Node] = {}
    for (s, r, c), (_, nr, nc) in nodes.items():
        level[s][r : r + nr, c : c + nc] = _PENDING
        if nr * nc > 1:
            for rr in range(r, r + nr):
                for cc in range(c, c + nc):
                    master[(s, rr, cc)] = (s, r, c)
    groups: dict[tuple, list[Node]] = {}

    def visit(node: Node) -> list[Node] | int:
        """The level of `node` if all it reads is scheduled, else the cells still pending in
        the first window that has some (all of them, so the window is scanned once)."""
        lv = 0
        for s, r0, c0, r1, c1 in parsed[node][1]:
            if r0 == r1 and c0 == c1:
                m = level[s][r0, c0]
                if m == _PENDING:
                    dep = (s, r0, c0)
                    return [master.get(dep, dep)]
            else:
                window = level[s][r0 : r1 + 1, c0 : c1 + 1]
                m = window.max()
                if m == _PENDING:
                    return list(dict.fromkeys(
                        master.get(d, d) for d in ((s, r0 + int(i), c0 + int(j))
                                                   for i, j in np.argwhere(window == _PENDING))
                    ))  # fmt: skip
            if m > lv:
                lv = int(m)
        return lv + 1

    # Depth-first, with the cells being expanded ("gray") forming the path from the start:
    # reaching one of them again is a circular reference.
    for start in nodes:
        stack: list[Node] = [start]
        gray: set[Node] = set()
        while stack:
            node = stack[-1]
            if level[node[0]][node[1], node[2]] != _PENDING:
                stack.pop()
                continue
            lv = visit(node)
            if isinstance(lv, list):
                gray.add(node)
                for dep in lv:
                    if dep in gray:
                        why = f"circular reference through {_name(ev, dep)}"
                        if failed is None:
                            raise EvalError(why, (ev.sheet_names[dep[0]], dep[1], dep[2]))
                        # Break the circle at dep: it holds #REF! and is not computed.
                        failed[dep] = why
                        _, nr, nc = nodes[dep]
                        level[dep[0]][dep[1] : dep[1] + nr, dep[2] : dep[2] + nc] = 0
                        continue
                    stack.append(dep)
                continue
            stack.pop()
            gray.discard(node)
            s, r, c = node
            _, nr, nc = nodes[node]
            level[s][r : r + nr, c : c + nc] = lv
            group = (lv, parsed[node][0], s) if nr * nc == 1 else (lv, node)
            groups.setdefault(group, []).append(node)
    return groups


def _run_group(ev, members: list[Node], nodes, parsed, g: _Grids, result: Result) -> bool:
    """Compute cells that share a formula in one vectorised step; False if it cannot."""
    first = members[0]
    key, refs0 = parsed[first]
    text = nodes[first][0]
    body = text[1:] if text.startswith("=") else text
    compiled = ev.compile(key, "=" + body, first[0], refs0)
    if isinstance(compiled, tuple) or compiled.plan is None:
        return False
    n = len(members)
    arrays = []
    for k in compiled.plan_order:
        rs, r0, c0, r1, c1 = refs0[k]
        h, w = r1 - r0 + 1, c1 - c0 + 1
        rows = np.fromiter((parsed[m][1][k][1] for m in members), dtype=np.intp, count=n)
        cols = np.fromiter((parsed[m][1][k][2] for m in members), dtype=np.intp, count=n)
        if (rows == r0).all() and (cols == c0).all():
            sl = (slice(r0, r1 + 1), slice(c0, c1 + 1))
            if not g.isnum[rs][sl].all():
                return False
            arrays.append(g.num[rs][sl][None])
            continue
        ri = rows[:, None, None] + np.arange(h)[None, :, None]
        ci = cols[:, None, None] + np.arange(w)[None, None, :]
        if not g.isnum[rs][ri, ci].all():
            return False
        arrays.append(g.num[rs][ri, ci])
    s = first[0]
    text_, nr, nc = nodes[first]
    try:
        if nr * nc > 1:
            block = run_block(compiled.plan, arrays, nr, nc)
        else:
            values = run(compiled.plan, arrays, n)
    except Unsupported:
        return False
    if nr * nc > 1:
        r, c = first[1], first[2]
        g.num[s][r : r + nr, c : c + nc] = block
        g.isnum[s][r : r + nr, c : c + nc] = True
        g.obj[s][r : r + nr, c : c + nc] = block.tolist()
        for i in range(nr):
            for j in range(nc):
                result.formulas[(s, r + i, c + j)] = "{" + text_ + "}"
        return True
    rows = np.fromiter((m[1] for m in members), dtype=np.intp, count=n)
    cols = np.fromiter((m[2] for m in members), dtype=np.intp, count=n)
    g.num[s][rows, cols] = values
    g.isnum[s][rows, cols] = True
    g.obj[s][rows, cols] = values.tolist()
    for m in members:
        result.formulas[m] = nodes[m][0]
    return True


def _name(ev: _Evaluator, node: Node) -> str:
    s, r, c = node
    return f"{ev.sheet_names[s]}!{a1.cell(r, c)}"


def _compute(ev, node: Node, spec, parsed, g: _Grids, result: Result) -> None:
    s, r, c = node
    text, nr, nc = spec
    key, refs = parsed
    body = text[1:] if text.startswith("=") else text
    compiled = ev.compile(key, "=" + body, s, refs)
    if isinstance(compiled, tuple):
        out = np.full((nr, nc), compiled[0], dtype=object)
        result.why[node] = compiled[1]
    else:
        args = []
        for k in compiled.order:
            rs, r0, c0, r1, c1 = refs[k]
            args.append(g.obj[rs][r0 : r1 + 1, c0 : c1 + 1])
        try:
            res = compiled.func(*args)
        except Exception as exc:  # a function failing is an error value, as in a spreadsheet
            res, result.why[node] = _failure(exc)
        out = _shape(res, nr, nc)
        if nr * nc == 1 and isinstance(res, np.ndarray) and res.size > 1:
            result.why[node] = "a plain formula whose result is an array (implicit intersection)"
    for i in range(nr):
        for j in range(nc):
            g.put(s, r + i, c + j, out[i, j])
            result.formulas[(s, r + i, c + j)] = text if nr * nc == 1 else "{" + text + "}"


def _failure(exc: Exception) -> tuple[XlError, str]:
    """The error value and cause of a function that raised: an unknown function (a typo, or one
    `formulas` lacks) is #NAME?, as Excel shows a typo; anything else #VALUE!."""
    args = getattr(exc, "args", ())
    if len(args) >= 3 and isinstance(args[1], str) and isinstance(args[2], NotImplementedError):
        return xl_error("#NAME?"), f"{args[1]} is not a function xlnet's evaluator computes"
    return xl_error("#VALUE!"), f"evaluation failed: {' '.join(str(exc).split())}"


def _shape(res, nr: int, nc: int) -> np.ndarray:
    out = np.empty((nr, nc), dtype=object)
    if isinstance(res, np.ndarray) and res.size > 1:
        if nr * nc == 1:
            # A plain formula that yields an array: Excel and LibreOffice would implicitly
            # intersect or show #VALUE!; flag it rather than pick an element.
            out[0, 0] = xl_error("#VALUE!")
            return out
        arr = res if res.ndim == 2 else res.reshape(1, -1)
        for i in range(nr):
            for j in range(nc):
                ii = i if arr.shape[0] > 1 else 0
                jj = j if arr.shape[1] > 1 else 0
                inside = (arr.shape[0] == 1 or i < arr.shape[0]) and (
                    arr.shape[1] == 1 or j < arr.shape[1]
                )
                out[i, j] = _scalar(arr[ii, jj]) if inside else xl_error("#N/A")
        return out
    v = res.ravel()[0] if isinstance(res, np.ndarray) else res
    out[:, :] = _scalar(v)
    return out


def _input_value(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.startswith("#") and v.endswith(("!", "?", "A")):
        return XlError(v) if v in _XL_ERRORS else v
    return v


_XL_ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}
