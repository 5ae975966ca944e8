"""What grading reads from the recomputed working copy: a block's numbers and its cells that
are not numbers, why a cell holds an error, and the learning rate and N a sheet holds."""

from __future__ import annotations

import math

import numpy as np

from . import a1
from .block import Block
from .evaluate import EMPTY
from .scalars import Env
from .submission import Entered, spreadsheet_number
from .tasks import Task
from .workcopy import WorkingCopy

Bad = tuple[int, int, object]  # row, col and value of a cell that is not a number


def numbers(work: WorkingCopy, block: Block) -> tuple[np.ndarray, list[Bad]]:
    """The block's recomputed values (blank = 0, as a spreadsheet reads it) and its cells that
    are not numbers."""
    res = work.current()
    out = np.zeros((block.nrows, block.ncols))
    bad: list[Bad] = []
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


def why(work: WorkingCopy, sheet: str, r: int, c: int) -> str | None:
    """Why a cell holds an error: RAND() with no saved value, or the evaluator's cause."""
    preset = work.preset.get((sheet.upper(), r, c))
    if preset:
        return preset
    res = work.current()
    try:
        s = res.index(sheet)
    except KeyError:
        return None
    return res.why.get((s, r, c))


def sheet_env(task: Task, cells: Entered, work: WorkingCopy, notes: list[str]) -> Env:
    """The learning rate and N as the sheet holds them (numeric text read as a number). A
    learning rate left blank is 0, as a spreadsheet reads it. N must divide: left blank or not
    a number, it is noted once and taken as the number of samples (and patched so), so that
    the blocks dividing by it are not all #DIV/0!."""
    values = []
    for what, block in (("the learning rate", task.lr), ("N", task.n)):
        v = _value(cells, work, block)
        number = spreadsheet_number(v)
        where = f"{block.sheet}!{a1.cell(block.row, block.col)}"
        blank = v is EMPTY or v is None
        if number is None and what == "N":
            inputs = [b.forms[0][1].nrows for b in task.blocks if b.kind == "input" and b.forms]
            rows = inputs[0] if inputs else 0
            shown = "empty" if blank else repr(v)
            notes.append(f"N ({where}) is {shown}, not a number; graded as if it held {rows}")
            number = float(rows)
            work.patch(block, np.array([[number]]))
        elif number is None:
            shown = "empty (0)" if blank else f"{v!r}, not a number"
            notes.append(f"the learning rate ({where}) is {shown}")
            number = 0.0 if blank else math.nan
        values.append(number)
    return Env(values[0], values[1])


def _value(cells: Entered, work: WorkingCopy, block: Block) -> object:
    """The recomputed value of the block's top-left cell; blank on a sheet the file lacks."""
    if cells.sheet(block.sheet) is None:
        return EMPTY
    return work.current().value(block.sheet, block.row, block.col)
