"""Test helper: fill the blank blocks of an exercise written by `xlnet exercise` with the
formulas `xlnet build` writes (ops.py), the way a student who gets everything right would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
from openpyxl.worksheet.formula import ArrayFormula

from xlnet import a1
from xlnet.exercises import blank_steps, parse_given
from xlnet.layout import SETTINGS, Layout, setting_block
from xlnet.run import Run
from xlnet.xlsxio import read_book

# A formula per block: (step name, epoch, i, j, cell formula) -> what to write instead: a
# formula, "" (the cell left blank) or a number (typed in, as if pasted).
Edit = Callable[[str, int, int, int, str], str | float]


def fill(src: Path, dst: Path, edit: Edit | None = None, arrays: bool = False) -> Path:
    """Write every blank block of `src` as formulas into `dst`; `edit(step, epoch, i, j,
    formula)` may change a cell's formula or put a number or nothing there, to plant a
    mistake."""
    book = read_book(src)
    run = Run.from_book(book)
    program, layout = run.program, Layout(run.program)
    g = setting_block("given")
    blanks = blank_steps(program, parse_given(book.sheet(SETTINGS).values[(g.row, g.col)]))
    wb = openpyxl.load_workbook(src)
    for epoch in range(1, program.spec.epochs + 1):
        for step in program.epoch_steps:
            if step.out not in blanks:
                continue
            out = layout.block(step.out, epoch)
            args = [layout.block(*program.locate(a, epoch)) for a in step.args]
            ws = wb[out.sheet]
            if arrays and step.op.array is not None and out.nrows * out.ncols > 1 and edit is None:
                last = a1.cell(out.row + out.nrows - 1, out.col + out.ncols - 1)
                ref = f"{a1.cell(out.row, out.col)}:{last}"
                ws[a1.cell(out.row, out.col)] = ArrayFormula(
                    ref, "=" + step.op.array(out.sheet, *args)
                )
                continue
            for i, j, r, c in out.cells():
                f = step.op.cell(i, j, out.sheet, *args)
                if edit is not None:
                    f = edit(step.out, epoch, i, j, f)
                if isinstance(f, str) and f and not f.startswith("="):
                    f = "=" + f
                ws.cell(r + 1, c + 1).value = f if f != "" else None
    wb.save(dst)
    return dst
