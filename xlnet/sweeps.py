"""Hyperparameter sweeps: a grid of hidden sizes and learning rates trained with the NumPy
reference, ranked, and written as a Sweep sheet beside the best setting's live training.

The book's exercise 4 asks which hidden size and learning rate give the lowest loss. Every
grid point is trained by the same NumPy trainer `xlnet build` uses (`Run.from_spec`), so a
run's numbers are exactly what its own workbook would show; only the best run is written as
formulas, since a workbook per grid point would be slow to write and to recalculate.

Decisions:
- Grid order is hidden outer, learning rate inner; the best run is the lowest final training
  loss, ties going to the first in grid order.
- A run that computed any non-finite number (a diverged run: NaN or inf anywhere, not only in
  its loss) ranks last: it has no meaningful loss, and its workbook could not be written.
- A logistic regressor has no hidden layer: for `logreg` the hidden list must be empty or a
  single candidate (ignored, so a CLI may pass its default), and only the learning rate varies.
- A candidate listed twice is an error, not silently dropped: it is most likely a typo, and a
  duplicate would give two identical rows and two identically named chart series.

The runs' results (ranked, as a table, JSON or a DataFrame) are in sweepresults.py, the Sweep
sheet in sweepsheet.py.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xlsxwriter

from .data import Dataset
from .errors import XlnetError
from .run import Run
from .sheetwriter import Progress
from .spec import Spec, SpecError
from .sweepresults import SweepResult, SweepRun, number_text
from .sweepsheet import SWEEP, write_sheet
from .workbook import BuildResult, build

# Each run is one chart series and one column of the loss table; Excel draws at most 255 series
# in a chart, and beyond ~100 lines neither the chart nor the table can be read.
MAX_RUNS = 100


class SweepError(XlnetError, ValueError):
    """A grid that cannot be swept or a sweep that cannot be written."""


def rank_order(losses: Sequence[float], finite: Sequence[bool] | None = None) -> list[int]:
    """Indices best first: lowest loss first, ties in grid order; a run whose loss is not
    finite (or that is marked not `finite`) after every other, in grid order."""
    ok = [math.isfinite(v) and (finite is None or finite[i]) for i, v in enumerate(losses)]
    return sorted(range(len(losses)), key=lambda i: (not ok[i], losses[i] if ok[i] else 0.0, i))


def grid(base: Spec, hidden: Sequence[tuple[int, ...] | int], lrs: Sequence[float]) -> list[Spec]:
    """The specs of the grid, hidden outer and learning rate inner, every one validated before
    any is trained."""
    lrs = list(lrs)
    if not lrs:
        raise SweepError("the sweep has no learning rates; give at least one, e.g. 0.1,0.5,1")
    if base.model == "logreg":
        if len(hidden) > 1:
            raise SweepError(
                "a logistic regressor has no hidden layer, so hidden sizes cannot be swept; "
                "sweep the learning rate only, or use the mlp model"
            )
        # The hidden size is not used: keep the base's, so the runs differ in lr only.
        sizes: list[tuple[int, ...] | int] = [base.hidden]
    else:
        sizes = list(hidden)
        if not sizes:
            raise SweepError("the sweep has no hidden sizes; give at least one, e.g. 2,5,10")
    total = len(sizes) * len(lrs)
    if total > MAX_RUNS:
        raise SweepError(
            f"the grid has {len(sizes)} hidden sizes x {len(lrs)} learning rates = {total} "
            f"runs; a sweep holds at most {MAX_RUNS}"
        )
    specs = [_point(base, h, lr) for h in sizes for lr in lrs]
    _refuse_duplicates(specs, len(lrs))
    return specs


def _point(base: Spec, hidden: tuple[int, ...] | int, lr: float) -> Spec:
    try:
        return dataclasses.replace(base, hidden=hidden, lr=lr)
    except SpecError as exc:
        raise SweepError(f"bad grid point: {exc}") from None
    except (TypeError, ValueError) as exc:  # a learning rate that is not a number
        raise SweepError(f"bad grid point (hidden {hidden!r}, lr {lr!r}): {exc}") from None


def _refuse_duplicates(specs: list[Spec], n_lrs: int) -> None:
    seen_h: set[tuple] = set()
    for s in specs[::n_lrs]:
        if s.model == "mlp" and s.hidden_sizes in seen_h:
            raise SweepError(f"hidden size {s.hidden_text} is listed twice in the sweep")
        seen_h.add(s.hidden_sizes)
    seen_lr: set[float] = set()
    for s in specs[:n_lrs]:
        if float(s.lr) in seen_lr:
            raise SweepError(f"learning rate {number_text(float(s.lr))} is listed twice")
        seen_lr.add(float(s.lr))


def run_sweep(
    base: Spec,
    dataset: Dataset,
    hidden: Sequence[tuple[int, ...] | int],
    lrs: Sequence[float],
    progress: Callable[[int, int], None] | None = None,
) -> SweepResult:
    """Train every (hidden, lr) of the grid with NumPy, from `base`'s other settings (same
    seed, so the same initial weights for equal sizes); `progress(done, total)` after each run.
    For `logreg`, `hidden` must be empty or one candidate, which is ignored."""
    specs = grid(base, hidden, lrs)
    runs: list[SweepRun] = []
    for done, spec in enumerate(specs, start=1):
        runs.append(_train(spec, dataset))
        if progress is not None:
            progress(done, len(specs))
    order = rank_order([r.final_loss for r in runs], [r.finite for r in runs])
    return SweepResult(base, tuple(runs), tuple(order), dataset)


def _train(spec: Spec, dataset: Dataset) -> SweepRun:
    # A diverging run overflows; NumPy's warnings (errors under pytest) would stop the whole
    # sweep for one bad grid point, which is ranked last instead.
    with np.errstate(all="ignore"):
        run = Run.from_spec(spec, dataset)
    losses = tuple(float(run.values[("Loss", e)][0, 0]) for e in range(1, spec.epochs + 1))
    finite = all(bool(np.isfinite(v).all()) for v in run.values.values())
    return SweepRun(spec, losses, run.final_accuracy, run.final_test_accuracy, finite)


def write_sweep(
    result: SweepResult, dataset: Dataset, out: str | Path, progress: Progress | None = None
) -> BuildResult:
    """Write the best run's training workbook (live formulas) with a Sweep sheet after About:
    the results table, every run's loss per epoch and their chart, as numbers."""
    if not _same_data(dataset, result.dataset):
        raise SweepError("the dataset differs from the one the sweep was trained on")
    if not result.best.finite:
        raise SweepError("every run of the sweep diverged (non-finite numbers); nothing to write")

    def extra(wb: xlsxwriter.Workbook, formats: dict) -> None:
        write_sheet(wb, formats, result)

    about = (
        f"{SWEEP}: the sweep's {len(result.runs)} runs (NumPy's results, as numbers): final "
        "loss and accuracy per run, every run's loss per epoch and its chart. The sheets "
        f"below train its best setting ({result.best.label}) in live formulas.",
    )
    return build(result.best_spec, dataset, out, extra=extra, about=about, progress=progress)


def _same_data(a: Dataset, b: Dataset) -> bool:
    return a is b or (
        a.features.shape == b.features.shape
        and np.array_equal(a.features, b.features)
        and np.array_equal(a.labels, b.labels)
    )
