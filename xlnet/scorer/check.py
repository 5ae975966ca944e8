"""Checks a scorer workbook: its input area filled with samples, recomputed, against NumPy."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import a1
from ..evaluate import EMPTY, EvalError, Result
from ..spec import DEFAULT_ENGINE, ENGINES
from ..tolerances import SCORER_TOLERANCE, scale
from ..verification import recompute
from ..words import quantity
from ..xlsxedit import edited_copy
from ..xlsxio import read_book
from .forward import PREDICTION, forward_values
from .layout import CLASS_ROW, MODEL, NAMES, SCORE, ScorerLayout
from .model import Scorer, ScorerError
from .reader import open_scorer

# XlsxWriter stores numbers with 16 significant digits (%.16G): a weight read back from the Model
# sheet is the exported one within half a unit in the 16th digit.
STORED = 1e-15


@dataclass
class Mismatch:
    block: str
    sample: int | None  # 1-based input row; None for a Model sheet number
    cell: str
    formula: str | None
    expected: object
    got: object
    problem: str

    def line(self) -> str:
        where = self.block if self.sample is None else f"{self.block}, input row {self.sample}"
        formula = "" if self.formula is None else f"; formula {self.formula}"
        return (f"{self.cell} ({where}) {self.problem}: expected {self.expected!r}, got "
                f"{self.got!r}{formula}")  # fmt: skip


@dataclass
class ScorerCheck:
    """A scorer workbook recomputed on given samples, against NumPy: a report."""

    file: str
    engine: str
    samples: int  # input rows filled with complete samples
    blank_rows: int  # rows left blank or incomplete: every formula must show ""
    formula_cells: int = 0
    checked_cells: int = 0
    max_rel_error: float = 0.0
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)  # the first of each block
    counts: dict[str, int] = field(default_factory=dict)  # cells wrong, per block
    error_cells: list[str] = field(default_factory=list)
    probabilities: np.ndarray | None = None  # the engine's, complete rows only (NaN: not a number)
    predicted: list[object] = field(default_factory=list)  # what the engine shows, complete rows

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0 and not self.error_cells

    def describe(self) -> str:
        """The first wrong cell of each block that has any, then a verdict line."""
        lines = [f"{m.block}: {quantity(self.counts[m.block], 'cell')} wrong; first {m.line()}"
                 for m in self.mismatches]  # fmt: skip
        if self.error_cells:
            lines.append(f"{len(self.error_cells)} error cells, first {self.error_cells[0]}")
        head = f"{self.samples} samples scored and {self.blank_rows} blank rows, " + (
            f"{self.formula_cells} formula cells recomputed with {self.engine}"
        )
        if self.ok:
            lines.append(
                f"OK: {head}; every block within {SCORER_TOLERANCE:g} of NumPy (max rel err "
                f"{self.max_rel_error:.3g}), predicted classes exact, blank rows blank, no "
                "error cells"
            )
        else:
            wrong = (f"{quantity(self.mismatch_count, 'cell')} wrong in "
                     f"{quantity(len(self.counts), 'block')}")  # fmt: skip
            lines.append(f"FAILED: {head}; {wrong}, {len(self.error_cells)} error cells")
        return "\n".join(lines)


def fill_inputs(src: str | Path, dst: str | Path, raw: np.ndarray) -> None:
    """Copy scorer `src` to `dst` with its input area holding `raw` (N x F, N <= rows; a NaN
    leaves its cell blank) and every other input row blank."""
    _fill(src, dst, raw, open_scorer(src)[1])


def _fill(src: str | Path, dst: str | Path, raw: np.ndarray, lay: ScorerLayout) -> None:
    raw = np.asarray(raw, dtype=float)
    if raw.ndim != 2 or raw.shape[1] != lay.f or raw.shape[0] > lay.rows:
        raise ScorerError(f"{src}: its input area holds up to {lay.rows} samples of {lay.f} "
                          f"features; got shape {raw.shape}")  # fmt: skip
    cells: dict[tuple[int, int], object] = {}
    for i, j, r, c in lay.blocks["Raw"].cells():
        v = raw[i, j] if i < raw.shape[0] else math.nan
        cells[(r, c)] = float(v) if math.isfinite(v) else None
    with edited_copy(src, dst) as book:
        book.enter(SCORE, cells)


def check_scorer(
    path: str | Path,
    raw: np.ndarray,
    scorer: Scorer | None = None,
    engine: str = DEFAULT_ENGINE,
) -> ScorerCheck:
    """Fill a copy of scorer `path` with `raw`, recompute it with `engine` and compare every
    block with NumPy's forward pass of `scorer` (default: the model the file's Model sheet
    holds, which checks the formulas only; pass the exported Scorer to check the weights too).
    Rows with a NaN, and rows beyond `raw`, must show "" in every formula cell."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    path = Path(path)
    own, lay = open_scorer(path)
    model = own if scorer is None else scorer
    if (model.spec.model, model.spec.output, model.spec.hidden_sizes, model.f, model.k) != (
        own.spec.model, own.spec.output, own.spec.hidden_sizes, own.f, own.k
    ):  # fmt: skip
        raise ScorerError(f"{path}: holds a {own.architecture} model, not "
                          f"{model.architecture}")  # fmt: skip
    raw = np.asarray(raw, dtype=float)
    with tempfile.TemporaryDirectory(prefix="xlnet-scorer-") as tmp:
        filled = Path(tmp) / path.name
        _fill(path, filled, raw, lay)
        try:
            result = recompute(read_book(filled), filled, engine)
        except EvalError as exc:
            raise ScorerError(f"{path}: {str(exc).removeprefix(f'{filled}: ')}") from None
    complete = np.array([i < raw.shape[0] and bool(np.isfinite(raw[i]).all())
                         for i in range(lay.rows)])  # fmt: skip
    rows_in = np.flatnonzero(complete)
    expected = forward_values(model, raw[rows_in]) if rows_in.size else {}
    report = ScorerCheck(str(path), engine, int(rows_in.size), int(lay.rows - rows_in.size))
    report.formula_cells = len(result.formulas)
    report.error_cells = result.error_cells()
    _compare_model(report, own, model, lay)
    position = {int(i): n for n, i in enumerate(rows_in)}
    for step in lay.steps:
        _compare_block(report, result, model, lay, step.out, expected, position)
    out = lay.blocks[lay.output]
    grid = np.full((rows_in.size, out.ncols), np.nan)
    for n, i in enumerate(rows_in):
        for j in range(out.ncols):
            v = result.value(SCORE, out.row + int(i), out.col + j)
            if _number(v):
                grid[n, j] = float(v)
    report.probabilities = grid
    pred = lay.blocks[PREDICTION]
    report.predicted = [result.value(SCORE, pred.row + int(i), pred.col) for i in rows_in]
    return report


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _blank(v) -> bool:
    return v is None or v is EMPTY or v == ""


