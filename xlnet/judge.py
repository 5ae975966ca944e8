"""Judging one block against its candidates: its verdict with the cell, values, formula and
hint to show, and the values the blocks after it are judged on (patched into the working copy
where the block is not right, so that its mistakes do not cascade)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from . import a1, hints
from .block import Block
from .checks import CHECKS
from .operation import Candidates, Check, ShapeMismatch
from .readings import numbers, why
from .scalars import Env
from .submission import Entered, uses_random
from .template import BlockSpec
from .tolerances import GRADE_TOLERANCE, scale
from .verdicts import BlockGrade, close
from .words import quantity
from .workcopy import WorkingCopy

Forms = list[tuple[str, Block]]  # (label, range) of each way to write a block, likeliest first


class Judged(NamedTuple):
    grade: BlockGrade
    values: np.ndarray  # what the blocks after it are judged on
    form: str  # the label of the form judged


def judge_param(spec: BlockSpec, forms: Forms, cells: Entered, work: WorkingCopy) -> Judged:
    """Initial values, entered by the student: all numbers, or RAND() pinned to the saved
    values."""
    label, block = forms[0]
    grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
    values, bad = numbers(work, block)
    kinds = cells.kinds(block)
    blanks = [rc for rc, k in kinds.items() if k == "blank"]
    if len(blanks) == len(kinds):
        grade.verdict = "missing"
        grade.hint = f"enter the initial values of {spec.block_name} ({block.a1})"
    elif bad:
        r, c, v = bad[0]
        grade.verdict = "error"
        grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", str(v)
        grade.formula = cells.formula(block.sheet, r, c)
        grade.wrong_cells = len(bad)
        grade.hint = why(work, block.sheet, r, c) or "initial values must be numbers"
    elif blanks:
        r, c = blanks[0]
        grade.verdict = "missing"
        grade.cell, grade.wrong_cells = f"{block.sheet}!{a1.cell(r, c)}", len(blanks)
        grade.hint = f"{len(blanks)} of {len(kinds)} initial values are empty"
    else:
        rand = any(uses_random(t) for t in cells.texts(block))
        seen = (label if len(spec.forms) > 1 else "", "RAND() pinned to the saved values"
                if rand else "")  # fmt: skip
        grade.seen = ", ".join(x for x in seen if x) or None
        return Judged(grade, values, label)
    # What the blocks after it are judged on: blanks and errors read as 0.
    values = np.where(np.isfinite(values), values, 0.0)
    work.patch(block, values)
    return Judged(grade, values, label)


def judge_formula(
    spec: BlockSpec,
    forms: Forms,
    env: Env,
    values: dict[str, np.ndarray],
    cells: Entered,
    work: WorkingCopy,
) -> Judged:
    """A computed block against NumPy's step applied to `values`, the blocks it reads as the
    student's sheet holds them."""
    check = CHECKS[spec.check] if isinstance(spec.check, str) else spec.check
    args = [values[a] for a in spec.args]
    grade = BlockGrade(spec.block_name, "correct", epoch=spec.epoch)
    if all(cells.entered(b) == 0 for _, b in forms):
        label, block = forms[0]
        shape = (block.nrows, block.ncols)
        cands, _ = _expect(check, env, shape, args)
        expected = cands[0][1] if cands else np.zeros(shape)
        grade.verdict = "missing"
        grade.cell = f"{block.sheet}!{a1.cell(block.row, block.col)}"
        grade.expected, grade.wrong_cells = _first(expected), block.nrows * block.ncols
        return Judged(grade, _pass_on(work, block, expected, np.zeros(shape)), label)
    # The first form (most filled first) whose values are an accepted result.
    for label, block in forms:
        if cells.entered(block) == 0:
            continue
        shape = (block.nrows, block.ncols)
        cands, _ = _expect(check, env, shape, args)
        kinds = cells.kinds(block)
        if "blank" in kinds.values():
            continue
        got, bad = numbers(work, block)
        seen = None if bad else _match(got, cands)
        if seen is None:
            continue
        typed = [rc for rc, k in kinds.items() if k == "value"]
        if typed and spec.kind == "formula":
            return Judged(_not_formula(spec, cells, block, typed, got), got, label)
        parts = (label if len(spec.forms) > 1 else "", seen if len(cands) > 1 else "")
        grade.seen = ", ".join(x for x in parts if x) or None
        grade.hint = hints.advice(check, cells.texts(block), got)
        return Judged(grade, got, label)
    # Nothing matches: report on the likeliest form.
    label, block = forms[0]
    shape = (block.nrows, block.ncols)
    cands, misfit = _expect(check, env, shape, args)
    expected = cands[0][1] if cands else np.full(shape, math.nan)
    kinds = cells.kinds(block)
    got, bad = numbers(work, block)
    typed = [rc for rc, k in kinds.items() if k == "value"]
    if spec.kind == "formula" and typed:
        grade = _not_formula(spec, cells, block, typed, expected)
    elif bad:
        r, c, v = bad[0]
        i, j = r - block.row, c - block.col
        wrong = _wrong_cells(got, expected, kinds, block)
        grade.verdict = "error"
        grade.cell, grade.got = f"{block.sheet}!{a1.cell(r, c)}", str(v)
        grade.formula = cells.formula(block.sheet, r, c)
        grade.expected = _finite(expected[i, j])
        grade.wrong_cells = len(set(wrong) | {(rr, cc) for rr, cc, _ in bad})
        transposed = hints.transposed(got, expected)
        if transposed:
            # An array formula whose result has the transposed shape: #N/A pads the cells it
            # does not reach. The formula is wrong, not its inputs.
            grade.verdict = "wrong"
        grade.hint = (hints.text_hint(cells.texts(block)) or transposed
                      or why(work, block.sheet, r, c) or hints.ERROR_HINTS.get(str(v)))  # fmt: skip
    else:
        wrong = _wrong_cells(got, expected, kinds, block)
        r, c = wrong[0]
        i, j = r - block.row, c - block.col
        grade.verdict = "wrong"
        grade.cell = f"{block.sheet}!{a1.cell(r, c)}"
        grade.formula = cells.formula(block.sheet, r, c)
        grade.expected = _finite(expected[i, j])
        grade.got = None if kinds[(r, c)] == "blank" else float(got[i, j])
        grade.wrong_cells = len(wrong)
        blanks = [rc for rc, k in kinds.items() if k == "blank"]
        grade.hint = misfit or (f"{len(blanks)} of {len(kinds)} cells are empty"
                                if blanks else None)  # fmt: skip
        if not grade.hint:
            grade.hint = hints.hint(spec, check, env, args, got, expected, block, (r, c), values,
                                    cells, work)  # fmt: skip
    return Judged(grade, _pass_on(work, block, expected, got), label)


