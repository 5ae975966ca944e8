"""Grading filled-in exercise workbooks: a verdict per block, judged without cascading.

The student's formulas are recomputed by the evaluator (cached values are never trusted, except
to pin RAND() weights to what the file saved). Blocks are judged in the order they are computed;
each is compared with NumPy applied to the student's *own* upstream blocks, so one early mistake
is reported once, not in every block downstream. A block left blank or holding error values is
replaced by the values it should have held and the workbook recomputed, so that its errors do
not spread to the blocks that read it.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import a1
from .checks import CHECKS, Candidates, Check, ShapeMismatch
from .evaluate import EMPTY, EvalError, Result, evaluate
from .layout import Block
from .ops import Env
from .template import BlockSpec, SheetSpec
from .xlsxio import Book, BookError, Sheet, read_book, read_cached

VERDICTS = ("correct", "wrong", "missing", "not_formula", "error")
# A block is correct when every cell is within GRADE_TOLERANCE * max(max|expected|, 1) of the
# expected value: loose enough for any order of summation or an equivalent formula (EXP(Z)/SUM
# with or without the max shift), tight enough that a wrong formula never passes.
GRADE_TOLERANCE = 1e-6
_RAND = re.compile(r"(?<![\w.])(?:_xlfn\.)?(RANDARRAY|RANDBETWEEN|RAND)\s*\(", re.I)
_LOG = re.compile(r"(?<![\w.])LOG(10)?\s*\(", re.I)
_ERROR_HINTS = {
    "#VALUE!": "arithmetic on text, or on a range where one number is meant",
    "#NAME?": "an unknown function or name: a typo, or a function this spreadsheet lacks",
    "#DIV/0!": "a division by zero or by an empty cell",
    "#REF!": "a reference to a cell that was deleted or lies outside the sheet",
    "#NUM!": "a number out of range: EXP of a large value, or LN of zero or less",
    "#N/A": "a value that is not available: a lookup that found nothing, or an array formula "
    "larger than its result",
}
_RANGE = re.compile(r"(\$?)([A-Z]{1,3})(\$?)(\d+):(\$?)([A-Z]{1,3})(\$?)(\d+)")


@dataclass
class BlockGrade:
    block: str
    verdict: str
    cell: str | None = None
    formula: str | None = None
    expected: float | None = None
    got: object = None
    wrong_cells: int = 0
    hint: str | None = None
    seen: str | None = None  # the accepted convention the block was found to follow
    epoch: int | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("expected", "got"):
            v = d[k]
            if (isinstance(v, float) and not math.isfinite(v)) or (
                v is not None and not isinstance(v, str | int | float | bool)
            ):
                d[k] = str(v)
        if d["epoch"] is None:
            del d["epoch"]
        return d


@dataclass
class SheetGrade:
    sheet: str
    blocks: list[BlockGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the sheet: missing, lr not a number


@dataclass
class FileGrade:
    file: str
    sheets: list[SheetGrade] = field(default_factory=list)
    error: str | None = None  # the file could not be graded at all
    student: str | None = None

    @property
    def graded(self) -> list[BlockGrade]:
        return [b for s in self.sheets for b in s.blocks]

    @property
    def score(self) -> float:
        """Percentage of blocks graded correct; 0 for a file that could not be graded."""
        blocks = self.graded
        if self.error or not blocks:
            return 0.0
        return round(100.0 * sum(b.verdict == "correct" for b in blocks) / len(blocks), 1)

    def to_json(self) -> dict:
        out: dict = {"file": self.file, "score": self.score}
        if self.student is not None:
            out["student"] = self.student
        if self.error:
            out["error"] = self.error
        out["sheets"] = [
            {"sheet": s.sheet, **({"notes": s.notes} if s.notes else {}),
             "blocks": [b.to_json() for b in s.blocks]}
            for s in self.sheets
        ]  # fmt: skip
        return out

    def text(self) -> str:
        lines = [f"{self.file}" + (f" ({self.student})" if self.student else "")]
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        for s in self.sheets:
            lines.append(f"  {s.sheet}")
            lines += [f"    NOTE: {n}" for n in s.notes]
            for b in s.blocks:
                name = b.block + (f" (epoch {b.epoch})" if b.epoch is not None else "")
                line = f"    {name:<22} {b.verdict}"
                if b.verdict == "correct":
                    line += f"  [{b.seen}]" if b.seen else ""
                    line += f"\n{'':<32}note: {b.hint}" if b.hint else ""
                else:
                    line += _detail(b)
                lines.append(line)
        n = len(self.graded)
        ok = sum(b.verdict == "correct" for b in self.graded)
        lines.append(f"  score {self.score:g}% ({ok} of {n} blocks correct)")
        return "\n".join(lines)


def _detail(b: BlockGrade) -> str:
    parts = []
    if b.cell:
        parts.append(f"at {b.cell}")
    if b.formula:
        parts.append(b.formula)
    if b.verdict in ("wrong", "not_formula", "error") and b.expected is not None:
        parts.append(f"expected {_fmt(b.expected)} got {_fmt(b.got)}")
    if b.wrong_cells:
        parts.append(f"{b.wrong_cells} cells")
    out = ("  " + ", ".join(parts)) if parts else ""
    return out + (f"\n{'':<32}hint: {b.hint}" if b.hint else "")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "(empty)" if v is None else str(v)


@dataclass(frozen=True)
class Task:
    """One graded sheet: its blocks in the order they are computed, and where lr and N are."""

    title: str
    lr: Block
    n: Block
    blocks: tuple[BlockSpec, ...]
    notes: tuple[str, ...] = ()  # said about the sheet whatever the grades


def tasks_from_template(sheets: tuple[SheetSpec, ...]) -> list[Task]:
    return [Task(s.name, s.lr, s.n, s.blocks) for s in sheets]


class _Cells:
    """What the student entered, per cell (from the file as opened, never patched)."""

    def __init__(self, book: Book) -> None:
        self.book = book
        self.array_anchor: dict[tuple[str, int, int], tuple[int, int]] = {}
        for sheet in book.sheets.values():
            for (r, c), (_, nr, nc) in sheet.arrays.items():
                for i in range(nr):
                    for j in range(nc):
                        self.array_anchor[(sheet.name.upper(), r + i, c + j)] = (r, c)

    def sheet(self, name: str):
        try:
            return self.book.sheet(name)
        except BookError:
            return None

    def kind(self, sheet: str, r: int, c: int) -> str:
        """'formula', 'value' or 'blank'."""
        s = self.sheet(sheet)
        if s is None:
            return "blank"
        if (r, c) in s.formulas or (s.name.upper(), r, c) in self.array_anchor:
            return "formula"
        v = s.values.get((r, c))
        if v is None or (isinstance(v, str) and not v.strip()):
            return "blank"
        return "value"

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

    def entered(self, block: Block) -> int:
        """Cells holding a formula or a number (text, such as a label beside a block, is not
        an attempt at it)."""
        count = 0
        for _, _, r, c in block.cells():
            k = self.kind(block.sheet, r, c)
            if k == "formula" or (k == "value" and _as_number(self._value(block.sheet, r, c))
                                  is not None):  # fmt: skip
                count += 1
        return count

    def _value(self, sheet: str, r: int, c: int):
        s = self.sheet(sheet)
        return None if s is None else s.values.get((r, c))


class _Grader:
    def __init__(self, path: Path, original: Book, tasks: list[Task]) -> None:
        self.path = path
        self.tasks = tasks
        self.cells = _Cells(original)
        self.book = copy.deepcopy(original)  # the working copy: pinned, then patched
        self.preset: dict[tuple[str, int, int], str] = {}  # cell -> why it has no value
        self._pin_random()
        self.result: Result | None = None
        self.reads: dict[str, np.ndarray] | None = None  # sheet (upper) -> cells formulas read

    def _is_read(self, block: Block) -> bool:
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

    def _pin_random(self) -> None:
        """RAND() weights take the values the file saved; no saved value leaves an error."""
        hits = [
            (sheet, rc)
            for sheet in self.book.sheets.values()
            for rc, text in sheet.formulas.items()
            if _RAND.search(text)
        ]
        hits += [
            (sheet, rc)
            for sheet in self.book.sheets.values()
            for rc, (text, _, _) in sheet.arrays.items()
            if _RAND.search(text)
        ]
        if not hits:
            return
        cached = read_cached(self.path)
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
                    self.preset[(sheet.name.upper(), *rc)] = (
                        "uses RAND() and the file holds no saved value for it; open and save "
                        "the file in Excel or LibreOffice, or enter the weights as numbers"
                    )

    def patch(self, block: Block, values: np.ndarray) -> None:
        """Replace a block's cells by `values` (what the blocks after it are judged on), so
        that its mistakes, blanks and errors do not spread to the blocks that read it."""
        sheet = self._sheet_for(block.sheet)
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
        if self._is_read(block):
            self.result = None  # recompute before the next block is judged

    def _sheet_for(self, name: str):
        try:
            return self.book.sheet(name)
        except BookError:
            self.book.sheets[name] = Sheet(name)
            return self.book.sheets[name]

    def current(self) -> Result:
        if self.result is None:
            # The first evaluation (of the file as handed in) says which cells formulas read.
            self.result = evaluate(self.book, lenient=True, track_reads=self.reads is None)
        return self.result

    # --- reading values -----------------------------------------------------------------
    def numbers(self, block: Block) -> tuple[np.ndarray, list[tuple[int, int, object]]]:
        """The block's recomputed values (blank = 0, as a spreadsheet reads it) and its cells
        that are not numbers."""
        res = self.current()
        out = np.zeros((block.nrows, block.ncols))
        bad = []
        try:
            res.index(block.sheet)
        except KeyError:
            return out, []
        for i, j, r, c in block.cells():
            v = res.value(block.sheet, r, c)
            if v is EMPTY or v is None or (isinstance(v, str) and v == ""):
                continue  # blank, or a formula's "" (IF(Y=1, -LN(A), "")): nothing, as in SUM
            if isinstance(v, bool) or not isinstance(v, int | float):
                bad.append((r, c, v))
                out[i, j] = math.nan
            else:
                out[i, j] = float(v)
        return out, bad

    def env(self, task: Task, sheet: SheetGrade) -> Env:
        """The learning rate and N as the sheet holds them (numeric text read as a number).
        A learning rate left blank is 0, as a spreadsheet reads it. N must divide: left blank
        or not a number, it is noted once and taken as the number of samples, so that the
        blocks dividing by it are not all #DIV/0!."""
        values = []
        for what, block in (("the learning rate", task.lr), ("N", task.n)):
            v = self._value(block)
            number = _as_number(v)
            where = f"{block.sheet}!{a1.cell(block.row, block.col)}"
            blank = v is EMPTY or v is None
            if number is None and what == "N":
                inputs = [b.forms[0][1].nrows for b in task.blocks if b.kind == "input" and b.forms]
                rows = inputs[0] if inputs else 0
                shown = "empty" if blank else repr(v)
                sheet.notes.append(
                    f"N ({where}) is {shown}, not a number; graded as if it held {rows}"
                )
                number = float(rows)
                self.patch(block, np.array([[number]]))
            elif number is None:
                shown = "empty (0)" if blank else f"{v!r}, not a number"
                sheet.notes.append(f"the learning rate ({where}) is {shown}")
                number = 0.0 if blank else math.nan
            values.append(number)
        return Env(values[0], values[1])

    def _value(self, block: Block):
        if not self._has(block.sheet):
            return EMPTY
        return self.current().value(block.sheet, block.row, block.col)

    def _has(self, sheet: str) -> bool:
        return self.cells.sheet(sheet) is not None

    # --- judging --------------------------------------------------------------------------
    def grade(self) -> list[SheetGrade]:
        return [self._grade_task(t) for t in self.tasks]

    def _grade_task(self, task: Task) -> SheetGrade:
        out = SheetGrade(task.title, notes=list(task.notes))
        if not self._has(task.lr.sheet):
            have = ", ".join(repr(n) for n in self.cells.book.sheets)
            out.notes.append(f"no sheet named {task.lr.sheet!r}; the file has {have}")
        env = self.env(task, out)
        values: dict[str, np.ndarray] = {}
        chosen: dict[frozenset[str], str] = {}  # the form last chosen among the same labels
        for spec in task.blocks:
            key = spec.name
            if spec.values is not None:
                values[key] = np.array(spec.values, dtype=float)
                continue
            forms = self._forms(spec, chosen)
            if spec.kind == "input":
                values[key] = self._input(spec, forms[0][1], out)
                continue
            if spec.kind == "param":
                grade, values[key], label = self._judge_param(spec, forms)
            else:
                with np.errstate(all="ignore"):  # students' values can be anything
                    grade, values[key], label = self._judge(spec, forms, env, values)
            if len(spec.forms) > 1:
                chosen[frozenset(lbl for lbl, _ in spec.forms)] = label
            out.blocks.append(grade)
        return out

    def _input(self, spec: BlockSpec, block: Block, sheet: SheetGrade) -> np.ndarray:
        """A given block, as the student left it; errors in it are noted once and read as 0,
        so they do not turn every block that reads it into an error."""
        got, bad = self.numbers(block)
        if bad:
            r, c, v = bad[0]
            why = self._why(block.sheet, r, c)
            sheet.notes.append(
                f"the given block {spec.block_name} ({block.a1}) holds {len(bad)} cells that are "
                f"not numbers, first {block.sheet}!{a1.cell(r, c)} {v}"
                + (f" ({why})" if why else "")
                + "; they are read as 0"
            )
            got = np.where(np.isfinite(got), got, 0.0)
            self.patch(block, got)
        return got

    def _forms(self, spec: BlockSpec, chosen) -> list[tuple[str, Block]]:
        """The block's forms, the likeliest first: the one holding the most numbers and
        formulas (text labels beside a block do not count), then the one chosen last for a
        block with the same forms (db1 follows b1), then the template's order."""
        prefer = chosen.get(frozenset(lbl for lbl, _ in spec.forms))
        order = sorted(
            range(len(spec.forms)),
            key=lambda k: (-self.cells.entered(spec.forms[k][1]), spec.forms[k][0] != prefer, k),
        )
        return [spec.forms[k] for k in order]

    def _judge_param(self, spec: BlockSpec, forms):
        label, block = forms[0]
        grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
        values, bad = self.numbers(block)
        kinds = [(r, c, self.cells.kind(block.sheet, r, c)) for _, _, r, c in block.cells()]
        blanks = [(r, c) for r, c, k in kinds if k == "blank"]
        if len(blanks) == len(kinds):
            grade.verdict = "missing"
            grade.hint = f"enter the initial values of {spec.block_name} ({block.a1})"
        elif bad:
            r, c, v = bad[0]
            grade.verdict = "error"
            grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", str(v)
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.wrong_cells = len(bad)
            grade.hint = self._why(block.sheet, r, c) or "initial values must be numbers"
        elif blanks:
            r, c = blanks[0]
            grade.verdict = "missing"
            grade.cell, grade.wrong_cells = f"{block.sheet}!{a1.cell(r, c)}", len(blanks)
            grade.hint = f"{len(blanks)} of {len(kinds)} initial values are empty"
        else:
            rand = any(_RAND.search(self.cells.formula(block.sheet, r, c) or "")
                       for r, c, _ in kinds)  # fmt: skip
            seen = (label if len(spec.forms) > 1 else "", "RAND() pinned to the saved values"
                    if rand else "")  # fmt: skip
            grade.seen = ", ".join(x for x in seen if x) or None
            return grade, values, label
        # What the blocks after it are judged on: blanks and errors read as 0.
        values = np.where(np.isfinite(values), values, 0.0)
        self.patch(block, values)
        return grade, values, label

    def _why(self, sheet: str, r: int, c: int) -> str | None:
        why = self.preset.get((sheet.upper(), r, c))
        if why:
            return why
        res = self.current()
        try:
            s = res.index(sheet)
        except KeyError:
            return None
        return res.why.get((s, r, c))

    def _expect(self, check: Check, env: Env, shape, args) -> tuple[Candidates, str | None]:
        try:
            return check.expect(env, shape, *args), None
        except (ShapeMismatch, ValueError) as exc:
            return [], f"its inputs do not fit together ({exc})"

    def _judge(self, spec: BlockSpec, forms, env: Env, values):
        check = CHECKS[spec.check] if isinstance(spec.check, str) else spec.check
        args = [values[a] for a in spec.args]
        grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
        if all(self.cells.entered(b) == 0 for _, b in forms):
            label, block = forms[0]
            shape = (block.nrows, block.ncols)
            cands, _ = self._expect(check, env, shape, args)
            expected = cands[0][1] if cands else np.zeros(shape)
            grade.verdict = "missing"
            grade.cell = f"{block.sheet}!{a1.cell(block.row, block.col)}"
            grade.expected, grade.wrong_cells = _first(expected), block.nrows * block.ncols
            return grade, self._pass_on(block, expected, np.zeros(shape)), label
        # The first form (most filled first) whose values are an accepted result.
        for label, block in forms:
            if self.cells.entered(block) == 0:
                continue
            shape = (block.nrows, block.ncols)
            cands, _ = self._expect(check, env, shape, args)
            kinds = {(r, c): self.cells.kind(block.sheet, r, c) for _, _, r, c in block.cells()}
            if any(k == "blank" for k in kinds.values()):
                continue
            got, bad = self.numbers(block)
            seen = None if bad else _match(got, cands)
            if seen is None:
                continue
            typed = [rc for rc, k in kinds.items() if k == "value"]
            if typed and spec.kind == "formula":
                grade = self._not_formula(spec, block, typed, got)
                return grade, got, label
            parts = (label if len(spec.forms) > 1 else "", seen if len(cands) > 1 else "")
            grade.seen = ", ".join(x for x in parts if x) or None
            grade.hint = self._advice(spec, block, check, got)
            return grade, got, label
        # Nothing matches: report on the likeliest form.
        label, block = forms[0]
        shape = (block.nrows, block.ncols)
        cands, misfit = self._expect(check, env, shape, args)
        expected = cands[0][1] if cands else np.full(shape, math.nan)
        kinds = {(r, c): self.cells.kind(block.sheet, r, c) for _, _, r, c in block.cells()}
        got, bad = self.numbers(block)
        typed = [rc for rc, k in kinds.items() if k == "value"]
        if spec.kind == "formula" and typed:
            grade = self._not_formula(spec, block, typed, expected)
        elif bad:
            r, c, v = bad[0]
            i, j = r - block.row, c - block.col
            wrong = _wrong_cells(got, expected, kinds, block)
            grade.verdict = "error"
            grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", str(v)
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.expected = _finite(expected[i, j])
            grade.wrong_cells = len(set(wrong) | {(rr, cc) for rr, cc, _ in bad})
            transposed = _transposed(got, expected)
            if transposed:
                # An array formula whose result has the transposed shape: #N/A pads the cells it
                # does not reach. The formula is wrong, not its inputs.
                grade.verdict = "wrong"
            grade.hint = (self._text_hints(block) or transposed
                          or self._why(block.sheet, r, c) or _ERROR_HINTS.get(str(v)))  # fmt: skip
        else:
            wrong = _wrong_cells(got, expected, kinds, block)
            r, c = wrong[0]
            i, j = r - block.row, c - block.col
            grade.verdict = "wrong"
            grade.cell = f"{block.sheet}!{a1.cell(r, c)}"
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.expected = _finite(expected[i, j])
            grade.got = None if kinds[(r, c)] == "blank" else float(got[i, j])
            grade.wrong_cells = len(wrong)
            blanks = [rc for rc, k in kinds.items() if k == "blank"]
            grade.hint = (
                misfit
                or (f"{len(blanks)} of {len(kinds)} cells are empty" if blanks else None)
                or self._hint(spec, check, env, args, got, expected, block, (r, c), values)
            )
        return grade, self._pass_on(block, expected, got), label

    def _pass_on(self, block: Block, expected: np.ndarray, got: np.ndarray) -> np.ndarray:
        """Patch a block that is not right with the values it should hold (its own values where
        those cannot be computed) and return what the blocks after it are judged on."""
        values = np.where(np.isfinite(expected), expected, np.where(np.isfinite(got), got, 0.0))
        self.patch(block, values)
        return values

    def _not_formula(self, spec: BlockSpec, block: Block, typed, values) -> BlockGrade:
        r, c = typed[0]
        i, j = r - block.row, c - block.col
        return BlockGrade(
            spec.block_name, "not_formula", f"{block.sheet}!{a1.cell(r, c)}", None,
            _finite(values[i, j]), self._raw(block.sheet, r, c), len(typed),
            f"{len(typed)} cells hold typed or pasted values; {spec.block_name} must be "
            "computed by formulas", epoch=spec.epoch,
        )  # fmt: skip

    def _raw(self, sheet: str, r: int, c: int):
        s = self.cells.sheet(sheet)
        return None if s is None else s.values.get((r, c))

    # --- hints ------------------------------------------------------------------------------
    def _text_hints(self, block: Block) -> str | None:
        texts = {self.cells.formula(block.sheet, r, c) or "" for _, _, r, c in block.cells()}
        if any(_LOG.search(t) for t in texts):
            return "LOG is the base-10 logarithm; the cross-entropy needs LN"
        return None

    def _advice(self, spec: BlockSpec, block: Block, check: Check, got: np.ndarray) -> str | None:
        """A note on a correct block: what the grade cannot see, or what another engine
        computes differently."""
        texts = {self.cells.formula(block.sheet, r, c) or "" for _, _, r, c in block.cells()}
        if any(_PLAIN_ARRAY.search(t) for t in texts if not t.startswith("{")):
            return (
                "SUM over EXP/LN/TANH of a range in a plain cell: Excel 365 computes it as "
                "arrays, LibreOffice and Excel 2019 or older do not; use SUMPRODUCT, or enter "
                "it with Ctrl+Shift+Enter"
            )
        if check.name == "grad_b" and got.size == 1 and abs(float(got[0, 0])) < 1e-12:
            return (
                "this scalar gradient is 0 for any formula (with softmax each sample's dZ sums "
                "to 0), so its value cannot show a mistake"
            )
        return None

    def _hint(self, spec, check: Check, env, args, got, expected, block, cell, values):
        """The most specific explanation of a wrong block that the values support."""
        text = self._text_hints(block)
        if text:
            return text
        if _close(got[:1, :1], expected[:1, :1]):  # right where it was written, wrong where filled
            slide = self._sliding_range(block, cell)
            if slide:
                return slide
        shape = got.shape
        if check.mistakes is not None:
            try:
                for hint, exp in check.mistakes(env, shape, *args):
                    if exp.shape == shape and _close(got, exp):
                        return hint
            except (ShapeMismatch, ValueError):
                pass
        if check.uses_n and env.n and _close(got, expected * env.n):
            return "a missing 1/N: divide by the number of samples"
        if _close(got, -expected):
            return "the sign is flipped"
        for name, arg in zip(spec.args, args, strict=True):
            if arg.shape == got.shape and _close(got, arg):
                return f"it only copies {_display(name)}: the step itself is not applied"
        return _transposed(got, expected) or self._wrong_input(spec, check, env, args, got, values)

    def _wrong_input(self, spec, check: Check, env, args, got, values) -> str | None:
        """A block that matches its formula fed with another block in place of one of its
        inputs: the wrong activation fed to a gradient, Z where A was meant, ..."""
        for pos, name in enumerate(spec.args):
            want = args[pos].shape
            for other, v in values.items():
                if other == name or other in spec.args or v.ndim != 2:
                    continue
                if v.shape[0] != want[0] or v.shape[1] < want[1]:
                    continue
                trial = list(args)
                trial[pos] = v[:, : want[1]]
                try:
                    cands = check.expect(env, got.shape, *trial)
                except (ShapeMismatch, ValueError):
                    continue
                if any(e.shape == got.shape and _close(got, e) for _, e in cands):
                    return (
                        f"{spec.block_name} is computed from {_display(other)} where it needs "
                        f"{_display(name)}"
                    )
        return None

    def _sliding_range(self, block: Block, cell: tuple[int, int]) -> str | None:
        """A range that moved as the formula was copied right or down although it should have
        stayed: the wrong cell's formula is an exact copy of the first cell's (same relative
        form), and one of its ranges spans several cells in the direction of the copy."""
        r, c = cell
        here = self.cells.formula(block.sheet, r, c)
        top = self.cells.formula(block.sheet, block.row, block.col)
        if not here or not top or here.startswith("{") or (r, c) == (block.row, block.col):
            return None
        if _relative(top, block.row, block.col) != _relative(here, r, c):
            return None
        for g in _RANGE.findall(here):
            across = c != block.col and not (g[0] or g[4]) and g[1] != g[5]
            down = r != block.row and not (g[2] or g[6]) and g[3] != g[7]
            if across or down:
                way = "right" if across else "down"
                return (
                    f"the range {_plain(g)} moved as the formula was filled {way}: anchor it "
                    f"with $ ({_anchored(g, across)})"
                )
        return None


