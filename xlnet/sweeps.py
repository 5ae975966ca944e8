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
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xlsxwriter

if TYPE_CHECKING:
    import pandas as pd

from .data import Dataset
from .errors import XlnetError
from .run import Run
from .sheetwriter import NUMBER_FORMAT, Progress
from .spec import Spec, SpecError
from .summarysheet import LINE_CHART, epoch_axis
from .words import quantity
from .workbook import BuildResult, build
from .xlsxsheet import FastSheet, straight_lines

SWEEP = "Sweep"  # the sheet's name; workbook.build places extra sheets right after About
# Each run is one chart series and one column of the loss table; Excel draws at most 255 series
# in a chart, and beyond ~100 lines neither the chart nor the table can be read.
MAX_RUNS = 100

# Rows and columns of the Sweep sheet (0-based). The results table sits under three lines of
# notes; the loss curves start below whichever is taller, the results or the chart beside them.
TABLE_TOP = 5
CHART_COL = 9
CHART_WIDTH = 760
CHART_HEIGHT = 420
LEGEND_ROW_PX = 20  # the legend at the bottom wraps ~3 series names a line
LEGEND_PER_ROW = 3
# With more runs a full legend squeezes the plot to a strip (LibreOffice gives it the space
# first); the legend then names the best run only, and the loss table names every column.
MAX_LEGEND = 24
ROW_PX = 20  # default row height in pixels, to keep the loss table clear of the chart
BEST_FILL = "#E2EFDA"
BEST_MARK = "<- best"
BEST_LINE = {"width": 3.0, "color": "#C00000"}


class SweepError(XlnetError, ValueError):
    """A grid that cannot be swept or a sweep that cannot be written."""


@dataclass(frozen=True)
class SweepRun:
    """One grid point: its spec and what NumPy's training of it gave."""

    spec: Spec
    losses: tuple[float, ...]  # the training loss of each epoch
    train_accuracy: float
    test_accuracy: float | None
    finite: bool  # every number the run computed is finite (it did not diverge)

    @property
    def hidden(self) -> tuple[int, ...]:
        """The hidden sizes trained (none for the logistic regressor)."""
        return self.spec.hidden_sizes

    @property
    def lr(self) -> float:
        return float(self.spec.lr)

    @property
    def final_loss(self) -> float:
        return self.losses[-1]

    @property
    def hidden_text(self) -> str:
        """The hidden sizes as the Settings sheet and `xlnet build --hidden` write them, "5" or
        "8,4"; "-" for the logistic regressor."""
        return ",".join(str(h) for h in self.hidden) or "-"

    @property
    def label(self) -> str:
        """The run's name as a column header and chart series: "h=5 lr=0.5"."""
        lr = f"lr={number_text(self.lr)}"
        return f"h={self.hidden_text} {lr}" if self.hidden else lr