def _expect(
    check: Check, env: Env, shape: tuple[int, int], args: list[np.ndarray]
) -> tuple[Candidates, str | None]:
    try:
        return check.expect(env, shape, *args), None
    except (ShapeMismatch, ValueError) as exc:
        return [], f"its inputs do not fit together ({exc})"


def _pass_on(work: WorkingCopy, block: Block, expected: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Patch a block that is not right with the values it should hold (its own values where
    those cannot be computed) and return what the blocks after it are judged on."""
    values = np.where(np.isfinite(expected), expected, np.where(np.isfinite(got), got, 0.0))
    work.patch(block, values)
    return values


def _not_formula(
    spec: BlockSpec, cells: Entered, block: Block, typed: list[tuple[int, int]], values: np.ndarray
) -> BlockGrade:
    r, c = typed[0]
    i, j = r - block.row, c - block.col
    return BlockGrade(
        spec.block_name, "not_formula", f"{block.sheet}!{a1.cell(r, c)}", None,
        _finite(values[i, j]), cells.value(block.sheet, r, c), len(typed),
        f"{quantity(len(typed), 'cell')} with typed or pasted values; "
        f"{spec.block_name} must be computed by formulas", epoch=spec.epoch,
    )  # fmt: skip


def _finite(v: float) -> float | None:
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
    limit = GRADE_TOLERANCE * scale(np.nan_to_num(exp))
    if got.shape == exp.shape:
        off = ~(np.abs(got - exp) <= limit)  # NaN is off too
    else:  # an expectation of another shape: compared where the block is, as far as it goes
        off = np.array([[not abs(got[i, j] - exp[i, j]) <= limit for j in range(block.ncols)]
                        for i in range(block.nrows)])  # fmt: skip
    out = [(r, c) for i, j, r, c in block.cells() if kinds[(r, c)] == "blank" or off[i, j]]
    return out or [(block.row, block.col)]
