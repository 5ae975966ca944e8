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
from .checks import CHECKS, Check, ShapeMismatch
from .evaluate import EMPTY, EvalError, Result, evaluate
from .layout import Block
from .ops import Env
from .template import BlockSpec, SheetSpec
from .xlsxio import Book, BookError, read_book, read_cached

VERDICTS = ("correct", "wrong", "missing", "not_formula", "error")
# A block is correct when every cell is within GRADE_TOLERANCE * max(max|expected|, 1) of the
# expected value: loose enough for any order of summation or an equivalent formula (EXP(Z)/SUM
# with or without the max shift), tight enough that a wrong formula never passes.
GRADE_TOLERANCE = 1e-6
MAX_REPAIRS = 50  # formulas the evaluator cannot run (circular, external) replaced per file
_RAND = re.compile(r"(?<![\w.])(RAND|RANDBETWEEN)\s*\(", re.I)
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
            {"sheet": s.sheet, "blocks": [b.to_json() for b in s.blocks]} for s in self.sheets
        ]
        return out

    def text(self) -> str:
        lines = [f"{self.file}" + (f" ({self.student})" if self.student else "")]
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        for s in self.sheets:
            lines.append(f"  {s.sheet}")
            for b in s.blocks:
                name = b.block + (f" (epoch {b.epoch})" if b.epoch is not None else "")
                line = f"    {name:<22} {b.verdict}"
                if b.verdict == "correct":
                    line += f"  [{b.seen}]" if b.seen else ""
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

    def filled(self, block: Block) -> int:
        return sum(self.kind(block.sheet, r, c) != "blank" for _, _, r, c in block.cells())


