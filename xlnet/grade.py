"""Grading filled-in exercise workbooks: a verdict per block, judged without cascading.

The student's formulas are recomputed by the evaluator (cached values are never trusted, except
to pin RAND() weights to what the file saved). Blocks are judged in the order they are computed;
each is compared with NumPy applied to the student's *own* upstream blocks, so one early mistake
is reported once, not in every block downstream. A block left blank or holding error values is
replaced by the values it should have held and the workbook recomputed, so that its errors do
not spread to the blocks that read it.

What a grade holds is in verdicts.py, the hints in hints.py, the file as handed in and the
working copy (patched, and recomputed only where a patch can change values) in submission.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import a1, hints
from .checks import CHECKS, Candidates, Check, ShapeMismatch
from .evaluate import EMPTY, EvalError
from .layout import Block
from .ops import Env
from .submission import Entered, WorkingCopy, as_number, uses_random
from .template import BlockSpec, SheetSpec
from .tolerances import GRADE_TOLERANCE
from .verdicts import VERDICTS, BlockGrade, FileGrade, SheetGrade, close
from .words import quantity
from .xlsxio import Book, BookError, read_book

__all__ = [
    "GRADE_TOLERANCE", "VERDICTS", "BlockGrade", "FileGrade", "SheetGrade", "Task",
    "grade_file", "tasks_from_template",
]  # fmt: skip


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


class _Grader:
    def __init__(self, path: Path, original: Book, tasks: list[Task]) -> None:
        self.tasks = tasks
        self.cells = Entered(original)
        self.work = WorkingCopy(original, path)  # pinned, patched and recomputed

    # --- reading values -----------------------------------------------------------------
    def numbers(self, block: Block) -> tuple[np.ndarray, list[tuple[int, int, object]]]:
        """The block's recomputed values (blank = 0, as a spreadsheet reads it) and its cells
        that are not numbers."""
        res = self.work.current()
        out = np.zeros((block.nrows, block.ncols))
        bad: list[tuple[int, int, object]] = []
        try:
            s = res.index(block.sheet)
        except KeyError:
            return out, []
        # Cells beyond the grid are blank: the slice stops at its edge and they stay 0.
        grid = res.grids[s]
        rows = grid[block.row : block.row + block.nrows, block.col : block.col + block.ncols]
        for i, row in enumerate(rows.tolist()):
            for j, v in enumerate(row):
                if type(v) is float:  # nearly every cell: the checks below, short-circuited
                    out[i, j] = v
                elif v is EMPTY or v is None or (isinstance(v, str) and v == ""):
                    continue  # blank, or a formula's "" (IF(Y=1, -LN(A), "")): nothing, as in SUM
                elif isinstance(v, bool) or not isinstance(v, int | float):
                    bad.append((block.row + i, block.col + j, v))
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
            number = as_number(v)
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
                self.work.patch(block, np.array([[number]]))
            elif number is None:
                shown = "empty (0)" if blank else f"{v!r}, not a number"
                sheet.notes.append(f"the learning rate ({where}) is {shown}")
                number = 0.0 if blank else math.nan
            values.append(number)
        return Env(values[0], values[1])

    def _value(self, block: Block) -> object:
        if not self._has(block.sheet):
            return EMPTY
        return self.work.current().value(block.sheet, block.row, block.col)

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
            self.work.patch(block, got)
        return got

    def _forms(self, spec: BlockSpec, chosen: dict[frozenset[str], str]) -> list[tuple[str, Block]]:
        """The block's forms, the likeliest first: the one holding the most numbers and
        formulas (text labels beside a block do not count), then the one chosen last for a
        block with the same forms (db1 follows b1), then the template's order."""
        if len(spec.forms) == 1:
            return list(spec.forms)  # no order to choose (nor a given block's cells to scan)
        prefer = chosen.get(frozenset(lbl for lbl, _ in spec.forms))
        order = sorted(
            range(len(spec.forms)),
            key=lambda k: (-self.cells.entered(spec.forms[k][1]), spec.forms[k][0] != prefer, k),
        )
        return [spec.forms[k] for k in order]

    def _judge_param(self, spec: BlockSpec, forms: list[tuple[str, Block]]):
        label, block = forms[0]
        grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
        values, bad = self.numbers(block)
        kinds = self.cells.kinds(block)
        blanks = [rc for rc, k in kinds.items() if k == "blank"]
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
            rand = any(uses_random(t) for t in self.cells.texts(block))
            seen = (label if len(spec.forms) > 1 else "", "RAND() pinned to the saved values"
                    if rand else "")  # fmt: skip
            grade.seen = ", ".join(x for x in seen if x) or None
            return grade, values, label
        # What the blocks after it are judged on: blanks and errors read as 0.
        values = np.where(np.isfinite(values), values, 0.0)
        self.work.patch(block, values)
        return grade, values, label

    def _why(self, sheet: str, r: int, c: int) -> str | None:
        why = self.work.preset.get((sheet.upper(), r, c))
        if why:
            return why
        res = self.work.current()
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

    def _judge(self, spec: BlockSpec, forms, env: Env, values: dict[str, np.ndarray]):
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
            kinds = self.cells.kinds(block)
            if "blank" in kinds.values():
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
            grade.hint = hints.advice(check, self.cells.texts(block), got)
            return grade, got, label
        # Nothing matches: report on the likeliest form.
        label, block = forms[0]
        shape = (block.nrows, block.ncols)
        cands, misfit = self._expect(check, env, shape, args)
        expected = cands[0][1] if cands else np.full(shape, math.nan)
        kinds = self.cells.kinds(block)
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
            transposed = hints.transposed(got, expected)
            if transposed:
                # An array formula whose result has the transposed shape: #N/A pads the cells it
                # does not reach. The formula is wrong, not its inputs.
                grade.verdict = "wrong"
            texts = self.cells.texts(block)
            grade.hint = (hints.text_hint(texts) or transposed or self._why(block.sheet, r, c)
                          or hints.ERROR_HINTS.get(str(v)))  # fmt: skip
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
            grade.hint = misfit or (f"{len(blanks)} of {len(kinds)} cells are empty"
                                    if blanks else None)  # fmt: skip
            if not grade.hint:
                texts, formula = self.cells.texts(block), self.cells.formula
                grade.hint = hints.hint(spec, check, env, args, got, expected, block, (r, c),
                                        values, texts, formula)  # fmt: skip
        return grade, self._pass_on(block, expected, got), label

    def _pass_on(self, block: Block, expected: np.ndarray, got: np.ndarray) -> np.ndarray:
        """Patch a block that is not right with the values it should hold (its own values where
        those cannot be computed) and return what the blocks after it are judged on."""
        values = np.where(np.isfinite(expected), expected, np.where(np.isfinite(got), got, 0.0))
        self.work.patch(block, values)
        return values

    def _not_formula(self, spec: BlockSpec, block: Block, typed, values) -> BlockGrade:
        r, c = typed[0]
        i, j = r - block.row, c - block.col
        return BlockGrade(
            spec.block_name, "not_formula", f"{block.sheet}!{a1.cell(r, c)}", None,
            _finite(values[i, j]), self.cells.value(block.sheet, r, c), len(typed),
            f"{quantity(len(typed), 'cell')} with typed or pasted values; "
            f"{spec.block_name} must be computed by formulas", epoch=spec.epoch,
        )  # fmt: skip


def _finite(v) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _match(got: np.ndarray, candidates: Candidates) -> str | None:
    for label, exp in candidates:
        if exp.shape == got.shape and close(got, exp):
            return label
    return None


def _first(a: np.ndarray) -> float | None:
    v = float(a.ravel()[0]) if a.size else None
    return v if v is None or math.isfinite(v) else None


def _wrong_cells(
    got: np.ndarray, exp: np.ndarray, kinds: dict[tuple[int, int], str], block: Block
) -> list[tuple[int, int]]:
    scale = max(float(np.abs(np.nan_to_num(exp)).max(initial=0.0)), 1.0)
    if got.shape == exp.shape:
        off = ~(np.abs(got - exp) <= GRADE_TOLERANCE * scale)  # NaN is off too
    else:  # an expectation of another shape: compared where the block is, as far as it goes
        off = np.array([[not abs(got[i, j] - exp[i, j]) <= GRADE_TOLERANCE * scale
                         for j in range(block.ncols)] for i in range(block.nrows)])  # fmt: skip
    out = [(r, c) for i, j, r, c in block.cells() if kinds[(r, c)] == "blank" or off[i, j]]
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
