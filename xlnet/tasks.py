"""What grading checks in a file: each graded sheet's blocks in the order they are computed,
from a template's layout or from the Settings of an exercise xlnet wrote."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .block import Block
from .exercises import ExerciseError, parse_given
from .layout import SETTINGS, TRAIN, setting_block
from .run import Run, setting
from .template import BlockSpec, SheetSpec, Template, available, load_template
from .xlsxio import Book, BookError


@dataclass(frozen=True)
class Task:
    """One graded sheet: its blocks in the order they are computed, and where lr and N are."""

    title: str
    lr: Block
    n: Block
    blocks: tuple[BlockSpec, ...]
    notes: tuple[str, ...] = ()  # said about the sheet whatever the grades
    # (block, the form judged of each block so far, row, col) -> the formula the block should
    # hold in that cell (`xlnet check --reveal`): the template's, or the one xlnet writes.
    formula_at: Callable[[BlockSpec, dict[str, str], int, int], str | None] = field(
        default=BlockSpec.formula_at, compare=False
    )


def tasks_for(
    book: Book, template: Template | None, given: tuple[str, ...] | None = None
) -> list[Task]:
    """The blocks to grade: the template's; else, for a file xlnet wrote, its exercise (with
    `given` overriding what its Settings say); else those of the one shipped template whose
    sheets the file has (the book's sheet, say)."""
    if template is not None:
        return _from_template(template.sheets)
    names = {n.upper() for n in book.sheets}
    if SETTINGS.upper() in names:
        return exercise_tasks(book, given)
    for name in available():
        t = load_template(name)
        if all(s.name.upper() in names for s in t.sheets):
            return _from_template(t.sheets)
    raise BookError(
        f"{book.path}: neither an exercise written by xlnet exercise nor a known template's "
        f"sheet (templates: {', '.join(available())}); pass --template NAME|PATH"
    )


def _from_template(sheets: tuple[SheetSpec, ...]) -> list[Task]:
    return [Task(s.name, s.lr, s.n, s.blocks) for s in sheets]


def exercise_tasks(book: Book, override: tuple[str, ...] | None = None) -> list[Task]:
    """The graded blocks of an exercise written by `xlnet exercise`: its blank steps, every
    epoch, each checked against its NumPy step applied to the workbook's own upstream blocks."""
    given_text = setting(book, "given")
    if not isinstance(given_text, str):
        raise BookError(
            f"{book.path}: an xlnet training workbook, not an exercise (no 'Given blocks' "
            "setting); grade a book's sheet with --template"
        )
    try:
        given = parse_given(given_text)
    except ExerciseError as exc:
        raise BookError(f"{book.path}: Settings 'Given blocks': {exc}") from None
    notes: tuple[str, ...] = ()
    if override is not None and override != given:
        # The Settings sheet is the student's to edit: the instructor's --given decides.
        notes = (f"graded with given blocks {', '.join(override) or 'none'}; the file's "
                 f"Settings say {', '.join(given) or 'none'}",)  # fmt: skip
        given = override
    run = Run.from_book(book)
    program, layout = run.program, run.layout
    blocks: list[BlockSpec] = [
        BlockSpec(n, "input", (("", layout.block(n)),)) for n in program.data_tensors
    ]
    for p in program.initial:
        carried = program.carried(p)
        blocks.append(BlockSpec(f"{carried}@0", "input", (("", layout.block(carried, 0)),)))
    for e in range(1, program.spec.epochs + 1):
        for step in program.epoch_steps:
            kind = "input" if step.op.group in given else "formula"
            args = []
            for a in step.args:
                name, epoch = program.locate(a, e)
                args.append(name if epoch is None else f"{name}@{epoch}")
            blocks.append(BlockSpec(f"{step.out}@{e}", kind, (("", layout.block(step.out, e)),),
                                    step.op.check, tuple(args), epoch=e))  # fmt: skip
    lr, n = (setting_block(k) for k in ("learning_rate", "n_samples"))
    steps = {step.out: step for step in program.epoch_steps}

    def formula_at(spec: BlockSpec, _judged: dict[str, str], row: int, col: int) -> str | None:
        # Asked of the op cell by cell, as the writer writes it: not every block's formulas
        # fill right and down from its top-left cell (dW reads columns for rows).
        name, _, epoch = spec.name.partition("@")
        out, array, cell = layout.step_formula(steps[name], int(epoch))
        return "{=" + array + "}" if array else "=" + cell(row - out.row, col - out.col)

    return [Task(TRAIN, lr, n, tuple(blocks), notes, formula_at)]
