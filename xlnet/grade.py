"""Grading one file: a verdict per block of each graded sheet, judged without cascading.

The student's formulas are recomputed by the evaluator (cached values are never trusted, except
to pin RAND() weights to what the file saved). Blocks are judged in the order they are computed;
each is compared with NumPy applied to the student's *own* upstream blocks, so one early mistake
is reported once, not in every block downstream. A block left blank or holding error values is
replaced by the values it should have held and the workbook recomputed, so that its errors do
not spread to the blocks that read it.

In order: the file is read (xlsxio), the blocks to grade found (tasks), the working copy made
(workcopy), and each sheet's blocks judged (judge) on what the working copy reads (readings),
into the grades of verdicts.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import a1
from .block import Block
from .evaluate import EvalError
from .exercises import student_of
from .judge import Forms, Judged, judge_formula, judge_param
from .readings import numbers, sheet_env, why
from .submission import Entered
from .tasks import Task, tasks_for
from .template import BlockSpec, Template
from .verdicts import FileGrade, SheetGrade
from .workcopy import WorkingCopy
from .xlsxio import Book, BookError, read_book


def grade_file(
    path: str | Path,
    template: Template | None = None,
    given: tuple[str, ...] | None = None,
    reveal: bool = False,
) -> FileGrade:
    """Grade one submission: by the template's layout, or as an exercise xlnet wrote (`given`
    overriding the groups its Settings say were given); `reveal` adds each graded block's
    expected formula. A file that cannot be read or computed gets an error, not an
    exception."""
    path = Path(path)
    out = FileGrade(str(path))
    try:
        book = read_book(path)
        out.student = student_of(book)
        out.sheets = grade_book(path, book, tasks_for(book, template, given), reveal)
    except (BookError, EvalError) as exc:
        msg = " ".join(str(exc).split())  # one line, whatever a library wrapped
        out.error = msg if msg.startswith(str(path)) else f"{path}: {msg}"
    except Exception as exc:  # one strange file must not cost the rest of the batch its grades
        out.sheets = []
        out.error = f"{path}: grading failed ({type(exc).__name__}: {exc}); please report"
    return out


def grade_book(path: Path, book: Book, tasks: list[Task], reveal: bool = False) -> list[SheetGrade]:
    """Each task's sheet graded on one working copy of `book` (read from `path`)."""
    cells = Entered(book)
    work = WorkingCopy(book, path)  # pinned, patched and recomputed
    return [_grade_sheet(task, cells, work, reveal) for task in tasks]


def _grade_sheet(task: Task, cells: Entered, work: WorkingCopy, reveal: bool) -> SheetGrade:
    out = SheetGrade(task.title, notes=list(task.notes))
    if cells.sheet(task.lr.sheet) is None:
        have = ", ".join(repr(n) for n in cells.book.sheets)
        out.notes.append(f"no sheet named {task.lr.sheet!r}; the file has {have}")
    env = sheet_env(task, cells, work, out.notes)
    values: dict[str, np.ndarray] = {}
    chosen: dict[frozenset[str], str] = {}  # the form last chosen among the same labels
    judged_forms: dict[str, str] = {}  # each block's form, as judged
    for spec in task.blocks:
        key = spec.name
        if spec.values is not None:
            values[key] = np.array(spec.values, dtype=float)
            continue
        forms = _forms(spec, chosen, cells)
        if spec.kind == "input":
            values[key] = _given(spec, forms[0][1], work, out.notes)
            continue
        judged: Judged
        if spec.kind == "param":
            judged = judge_param(spec, forms, cells, work)
        else:
            with np.errstate(all="ignore"):  # students' values can be anything
                judged = judge_formula(spec, forms, env, values, cells, work)
        values[key] = judged.values
        judged.grade.points = spec.points
        judged_forms[key] = judged.form
        judged.grade.form = judged.form or None
        if reveal and spec.kind != "param":
            judged.grade.expected_formula = _revealed(task, spec, forms, judged, judged_forms)
        if len(spec.forms) > 1:
            chosen[frozenset(lbl for lbl, _ in spec.forms)] = judged.form
        out.blocks.append(judged.grade)
    return out


def _revealed(
    task: Task, spec: BlockSpec, forms: Forms, judged: Judged, judged_forms: dict[str, str]
) -> str | None:
    """The formula the block should hold, in the form judged: at its first wrong cell when
    that lies in the form, else at its first cell."""
    block = dict(forms)[judged.form]
    at = judged.grade.at
    row, col = at if at is not None and block.holds(*at) else (block.row, block.col)
    return task.formula_at(spec, judged_forms, row, col)


def _given(spec: BlockSpec, block: Block, work: WorkingCopy, notes: list[str]) -> np.ndarray:
    """A given block, as the student left it; errors in it are noted once and read as 0, so
    they do not turn every block that reads it into an error."""
    got, bad = numbers(work, block)
    if bad:
        r, c, v = bad[0]
        cause = why(work, block.sheet, r, c)
        notes.append(
            f"the given block {spec.block_name} ({block.a1}) holds {len(bad)} cells that are "
            f"not numbers, first {block.sheet}!{a1.cell(r, c)} {v}"
            + (f" ({cause})" if cause else "")
            + "; they are read as 0"
        )
        got = np.where(np.isfinite(got), got, 0.0)
        work.patch(block, got)
    return got


def _forms(spec: BlockSpec, chosen: dict[frozenset[str], str], cells: Entered) -> Forms:
    """The block's forms, the likeliest first: the one holding the most numbers and formulas
    (text labels beside a block do not count), then the one chosen last for a block with the
    same forms (db1 follows b1), then the template's order."""
    if len(spec.forms) == 1:
        return list(spec.forms)  # no order to choose (nor a given block's cells to scan)
    prefer = chosen.get(frozenset(lbl for lbl, _ in spec.forms))
    order = sorted(
        range(len(spec.forms)),
        key=lambda k: (-cells.entered(spec.forms[k][1]), spec.forms[k][0] != prefer, k),
    )
    return [spec.forms[k] for k in order]
