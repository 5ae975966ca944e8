"""Where a formula's references point: A1 cells and ranges, defined names, whole columns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import a1
from .errors import XlnetError
from .xlsxio import Book


class EvalError(XlnetError, ValueError):
    """A workbook the evaluator cannot compute (circular or unsupported references); `cell`
    is (sheet, row, col) of the formula at fault where one is known."""

    def __init__(self, message: str, cell: tuple[str, int, int] | None = None) -> None:
        super().__init__(message)
        self.cell = cell


Ref = tuple[int, int, int, int, int]  # sheet index, r0, c0, r1, c1 (inclusive, 0-based)

_TOKEN = re.compile(
    r"""
      (?P<str>"(?:[^"]|"")*")
    | (?<![\w.$'])(?P<ref>
          (?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?
          (?P<cells>(?P<c1>\$?[A-Za-z]{1,3})(?P<r1>\$?[0-9]+)
          (?::(?P<c2>\$?[A-Za-z]{1,3})(?P<r2>\$?[0-9]+))?)
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
STRING = re.compile(r'"(?:[^"]|"")*"')
DIGITS = re.compile(r"[0-9]+")
# A call of a function by name (not "X.RAND(" or "MYRAND("), with or without _xlfn.
_CALL = r"(?<![\w.])(?:_xlfn\.)?({})\s*\("
RANDOM_NAMES = ("RANDARRAY", "RANDBETWEEN", "RAND")
# Functions whose value changes at every recalculation: a file using them cannot be checked
# (RANDOM: the ones a student's random initial weights use, which grading tolerates).
VOLATILE = re.compile(_CALL.format("|".join((*RANDOM_NAMES, "NOW", "TODAY", "OFFSET",
                                             "INDIRECT"))), re.I)  # fmt: skip
RANDOM = re.compile(_CALL.format("|".join(RANDOM_NAMES)), re.I)
# Functions that read where a reference is, never what it holds: a reference that is their
# whole argument is no dependency (=ROW(A5) in A5 is 5 in Excel, not a circular reference).
ADDRESS_FUNCTIONS = frozenset({"ROW", "COLUMN", "ROWS", "COLUMNS", "AREAS"})
# ROW() and COLUMN(): the formula's own cell (its whole range for an array formula). Texts
# are first searched for "()" (EMPTY_CALL: 50 times faster over a book's formulas).
OWN_CELL = re.compile(r"(?<![\w.])((?:_xlfn\.)?(?:ROW|COLUMN))\s*\(\s*\)", re.I)
EMPTY_CALL = re.compile(r"\(\s*\)")
REF_MARK = "\x02"  # stands for a cell or range reference in a formula's skeleton


@dataclass(frozen=True)
class RefSpec:
    """One reference of a formula, as far as the formula's shape (its text without digits)
    fixes it: the sheet, the columns, and which digit runs of the text hold its two rows
    (None: the reference does not move with the digits, e.g. a defined name)."""

    sheet: int
    c0: int
    c1: int
    runs: tuple[int, int] | None
    fixed: Ref | None  # the whole reference, when runs is None
    address: bool = False  # the whole argument of ROW, COLUMN, ROWS...: its values unread


@dataclass(frozen=True)
class Analysis:
    """The references of one formula text and its skeleton: the text with each cell or range
    reference replaced by REF_MARK (sheet prefixes, names, constants and strings kept)."""

    skeleton: str
    refs: tuple[RefSpec, ...]


def row_runs(text: str) -> frozenset[int]:
    """Which runs of digits in `text` are the row numbers of its cell and range references
    (counted from 0 in textual order); the others are literal (constants, names, sheets)."""
    runs = [m.start() for m in DIGITS.finditer(text)]
    out: set[int] = set()
    for m in _TOKEN.finditer(text):
        if m.group("ref"):
            for g in ("r1", "r2"):
                if m.group(g):
                    out.add(next(k for k, a in enumerate(runs) if m.start(g) <= a < m.end(g)))
    return frozenset(out)


def relative(text: str, row: int, col: int) -> str:
    """`text` with each cell or range reference written in R1C1 relative to the cell (row,
    col) ("R[-1]C[2]"; "R0C[2]" where a $ anchors the row): equal for the copies of a formula
    filled right or down. Strings, names and whole columns or rows are left as written."""
    out, pos = [], 0
    for m in _TOKEN.finditer(text):
        if not m.group("ref"):
            continue
        ends = [(m.group("c1"), m.group("r1"))]
        if m.group("c2"):
            ends.append((m.group("c2"), m.group("r2")))
        out += [text[pos : m.start("cells")], ":".join(_r1c1(c, r, row, col) for c, r in ends)]
        pos = m.end("cells")
    return "".join(out) + text[pos:]


def own_cell(text: str, row: int, col: int, nr: int = 1, nc: int = 1) -> str:
    """`text` with each ROW() and COLUMN() given the formula's own cell (or its array's
    range) as argument: =ROW() in E5 is =ROW(E5), which fills like any relative reference,
    so a group of such cells computes each cell's own row."""
    if not (EMPTY_CALL.search(text) and OWN_CELL.search(text)):
        return text
    here = a1.cell(row, col)
    if nr * nc > 1:
        here += ":" + a1.cell(row + nr - 1, col + nc - 1)
    parts = []
    pos = 0
    for m in STRING.finditer(text):  # not inside strings
        parts += [OWN_CELL.sub(rf"\1({here})", text[pos : m.start()]), m.group(0)]
        pos = m.end()
    return "".join(parts) + OWN_CELL.sub(rf"\1({here})", text[pos:])


def _address_only(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is the whole argument of one of ADDRESS_FUNCTIONS."""
    after = text[end:].lstrip()
    before = text[:start].rstrip()
    if not (after.startswith(")") and before.endswith("(")):
        return False
    head = before[:-1].rstrip()
    name = re.search(r"[\w.]*$", head).group(0).upper()  # type: ignore[union-attr]
    return name.removeprefix("_XLFN.") in ADDRESS_FUNCTIONS


def _r1c1(letters: str, digits: str, row: int, col: int) -> str:
    r, c = int(digits.lstrip("$")) - 1, a1.col_index(letters.lstrip("$"))
    rr = f"R{r}" if digits.startswith("$") else f"R[{r - row}]"
    cc = f"C{c}" if letters.startswith("$") else f"C[{c - col}]"
    return rr + cc


class Resolver:
    """Reference resolution against one workbook: sheets, names and used extents."""

    def __init__(self, book: Book, used: list[tuple[int, int]]) -> None:
        self.book = book
        self.sheet_names = list(book.sheets)
        self.sheet_index = {n.upper(): i for i, n in enumerate(self.sheet_names)}
        # Whole columns (A:A) and rows (3:3) are read up to the sheet's used extent.
        self.used = used
        # A name scoped to a sheet (localSheetId) wins over the workbook's inside that sheet.
        # An unqualified target is on the name's own sheet, or the first sheet for the workbook.
        glob = {n: (t, 0) for n, t in book.names.items()}
        self.scopes: list[dict[str, tuple[str, int]]] = [
            {**glob, **{n: (t, i) for n, t in sheet.names.items()}}
            for i, sheet in enumerate(book.sheets.values())
        ]
        self._targets: dict[tuple[str, int], Ref | None] = {}

    def sheet(self, quoted: str | None, here: int) -> int:
        if quoted is None:
            return here
        name = quoted[1:-1].replace("''", "'") if quoted.startswith("'") else quoted
        try:
            return self.sheet_index[name.upper()]
        except KeyError:
            raise EvalError(f"reference to a missing sheet {name!r}") from None

    def name(self, name: str, here: int) -> Ref | None:
        """The range a defined name stands for on sheet `here`; None if no such name."""
        hit = self.scopes[here].get(name.upper())
        if hit is None:
            return None
        if hit not in self._targets:
            self._targets[hit] = self._name_target(*hit)
        target = self._targets[hit]
        if target is None:
            raise EvalError(f"defined name {name.upper()} is not a plain cell range")
        return target

    def _name_target(self, text: str, here: int) -> Ref | None:
        m = _TOKEN.fullmatch(text.lstrip("="))
        if not m or not m.group("ref"):
            return None  # a constant or a formula; unsupported when used
        try:
            return self.ref(m, here)
        except EvalError:
            return None

    def ref(self, m: re.Match, here: int) -> Ref:
        c1, r1 = m.group("c1"), m.group("r1")
        c2, r2 = m.group("c2") or c1, m.group("r2") or r1
        s = self.sheet(m.group("sheet"), here)
        rows = (int(r1.lstrip("$")) - 1, int(r2.lstrip("$")) - 1)
        cols = self._cols(c1, c2)
        if min(rows) < 0:
            raise EvalError(f"row 0 in reference {m.group('ref')!r}")
        if max(rows) >= a1.MAX_ROWS:
            raise EvalError(f"reference {m.group('ref')!r} lies below the last row of a sheet")
        return (s, min(rows), cols[0], max(rows), cols[1])

    def _cols(self, c1: str, c2: str) -> tuple[int, int]:
        cols = (a1.col_index(c1.lstrip("$")), a1.col_index(c2.lstrip("$")))
        if max(cols) >= a1.MAX_COLS:
            raise EvalError(f"column {max(c1, c2, key=len)} lies beyond the last column of a sheet")
        return min(cols), max(cols)

    def span(self, m: re.Match, here: int, clip: bool = True) -> Ref:
        """A whole column range (AH:AH) or row range (3:3), clipped to the sheet's used cells
        (`clip`; else to the sheet's last row or column, where ROWS and COLUMNS see it end)."""
        s = self.sheet(m.group("ssheet"), here)
        last_row, last_col = self.used[s] if clip else (a1.MAX_ROWS - 1, a1.MAX_COLS - 1)
        if m.group("k1"):
            c0, c1 = self._cols(m.group("k1"), m.group("k2"))
            return (s, 0, c0, last_row, c1)
        r0, r1 = (int(m.group(g).lstrip("$")) - 1 for g in ("w1", "w2"))
        if min(r0, r1) < 0:
            raise EvalError(f"row 0 in reference {m.group('span')!r}")
        return (s, min(r0, r1), 0, max(r0, r1), last_col)

    def resolve_spills(self, text: str, here: int) -> str:
        """V3# (saved as _xlfn.ANCHORARRAY(V3)) -> the range of the array anchored at V3."""

        def swap(m: re.Match) -> str:
            prefix = m.group(1) or ""
            s = self.sheet(prefix[:-1] or None, here)
            r, c = int(m.group(3)) - 1, a1.col_index(m.group(2))
            arrays = self.book.sheets[self.sheet_names[s]].arrays
            if (r, c) not in arrays:
                raise EvalError(
                    f"{m.group(0)}: no spilled array is anchored at {m.group(2)}{r + 1}"
                )
            _, nr, nc = arrays[(r, c)]
            return f"{prefix}{a1.cell(r, c)}:{a1.cell(r + nr - 1, c + nc - 1)}"

        return _SPILL.sub(swap, text)

    def analyse(self, text: str, here: int) -> Analysis:
        """The references of `text` (a formula without its "=") on sheet `here`.

        Row numbers are not checked here (any cell of the shape may hold other digits); the
        caller checks each cell's rows. Columns, sheets and names are the shape's own.
        """
        if "[" in STRING.sub("", text):
            raise EvalError(
                "refers to another workbook or a table ([...]), which xlnet does not follow"
            )
        runs = [m.start() for m in DIGITS.finditer(text)]
        refs: list[RefSpec] = []
        pieces: list[str] = []
        pos = 0
        for m in _TOKEN.finditer(text):
            if m.group("str"):
                continue
            if m.group("name"):
                target = self.name(m.group("name"), here)
                if target is not None:
                    address = _address_only(text, m.start(), m.end())
                    refs.append(RefSpec(target[0], target[2], target[4], None, target, address))
                continue
            address = _address_only(text, m.start(), m.end())
            if m.group("span"):
                target = self.span(m, here)
                refs.append(RefSpec(target[0], target[2], target[4], None, target, address))
                continue
            s = self.sheet(m.group("sheet"), here)
            c0, c1 = self._cols(m.group("c1"), m.group("c2") or m.group("c1"))
            ends = [g if m.group(g) else "r1" for g in ("r1", "r2")]
            i1, i2 = (next(k for k, a in enumerate(runs) if m.start(e) <= a < m.end(e))
                      for e in ends)  # fmt: skip
            refs.append(RefSpec(s, c0, c1, (i1, i2), None, address))
            pieces += [text[pos : m.start("cells")], REF_MARK]
            pos = m.end("cells")
        pieces.append(text[pos:])
        return Analysis("".join(pieces), tuple(refs))

    def input_target(self, inp: str, here: int, text: str, clip: bool = True) -> Ref:
        """The range one input of a formula compiled by `formulas` stands for (`clip`: a whole
        column or row as far as the sheet's used cells, else to the sheet's end)."""
        m = _TOKEN.fullmatch(inp)
        if m and m.group("name"):
            target = self.name(m.group("name"), here)
            if target is not None:
                return target
        if m and m.group("ref"):
            return self.ref(m, here)
        if m and m.group("span"):
            return self.span(m, here, clip)
        # formulas drops the quotes of some sheet names ('It''s', '2020', 'Übung'): split at
        # the last "!" and look the sheet up by its bare name.
        sheet, bang, cells = inp.rpartition("!")
        m = _TOKEN.fullmatch(cells)
        if bang and m and ((m.group("ref") and not m.group("sheet")) or m.group("span")):
            name = sheet[1:-1].replace("''", "'") if sheet.startswith("'") else sheet
            s = self.sheet_index.get(name.upper())
            if s is not None:
                ref = self.ref(m, s) if m.group("ref") else self.span(m, s, clip)
                return (s, *ref[1:])
        raise EvalError(f"unsupported reference {inp!r} in {text}")