def _transposed(got: np.ndarray, expected: np.ndarray) -> str | None:
    """The transpose of the expected block, where it fits (an MMULT with its factors swapped
    fills a KxF result into an FxK block: the corner holds the transpose, the rest #N/A)."""
    t = expected.T
    rows, cols = min(t.shape[0], got.shape[0]), min(t.shape[1], got.shape[1])
    if rows * cols < 2 or (t.shape == expected.shape and (t == expected).all()):
        return None
    if _close(got[:rows, :cols], t[:rows, :cols]):
        r, c = expected.shape
        return (
            f"the block holds the transpose ({c}x{r}) of what it should ({r}x{c}): swap the "
            "factors of the product, or TRANSPOSE the other one"
        )
    return None


_REF = re.compile(r"(?<![\w.$'!])(\$?)([A-Z]{1,3})(\$?)(\d+)(?![\w(!])")
_PLAIN_ARRAY = re.compile(
    r"(?<![\w.])SUM\s*\(\s*(?:EXP|LN|LOG|TANH)\s*\(\s*\$?[A-Z]{1,3}\$?\d+:", re.I
)


def _relative(formula: str, row: int, col: int) -> str:
    """A formula with each reference written relative to its cell (R1C1): equal for copies."""
    out, pos = [], 0
    for m in _REF.finditer(formula):
        r, c = int(m[4]) - 1, a1.col_index(m[2])
        rr = f"R{r}" if m[3] else f"R[{r - row}]"
        cc = f"C{c}" if m[1] else f"C[{c - col}]"
        out += [formula[pos : m.start()], rr + cc]
        pos = m.end()
    return "".join(out) + formula[pos:]


