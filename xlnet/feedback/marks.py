"""Where a grade's feedback goes in a workbook: the cells of each graded block and its note."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..block import Block
from ..tasks import tasks_for
from ..template import BlockSpec, Template
from ..verdicts import BlockGrade, FileGrade, expected_formula
from ..words import quantity
from ..xlsxio import read_book


@dataclass(frozen=True)
class Mark:
    """One graded block as the copy shows it: its cells, whether it is correct, its note."""

    block: Block
    correct: bool
    note_cell: tuple[int, int] | None  # (row, col), 0-based: the first wrong cell
    note: str


def _form(spec: BlockSpec, grade: BlockGrade) -> Block:
    """The cells of the form the block was judged in."""
    forms = dict(spec.forms)
    return forms.get(grade.form or "", spec.forms[0][1])


def _read(arg: str, block: Block | None, here: str) -> str:
    """An input as the note names it: "A1 (Z3:AB180)", "Z1 of epoch 2 (Train!B3:D180)"."""
    name, _, epoch = arg.partition("@")
    name += f" of epoch {epoch}" if epoch and epoch != "0" else " (initial)" if epoch else ""
    if block is None:
        return name  # a constant of the template (the class values)
    return f"{name} ({block.whole(here).replace('$', '')})"


def note_text(grade: BlockGrade, reads: str) -> str:
    """The note on a block's first wrong cell: verdict, expected and got, hint, its inputs."""
    lines = [f"{grade.block}: {grade.verdict}"]
    if grade.expected is not None:
        lines.append(f"expected {_fmt(grade.expected)}, got {_fmt(grade.got)}")
    if grade.wrong_cells:
        lines.append(quantity(grade.wrong_cells, "cell") + " wrong")
    if grade.hint:
        lines.append(f"hint: {grade.hint}")
    if reads:
        lines.append(f"reads from: {reads}")
    if grade.expected_formula:
        lines.append(expected_formula(grade))
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "(empty)" if v is None else str(v)


def marks_for(
    path: Path, grade: FileGrade, template: Template | None, given: tuple[str, ...] | None
) -> dict[str, list[Mark]]:
    """Sheet name -> the marks of its graded blocks, paired with the grades in the order
    grading appends them (every block but the constant and given ones)."""
    out: dict[str, list[Mark]] = {}
    tasks = tasks_for(read_book(path), template, given)
    for task, sheet in zip(tasks, grade.sheets, strict=False):
        specs = [s for s in task.blocks if s.values is None and s.kind != "input"]
        where = {s.name: s.forms[0][1] for s in task.blocks if s.forms}
        for spec, g in zip(specs, sheet.blocks, strict=False):
            block = where[spec.name] = _form(spec, g)
            cell = None
            if g.verdict != "correct":
                cell = g.at or (block.row, block.col)
            reads = ", ".join(_read(a, where.get(a), block.sheet) for a in spec.args)
            out.setdefault(block.sheet, []).append(
                Mark(block, g.verdict == "correct", cell, note_text(g, reads))
            )
    return out
