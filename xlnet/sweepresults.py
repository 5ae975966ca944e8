"""A sweep's results: each run's losses and accuracies, the ranking, and the results as a
text table, JSON-ready data and a DataFrame."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from .workbook import BuildResult

from .data import Dataset
from .spec import Spec
from .words import quantity

BEST_MARK = "<- best"


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
    # The workbook written (xlnet.sweep with path=): the Sweep sheet, then the best run.
    workbook: BuildResult | None = field(default=None, repr=False, compare=False)

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