def _anchored(g: tuple[str, ...], across: bool) -> str:
    """The range with $ where its copy must not move."""
    if across:
        return f"${g[1]}{g[2]}{g[3]}:${g[5]}{g[6]}{g[7]}"
    return f"{g[0]}{g[1]}${g[3]}:{g[4]}{g[5]}${g[7]}"


def _as_number(v) -> float | None:
    """A number, or text that reads as one ("0.5", as a spreadsheet's arithmetic takes it)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, str) and v.strip():
        try:
            x = float(v.strip())
        except ValueError:
            return None
        return x if math.isfinite(x) else None
    return None


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _match(got: np.ndarray, candidates: Candidates) -> str | None:
    for label, exp in candidates:
        if exp.shape == got.shape and _close(got, exp):
            return label
    return None


def _plain(groups: tuple[str, ...]) -> str:
    return "".join(groups[:4]) + ":" + "".join(groups[4:])


def _display(key: str) -> str:
    name, _, epoch = key.partition("@")
    return f"{name} (epoch {epoch})" if epoch else name


def _first(a: np.ndarray) -> float | None:
    v = float(a.ravel()[0]) if a.size else None
    return v if v is None or math.isfinite(v) else None


def _close(got: np.ndarray, exp: np.ndarray) -> bool:
    if got.shape != exp.shape or not np.isfinite(exp).all() or not np.isfinite(got).all():
        return False
    scale = max(float(np.abs(exp).max(initial=0.0)), 1.0)
    return bool((np.abs(got - exp) <= GRADE_TOLERANCE * scale).all())


def _wrong_cells(got, exp, kinds, block: Block) -> list[tuple[int, int]]:
    scale = max(float(np.abs(np.nan_to_num(exp)).max(initial=0.0)), 1.0)
    out = []
    for i, j, r, c in block.cells():
        if kinds[(r, c)] == "blank" or not abs(got[i, j] - exp[i, j]) <= GRADE_TOLERANCE * scale:
            out.append((r, c))
    return out or [(block.row, block.col)]


def grade_file(
    path: str | Path,
    make_tasks: Callable[[Book], list[Task]],
    student: Callable[[Book], str | None] | None = None,
) -> FileGrade:
    """Grade one file; a file that cannot be read or computed gets an error, not an exception."""
    path = Path(path)
    out = FileGrade(str(path))
    try:
        book = read_book(path)
        out.student = student(book) if student else None
        grader = _Grader(path, book, make_tasks(book))
        out.sheets = grader.grade()
    except (BookError, EvalError) as exc:
        msg = " ".join(str(exc).split())  # one line, whatever a library wrapped
        out.error = msg if msg.startswith(str(path)) else f"{path}: {msg}"
    except Exception as exc:  # one strange file must not cost the rest of the batch its grades
        out.sheets = []
        out.error = f"{path}: grading failed ({type(exc).__name__}: {exc}); please report"
    return out
