"""`xlnet verify`: recompute every formula of a training workbook with an engine and compare it
with the NumPy reference, block by block."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from .checkreport import FD_CHECK, BlockCheck, Report
from .comparison import Cells, blocks_to_check, chaos_epoch, compare_cells
from .evaluate import EvalError, Result, evaluate, from_cached
from .layout import SHEETS
from .reference import gradient_check, train
from .run import Run
from .spec import DEFAULT_ENGINE, ENGINES
from .tolerances import FD_TOLERANCE, TOLERANCE
from .xlsxio import Book, read_book, read_cached


def reference_self_check(run: Run) -> BlockCheck:
    """The NumPy reference's gradients against central finite differences, at the file's
    initial weights: the row that says the reference itself can be trusted."""
    worst, count = gradient_check(run.program, run.inputs)
    ok = worst <= FD_TOLERANCE
    return BlockCheck(FD_CHECK, None, count, worst, worst,
                      "ok" if ok else "FAIL", 0 if ok else count,
                      problem=None if ok else f"exceeds {FD_TOLERANCE:g}")  # fmt: skip


def recompute(
    book: Book,
    path: str | Path,
    engine: str = DEFAULT_ENGINE,
    progress: Callable[[int, int], None] | None = None,
    tick: Callable[[float], None] | None = None,
) -> Result:
    """Every formula of `book` (read from `path`) recomputed by `engine`: our evaluator, or
    headless LibreOffice forced to recalculate a copy. Cached values are never used.
    `progress(done, total)` hears our evaluator's formula cells; `tick(seconds)` the time
    LibreOffice has taken so far."""
    if engine == "formulas":
        try:
            return evaluate(book, progress=progress)
        except EvalError as exc:
            raise EvalError(f"{path}: {exc}") from None
    if engine == "libreoffice":
        from .libreoffice import recalculate

        with tempfile.TemporaryDirectory(prefix="xlnet-recalc-") as tmp:
            return from_cached(book, read_cached(recalculate(path, tmp, tick=tick)))
    raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def verify(
    path: str | Path,
    engine: str = DEFAULT_ENGINE,
    tolerance: float = TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
    tick: Callable[[float], None] | None = None,
) -> Report:
    """Recompute every formula of the file with `engine` and compare it with NumPy
    (`progress` and `tick` as for `recompute`)."""
    book = read_book(path, require=SHEETS)
    run = Run.from_book(book)
    expected = train(run.program, run.inputs)
    result = recompute(book, path, engine, progress, tick)
    report = Report(str(path), engine, tolerance)
    cells, blocks = Cells(result), blocks_to_check(run)
    chaos = chaos_epoch(run, expected)  # NumPy's run from the file's inputs: trained above
    report.blocks = compare_cells(run, cells, blocks, expected, tolerance, engine, chaos)
    report.blocks.append(reference_self_check(run))
    report.formula_cells = len(result.formulas)
    report.unchecked_formulas, report.unchecked_cells = cells.outside(blocks)
    report.error_cells = result.error_cells()
    report.volatile_cells = result.volatile
    return report