def _record(report: ScorerCheck, m: Mismatch) -> None:
    report.mismatch_count += 1
    if m.block not in report.counts:
        report.mismatches.append(m)
    report.counts[m.block] = report.counts.get(m.block, 0) + 1


def _compare_model(report: ScorerCheck, own: Scorer, model: Scorer, lay: ScorerLayout) -> None:
    """The Model sheet's numbers against the scorer they should hold."""
    if own is model:
        return
    pairs = [("Mean", own.mean, model.mean), ("Std", own.std, model.std)]
    pairs += [(p, own.weights[p], model.weights[p]) for p in lay.params]
    pairs.append(("Classes", np.array([own.classes]), np.array([model.classes])))
    for name, got, exp in pairs:
        block = lay.blocks[name]
        for i, j, r, c in block.cells():
            if abs(got[i, j] - exp[i, j]) > STORED * abs(exp[i, j]):
                _record(report, Mismatch(name, None, f"{MODEL}!{a1.cell(r, c)}", None,
                                         float(exp[i, j]), float(got[i, j]),
                                         "holds another number than the model's"))  # fmt: skip
    if own.class_names != model.class_names:
        _record(report, Mismatch(NAMES, None, f"{MODEL}!{a1.cell(CLASS_ROW + 1, 1)}", None,
                                 model.class_names, own.class_names,
                                 "holds other class names"))  # fmt: skip


def _compare_block(report, result: Result, model: Scorer, lay: ScorerLayout, name: str,
                   expected: dict[str, np.ndarray], position: dict[int, int]) -> None:  # fmt: skip
    block = lay.blocks[name]
    s = result.index(SCORE)
    # Norm-wise, as verify judges a block (tolerances.py): against the block's largest value.
    block_scale = scale(expected[name]) if name != PREDICTION else 1.0
    for i, j, r, c in block.cells():
        got = result.value(SCORE, r, c)
        formula = result.formulas.get((s, r, c))
        cell = f"{SCORE}!{a1.cell(r, c)}"
        n = position.get(i)
        problem, exp = None, None
        if formula is None:
            problem = "is not a formula"
        elif n is None:
            exp = ""
            if not _blank(got):
                problem = "should be blank: its row is not a complete sample"
        elif name == PREDICTION:
            exp = model.shown(expected[name][n, 0])
            if isinstance(exp, str):
                same = isinstance(got, str) and got == exp
            else:
                same = _number(got) and float(got) == exp
            if not same:
                problem = "is not NumPy's predicted class"
        else:
            exp = float(expected[name][n, j])
            if not _number(got):
                problem = "is not a number"
            else:
                rel = abs(float(got) - exp) / block_scale
                if not math.isfinite(rel) or rel > SCORER_TOLERANCE:
                    problem = "differs from NumPy"
                elif rel > report.max_rel_error:
                    report.max_rel_error = rel
        report.checked_cells += 1
        if problem:
            _record(report, Mismatch(name, i + 1, cell, formula, exp, got, problem))