class _Grader:
    def __init__(self, path: Path, original: Book, tasks: list[Task]) -> None:
        self.path = path
        self.tasks = tasks
        self.cells = _Cells(original)
        self.book = copy.deepcopy(original)  # the working copy: pinned, repaired, patched
        self.preset: dict[tuple[str, int, int], str] = {}  # cell -> why it could not be computed
        self._pin_random()
        self.result: Result | None = None
        self.read = _referenced(original)
        self._env: dict[str, Env] = {}

    def _is_read(self, block: Block) -> bool:
        """Whether any formula of the file reads a cell of `block`."""
        if "*" in self.read:
            return True
        mask = self.read.get(block.sheet.upper())
        if mask is None:
            return False
        return bool(
            mask[block.row : block.row + block.nrows, block.col : block.col + block.ncols].any()
        )

    # --- the working copy -------------------------------------------------------------
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

    def _blank(self, sheet_name: str, r: int, c: int, why: str) -> None:
        """Take out a formula the evaluator cannot run; its cell becomes an error value."""
        sheet = self.book.sheet(sheet_name)
        for (ar, ac), (_, nr, nc) in list(sheet.arrays.items()):
            if ar <= r < ar + nr and ac <= c < ac + nc:
                del sheet.arrays[(ar, ac)]
                for i in range(nr):
                    for j in range(nc):
                        sheet.values[(ar + i, ac + j)] = "#N/A"
                        self.preset[(sheet.name.upper(), ar + i, ac + j)] = why
        if (r, c) in sheet.formulas:
            del sheet.formulas[(r, c)]
            sheet.values[(r, c)] = "#N/A"
            self.preset[(sheet.name.upper(), r, c)] = why

    def evaluate(self) -> Result:
        for _ in range(MAX_REPAIRS):
            try:
                self.result = evaluate(self.book)
                return self.result
            except EvalError as exc:
                if exc.cell is None:
                    raise
                why = str(exc).split(": ", 1)[-1] if "circular" not in str(exc) else str(exc)
                self._blank(*exc.cell, why)
        raise EvalError(f"more than {MAX_REPAIRS} formulas cannot be computed")

    def patch(self, block: Block, values: np.ndarray) -> None:
        """Replace a block's cells by the values it should hold (for the blocks after it)."""
        sheet = self._sheet_for(block.sheet)
        for (ar, ac), (_, nr, nc) in list(sheet.arrays.items()):
            if (
                block.row <= ar < block.row + block.nrows
                and block.col <= ac < block.col + block.ncols
            ):
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
            from .xlsxio import Sheet

            self.book.sheets[name] = Sheet(name)
            return self.book.sheets[name]

    def current(self) -> Result:
        return self.result if self.result is not None else self.evaluate()

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
            if v is EMPTY or v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                bad.append((r, c, v))
                out[i, j] = math.nan
            else:
                out[i, j] = float(v)
        return out, bad

    def env(self, task: Task) -> Env:
        """The learning rate and N as the sheet holds them, read once per task."""
        if task.title not in self._env:
            lr, _ = self.numbers(task.lr)
            n, _ = self.numbers(task.n)
            self._env[task.title] = Env(float(lr[0, 0]), float(n[0, 0]))
        return self._env[task.title]

    # --- judging --------------------------------------------------------------------------
    def grade(self) -> list[SheetGrade]:
        return [self._grade_task(t) for t in self.tasks]

    def _grade_task(self, task: Task) -> SheetGrade:
        out = SheetGrade(task.title)
        values: dict[str, np.ndarray] = {}
        for spec in task.blocks:
            key = _key(spec)
            if spec.values is not None:
                values[key] = np.array(spec.values, dtype=float)
                continue
            label, block = self._form(spec)
            if spec.kind == "input":
                values[key], _ = self.numbers(block)
                continue
            if spec.kind == "param":
                grade, values[key] = self._judge_param(spec, label, block)
            else:
                grade, values[key] = self._judge(task, spec, label, block, values)
            out.blocks.append(grade)
        return out

    def _form(self, spec: BlockSpec) -> tuple[str, Block]:
        """The form the student used: the one holding the most filled cells (the first on a
        tie, so one bias in T3 reads as one scalar bias, not a bias column with blanks)."""
        best = max(range(len(spec.forms)), key=lambda k: (self.cells.filled(spec.forms[k][1]), -k))
        return spec.forms[best]

    def _judge_param(self, spec: BlockSpec, label: str, block: Block):
        grade = BlockGrade(spec.block_name, "correct", seen=label or None, epoch=spec.epoch)
        values, bad = self.numbers(block)
        kinds = [(r, c, self.cells.kind(block.sheet, r, c)) for _, _, r, c in block.cells()]
        blanks = [(r, c) for r, c, k in kinds if k == "blank"]
        if len(blanks) == len(kinds):
            grade.verdict = "missing"
            grade.hint = f"enter the initial values of {spec.block_name} ({block.a1})"
        elif bad:
            r, c, v = bad[0]
            grade.verdict = "error"
            grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", v
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.wrong_cells = len(bad)
            grade.hint = self._why(block.sheet, r, c) or "initial values must be numbers"
        elif blanks:
            r, c = blanks[0]
            grade.verdict = "missing"
            grade.cell, grade.wrong_cells = f"{block.sheet}!{a1.cell(r, c)}", len(blanks)
            grade.hint = f"{len(blanks)} of {len(kinds)} initial values are empty"
        elif any(_RAND.search(self.cells.formula(block.sheet, r, c) or "") for r, c, _ in kinds):
            grade.seen = ", ".join(x for x in (label, "RAND() pinned to the saved values") if x)
        return grade, values

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

    def _judge(self, task: Task, spec: BlockSpec, label: str, block: Block, values):
        # Students' values can be anything (a negative "probability" under LN): NaN, not a warning.
        with np.errstate(all="ignore"):
            return self._judge_block(task, spec, label, block, values)

    def _judge_block(self, task: Task, spec: BlockSpec, label: str, block: Block, values):
        check = CHECKS[spec.check] if isinstance(spec.check, str) else spec.check
        grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
        env = self.env(task)
        args = [values[a] for a in spec.args]
        shape = (block.nrows, block.ncols)
        try:
            candidates = check.expect(env, shape, *args)
        except ShapeMismatch as exc:
            candidates = []
            grade.hint = f"its inputs do not fit together ({exc})"
        if not candidates:
            # Nothing to compare with (upstream of the wrong size): judge what can be judged.
            candidates = [("", np.full(shape, math.nan))]
        expected = candidates[0][1]
        kinds = {(r, c): self.cells.kind(block.sheet, r, c) for _, _, r, c in block.cells()}
        if all(k == "blank" for k in kinds.values()):
            grade.verdict = "missing"
            grade.cell = f"{block.sheet}!{a1.cell(block.row, block.col)}"
            grade.expected = _first(expected)
            grade.wrong_cells = len(kinds)
            if np.isfinite(expected).all():
                self.patch(block, expected)  # blanks would spread (MMULT of a blank: #VALUE!)
                return grade, expected
            return grade, np.zeros(shape)
        got, bad = self.numbers(block)
        if spec.kind == "formula" and any(k == "value" for k in kinds.values()):
            typed = [(r, c) for (r, c), k in kinds.items() if k == "value"]
            r, c = typed[0]
            i, j = r - block.row, c - block.col
            grade.verdict = "not_formula"
            grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", self._raw(block.sheet, r, c)
            grade.expected = float(expected[i, j])
            grade.wrong_cells = len(typed)
            grade.hint = f"{len(typed)} cells hold typed or pasted values; {spec.block_name} " \
                "must be computed by formulas"  # fmt: skip
        elif bad:
            r, c, v = bad[0]
            i, j = r - block.row, c - block.col
            grade.verdict = "error"
            grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", str(v)
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.expected, grade.wrong_cells = float(expected[i, j]), len(bad)
            grade.hint = (self._text_hints(spec, block) or _transposed(got, expected)
                          or self._why(block.sheet, r, c) or _ERROR_HINTS.get(str(v)))  # fmt: skip
        else:
            seen = self._match(got, candidates, kinds, block)
            if seen is not None:
                # Name the convention only where there was a choice.
                parts = (label if len(spec.forms) > 1 else "", seen if len(candidates) > 1 else "")
                grade.seen = ", ".join(x for x in parts if x) or None
                return grade, got
            wrong = _wrong_cells(got, expected, kinds, block)
            r, c = wrong[0]
            i, j = r - block.row, c - block.col
            grade.verdict = "wrong"
            grade.cell = f"{block.sheet}!{a1.cell(r, c)}"
            grade.formula = self.cells.formula(block.sheet, r, c)
            grade.expected = float(expected[i, j])
            grade.got = None if kinds[(r, c)] == "blank" else float(got[i, j])
            grade.wrong_cells = len(wrong)
            grade.hint = grade.hint or self._hint(task, spec, check, env, args, got, expected,
                                                  block, (r, c), values)  # fmt: skip
        if grade.verdict == "error" and np.isfinite(expected).all():
            # Error values would spread to every block that reads this one: recompute those
            # from the values it should hold.
            self.patch(block, expected)
            return grade, expected
        # Later blocks are judged on what this block holds (blank cells read as 0).
        return grade, np.where(np.isfinite(got), got, 0.0)

    def _raw(self, sheet: str, r: int, c: int):
        s = self.cells.sheet(sheet)
        return None if s is None else s.values.get((r, c))

    def _match(self, got, candidates, kinds, block: Block) -> str | None:
        if any(k == "blank" for k in kinds.values()):
            return None
        for label, exp in candidates:
            if exp.shape == got.shape and _close(got, exp):
                return label
        return None

    # --- hints ------------------------------------------------------------------------------
    def _text_hints(self, spec: BlockSpec, block: Block) -> str | None:
        texts = {self.cells.formula(block.sheet, r, c) or "" for _, _, r, c in block.cells()}
        if any(_LOG.search(t) for t in texts):
            return "LOG is the base-10 logarithm; the cross-entropy needs LN"
        return None

    def _hint(self, task, spec, check: Check, env, args, got, expected, block, cell, values):
        """The most specific explanation of a wrong block that the values support."""
        text = self._text_hints(spec, block)
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
            except ShapeMismatch:
                pass
        if check.uses_n and env.n and _close(got, expected * env.n):
            return "a missing 1/N: divide by the number of samples"
        if _close(got, -expected):
            return "the sign is flipped"
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
        """A range that moved as the formula was filled right or down: not anchored with $."""
        r, c = cell
        here = self.cells.formula(block.sheet, r, c)
        top = self.cells.formula(block.sheet, block.row, block.col)
        if not here or not top or here.startswith("{") or (r, c) == (block.row, block.col):
            return None
        a, b = _RANGE.findall(top), _RANGE.findall(here)
        if len(a) != len(b) or _shape_of(top) != _shape_of(here):
            return None
        for ra, rb in zip(a, b, strict=True):
            if ra == rb:
                continue
            moved_cols = ra[1] != rb[1] or ra[5] != rb[5]
            moved_rows = ra[3] != rb[3] or ra[7] != rb[7]
            if (moved_cols and c != block.col) or (moved_rows and r != block.row):
                way = "right" if moved_cols else "down"
                return (
                    f"the range {_plain(rb)} moved as the formula was filled {way} (it is "
                    f"{_plain(ra)} in the first cell): anchor it with $"
                )
        return None