@dataclass(frozen=True)
class SweepResult:
    """A trained grid: its runs in grid order and their ranking."""

    base: Spec
    runs: tuple[SweepRun, ...]  # in grid order
    order: tuple[int, ...]  # indices of runs, best first
    dataset: Dataset = field(repr=False, compare=False)  # what the runs were trained on

    @property
    def best_index(self) -> int:
        return self.order[0]

    @property
    def best(self) -> SweepRun:
        return self.runs[self.best_index]

    @property
    def best_spec(self) -> Spec:
        return self.best.spec

    @property
    def has_test(self) -> bool:
        return any(r.test_accuracy is not None for r in self.runs)

    def rank(self, index: int) -> int:
        """1 for the best run, len(runs) for the worst."""
        return self.order.index(index) + 1

    def best_line(self) -> str:
        b = self.best
        if not b.finite:
            return "No run of the grid trained to a finite loss: every one diverged."
        where = f"hidden {b.hidden_text}, " if b.hidden else ""
        return (
            f"Best: {where}learning rate {number_text(b.lr)}, final training loss "
            f"{b.final_loss:.6f} after {quantity(self.base.epochs, 'epoch')}."
        )

    def table(self) -> str:
        """The runs in grid order as a fixed-width text table, the best marked, then a line
        naming the best setting."""
        # A logistic regressor's runs differ in the learning rate only: no hidden column.
        hidden = self.base.model != "logreg"
        head = [*(["hidden"] if hidden else []), "lr", "final loss", "train acc"]
        if self.has_test:
            head.append("test acc")
        head.append("rank")
        rows = []
        for i, r in enumerate(self.runs):
            row = [*([r.hidden_text] if hidden else []), number_text(r.lr), _loss_text(r),
                   f"{r.train_accuracy:.4f}" if r.finite else "-"]  # fmt: skip
            if self.has_test:
                shown = r.test_accuracy is not None and r.finite
                row.append(f"{r.test_accuracy:.4f}" if shown else "-")
            row.append(str(self.rank(i)))
            rows.append(row)
        widths = [max(len(h), *(len(row[c]) for row in rows)) for c, h in enumerate(head)]
        left = {0} if hidden else set()  # text left, numbers right

        def line(cells: list[str], mark: str = "") -> str:
            out = "  ".join(
                c.ljust(w) if k in left else c.rjust(w)
                for k, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            return (out + ("  " + mark if mark else "")).rstrip()

        lines = [line(head), line(["-" * w for w in widths])]
        for i, row in enumerate(rows):
            lines.append(line(row, BEST_MARK if i == self.best_index else ""))
        lines += ["", self.best_line()]
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        """The results table: one row per run, in grid order: hidden (a tuple of sizes; None
        for logreg), lr, final_loss, train_accuracy, test_accuracy, finite, rank, best."""
        import pandas as pd

        rows = []
        for i, r in enumerate(self.runs):
            doc = self._run_json(i)
            del doc["losses"]
            doc["hidden"] = r.hidden if r.hidden else None
            rows.append(doc)
        return pd.DataFrame(rows)

    def to_json(self) -> dict:
        """The sweep as JSON-ready data: non-finite numbers are null, hidden is "5" or "8,4"
        (null for logreg)."""
        runs = [self._run_json(i) for i in range(len(self.runs))]
        return {
            "model": self.base.model,
            "output": self.base.output,
            "epochs": self.base.epochs,
            "seed": self.base.seed,
            "runs": runs,
            "best": runs[self.best_index],
        }

    def _run_json(self, i: int) -> dict:
        r = self.runs[i]
        return {
            "hidden": r.hidden_text if r.hidden else None,
            "lr": r.lr,
            "final_loss": _finite_or_none(r.final_loss),
            "train_accuracy": _finite_or_none(r.train_accuracy) if r.finite else None,
            "test_accuracy": _finite_or_none(r.test_accuracy) if r.finite else None,
            "finite": r.finite,
            "rank": self.rank(i),
            "best": i == self.best_index,
            "losses": [_finite_or_none(v) for v in r.losses],
        }


def number_text(x: float) -> str:
    """A learning rate as typed: 0.5, 1, 1e-05; never rounded into a different number, so
    two distinct rates never print alike."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def _loss_text(run: SweepRun) -> str:
    return f"{run.final_loss:.6f}" if run.finite else "diverged"


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


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
        _write_sheet(wb, formats, result)

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


# A results column: header, shown with decimals, the value of run i (text: written as text).
_Column = tuple[str, bool, Callable[[int, "SweepRun"], float | str]]


def _write_sheet(wb: xlsxwriter.Workbook, formats: dict, result: SweepResult) -> None:
    # Numbers only: `xlnet verify` counts a formula outside the training blocks as unchecked
    # and fails the file.
    ws = wb.add_worksheet(SWEEP, FastSheet)
    bold, title, num = formats["bold"], formats["title"], formats["num"]
    best_head = wb.add_format({"bold": True, "bg_color": BEST_FILL})
    # Text in the table ("8,4", "best", "diverged") is right-aligned like the numbers around it.
    right = wb.add_format({"align": "right"})
    best_text = wb.add_format({"bold": True, "bg_color": BEST_FILL, "align": "right"})
    best_num = wb.add_format({"bold": True, "bg_color": BEST_FILL, "num_format": NUMBER_FORMAT})
    base, runs, best = result.base, result.runs, result.best
    model = "logistic regressor" if base.model == "logreg" else f"{base.activation} net"
    ws.write(0, 0, "Hyperparameter sweep: which setting gives the lowest training loss?", title)
    ws.write(
        1, 0,
        f"{quantity(len(runs), 'run')} of a {model} ({base.output}, {base.optimizer}, "
        f"{quantity(base.epochs, 'epoch')}, seed {base.seed}), each trained by xlnet's NumPy "
        "reference. This sheet holds their results as numbers, not formulas.",
    )  # fmt: skip
    ws.write(
        2, 0,
        "The best setting's training follows as live formulas: Summary, Settings "
        "(learning_rate) and Train are that run; change the learning rate there and it "
        "recomputes.",
    )  # fmt: skip
    ws.write(3, 0, result.best_line(), bold)

    columns = _columns(result)
    for c, (text, _, _) in enumerate(columns):
        ws.write(TABLE_TOP, c, text, bold)
    for i, r in enumerate(runs):
        row = TABLE_TOP + 1 + i
        is_best = i == result.best_index
        for c, (_, decimals, value) in enumerate(columns):
            fmt = (best_num if decimals else best_text) if is_best else (num if decimals else right)
            v = value(i, r)
            if not isinstance(v, str) and not math.isfinite(v):
                v = "-"  # XlsxWriter refuses NaN and inf
            if isinstance(v, str):
                ws.write(row, c, v, fmt)  # "" is a blank cell, shaded on the best row
            else:
                ws.write_number(row, c, v, fmt)

    full_legend = len(runs) <= MAX_LEGEND
    legend_rows = math.ceil(len(runs) / LEGEND_PER_ROW) if full_legend else 1
    chart_height = CHART_HEIGHT + LEGEND_ROW_PX * legend_rows
    table_bottom = TABLE_TOP + 1 + len(runs)
    curves_top = max(table_bottom, TABLE_TOP + math.ceil(chart_height / ROW_PX)) + 2
    ws.write(curves_top, 0, "Training loss per epoch (NumPy), one column per run", bold)
    header = curves_top + 1
    ws.write(header, 0, "Epoch", bold)
    first = header + 1
    epochs = base.epochs
    for e in range(epochs):
        ws.write_number(first + e, 0, e + 1)
    for i, r in enumerate(runs):
        col = 1 + i
        ws.write(header, col, r.label, best_head if i == result.best_index else bold)
        for e, v in enumerate(r.losses):
            # A diverged epoch is left blank: a gap in its chart line, not a spike.
            if math.isfinite(v):
                ws.write_number(first + e, col, v, num)

    chart = wb.add_chart(LINE_CHART)
    straight_lines(chart)
    last = first + epochs - 1
    for i in range(len(runs)):
        col = 1 + i
        # The best run stands out by a thick line of a colour of its own, however many runs.
        line = BEST_LINE if i == result.best_index else {"width": 1.25}
        chart.add_series({
            "name": [SWEEP, header, col],
            "categories": [SWEEP, first, 0, last, 0],
            "values": [SWEEP, first, col, last, col],
            "line": line,
            "smooth": False,
        })  # fmt: skip
    chart.set_title({"name": f"Training loss per epoch, {len(runs)} runs (best: {best.label})"})
    chart.set_x_axis(epoch_axis(epochs))
    chart.set_y_axis({"name": "Loss (mean over samples)", "min": 0})
    legend: dict = {"position": "bottom"}
    if not full_legend:
        legend["delete_series"] = [i for i in range(len(runs)) if i != result.best_index]
    chart.set_legend(legend)
    chart.set_size({"width": CHART_WIDTH, "height": chart_height})
    ws.insert_chart(TABLE_TOP, CHART_COL, chart)
    ws.freeze_panes(0, 1)  # run and epoch numbers stay in view across a wide grid


def _columns(result: SweepResult) -> list[_Column]:
    """The results table's columns: header, shown with decimals, value of run i."""
    cols: list[_Column] = [("Run", False, lambda i, r: i + 1)]
    if result.base.model != "logreg":
        # Text in every row ("5", "8,4"): one column, one type, whatever the depth.
        cols.append(("Hidden", False, lambda i, r: r.hidden_text))
    cols += [
        ("Learning rate", False, lambda i, r: r.lr),
        ("Final loss", True, lambda i, r: r.final_loss if r.finite else "diverged"),
        # A diverged run's accuracies count predictions made from NaN: meaningless.
        ("Train accuracy", True, lambda i, r: r.train_accuracy if r.finite else "-"),
    ]
    if result.has_test:
        cols.append(
            (
                "Test accuracy",
                True,
                lambda i, r: "-" if r.test_accuracy is None or not r.finite else r.test_accuracy,
            )
        )
    cols += [
        ("Rank", False, lambda i, r: result.rank(i)),
        ("Best", False, lambda i, r: "best" if i == result.best_index else ""),
    ]
    return cols