_CELL = re.compile(r"\$?[A-Z]{1,3}\$?\d+")


def _shape_of(formula: str) -> str:
    """A formula with its ranges and cells blanked out: equal for copies of one formula."""
    return _CELL.sub("C", _RANGE.sub("R", formula))


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


def _plain(groups: tuple[str, ...]) -> str:
    return "".join(groups[:4]) + ":" + "".join(groups[4:])


def _display(key: str) -> str:
    name, _, epoch = key.partition("@")
    return f"{name} (epoch {epoch})" if epoch else name


def _key(spec: BlockSpec) -> str:
    return spec.name


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


def _referenced(book: Book) -> dict[str, np.ndarray]:
    """Per sheet (upper case), the cells some formula reads; "*" when a defined name is used."""
    from .evaluate import _TOKEN

    rects: dict[str, list[tuple[int, int, int, int]]] = {}
    anywhere = False
    for sheet in book.sheets.values():
        texts = list(sheet.formulas.values()) + [t for t, _, _ in sheet.arrays.values()]
        for text in set(texts):
            for m in _TOKEN.finditer(text):
                if m.group("name"):
                    anywhere = anywhere or m.group("name").upper() in book.names
                    continue
                if not m.group("ref"):
                    continue
                q = m.group("sheet")
                target = (
                    q[1:-1].replace("''", "'") if q and q.startswith("'") else q
                ) or sheet.name
                r0, c0 = a1.parse_cell(m.group("c1") + m.group("r1"))
                r1, c1 = a1.parse_cell(
                    (m.group("c2") or m.group("c1")) + (m.group("r2") or m.group("r1"))
                )
                rects.setdefault(target.upper(), []).append(
                    (min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1))
                )
    out: dict[str, np.ndarray] = {}
    for name, rs in rects.items():
        rows = max(r[2] for r in rs) + 1
        cols = max(r[3] for r in rs) + 1
        mask = np.zeros((rows, cols), dtype=bool)
        for r0, c0, r1, c1 in rs:
            mask[r0 : r1 + 1, c0 : c1 + 1] = True
        out[name] = mask
    if anywhere:
        out["*"] = np.zeros((0, 0), dtype=bool)
    return out


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
