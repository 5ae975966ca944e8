"""What `xlnet verify` found, block by block: a BlockCheck per (block, epoch), and the Report
that says it as a verdict, a summary, a table, JSON or a DataFrame."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from .tolerances import FD_TOLERANCE, LOCAL_TOLERANCE
from .words import quantity

FD_CHECK = "FD gradient check"  # the report row of the reference's own gradient check


@dataclass
class BlockCheck:
    block: str
    epoch: int | None
    cells: int
    max_abs_error: float
    max_rel_error: float
    status: str  # "ok", "drift" (off the NumPy trajectory, each step right) or "FAIL"
    wrong_cells: int = 0
    cell: str | None = None
    formula: str | None = None
    expected: float | None = None
    got: object = None
    problem: str | None = None
    local_rel_error: float | None = None  # against NumPy on the engine's own upstream values
    structural: int = 0  # cells empty, not formulas or not numbers: never mere drift


_FRAME_COLUMNS = ("block", "epoch", "status", "max_error", "max_abs_error", "cells",
                  "wrong_cells", "local_error", "cell", "formula", "expected", "got",
                  "problem")  # fmt: skip


@dataclass
class Report:
    file: str
    engine: str
    tolerance: float
    blocks: list[BlockCheck] = field(default_factory=list)
    error_cells: list[str] = field(default_factory=list)
    formula_cells: int = 0
    unchecked_formulas: int = 0
    unchecked_cells: list[str] = field(default_factory=list)  # the first few
    volatile_cells: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # A formula outside every block is not checked against anything: a workbook whose
        # Settings claim fewer epochs than its Train sheet holds must not pass.
        return (
            not self.error_cells
            and not self.unchecked_formulas
            and not self.volatile_cells
            and all(b.status in ("ok", "drift") for b in self.blocks)
        )

    @property
    def failures(self) -> list[BlockCheck]:
        return [b for b in self.blocks if b.status == "FAIL"]

    @property
    def drifting(self) -> list[BlockCheck]:
        return [b for b in self.blocks if b.status == "drift"]

    def to_frame(self) -> pd.DataFrame:
        """One row per (block, epoch) checked: block, epoch (None before and after training),
        status ("ok", "drift", "FAIL"), max_error (relative to the block), max_abs_error,
        cells, wrong_cells, and where a failure's first wrong cell is."""
        import pandas as pd

        rows = [
            {"block": b.block, "epoch": b.epoch, "status": b.status,
             "max_error": b.max_rel_error, "max_abs_error": b.max_abs_error, "cells": b.cells,
             "wrong_cells": b.wrong_cells, "local_error": b.local_rel_error, "cell": b.cell,
             "formula": b.formula, "expected": b.expected, "got": b.got, "problem": b.problem}
            for b in self.blocks
        ]  # fmt: skip
        frame = pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))
        frame["epoch"] = frame["epoch"].astype("Int64")  # None before and after training
        return frame

    def to_json(self) -> dict:
        return {
            "file": self.file,
            "engine": self.engine,
            "tolerance": self.tolerance,
            "ok": self.ok,
            "formula_cells": self.formula_cells,
            "unchecked_formulas": self.unchecked_formulas,
            "unchecked_cells": self.unchecked_cells,
            "volatile_cells": self.volatile_cells,
            "error_cells": self.error_cells,
            "blocks": [_jsonable(asdict(b)) for b in self.blocks],
            "failures": [_jsonable(asdict(b)) for b in self.failures],
            "drift_blocks": len(self.drifting),
        }

    def verdict(self) -> str:
        """The one line that says whether the file passed, and of how much."""
        word = "OK" if self.ok else "FAILED"
        return (
            f"{word}: {quantity(self.formula_cells, 'formula cell')} recomputed with "
            f"{self.engine}; "
            f"{len(self.blocks) - len(self.failures)}/{len(self.blocks)} checks passed "
            f"(formula blocks within {self.tolerance:g}, reference gradients within "
            f"{FD_TOLERANCE:g} of finite differences); {len(self.error_cells)} error cells"
        )

    def summary(self) -> str:
        """The verdict first, then what was checked, the worst error and the drift in a few
        lines, then every problem in full: what a person reads; `rows()` has every block."""
        formula = [b for b in self.blocks if b.block != FD_CHECK]
        epochs = sorted({b.epoch for b in formula if b.epoch is not None})
        first_epoch = next((i for i, b in enumerate(formula) if b.epoch is not None), None)
        before = len(formula) if first_epoch is None else first_epoch
        after = len(formula) - before - sum(1 for b in formula if b.epoch is not None)
        per_epoch = (len(formula) - before - after) // len(epochs) if epochs else 0
        span = f", {per_epoch} in each of {quantity(len(epochs), 'epoch')}" if epochs else ""
        lines = [
            self.verdict(),
            f"  checked    {quantity(len(formula), 'block')}: {before} before training{span}, "
            f"{after} after",
        ]
        if formula:
            worst = max(formula, key=lambda b: (b.max_rel_error, b.max_abs_error))
            lines.append(
                f"  worst      {worst.max_rel_error:.3g} relative to its block, in block "
                f"{_where(worst)}; largest absolute "
                f"{max(b.max_abs_error for b in formula):.3g}"
            )
        drift = self.drifting
        if drift:
            since = [b.epoch for b in drift if b.epoch is not None]
            lines.append(
                f"  drift      {quantity(len(drift), 'block')}"
                + (f" from epoch {min(since)}" if since else "")
                + f", up to {max(b.max_rel_error for b in drift):.3g} (see DRIFT below)"
            )
        else:
            lines.append("  drift      none: every block on NumPy's trajectory")
        lines += [f"  {line}" for line in self._gradient_lines()]
        lines += self._problems()
        return "\n".join(lines)

    def _gradient_lines(self) -> list[str]:
        fd = [b for b in self.blocks if b.block == FD_CHECK]
        return [
            f"gradients  NumPy's {b.cells} gradients "
            f"{'within' if b.status == 'ok' else 'NOT within'} {FD_TOLERANCE:g} of finite "
            f"differences (worst {b.max_abs_error:.3g})"
            for b in fd
        ]

    def rows(self) -> str:
        """Every block of every epoch, one row each: `xlnet verify --details`."""
        head = (
            f"{'block':<18} {'epoch':>5} {'cells':>6} {'max abs err':>12} "
            f"{'max rel err':>12} {'local rel err':>13}  status"
        )
        lines = [head, "-" * len(head)]
        for b in self.blocks:
            ep = "-" if b.epoch is None else str(b.epoch)
            local = "-" if b.local_rel_error is None else f"{b.local_rel_error:.3e}"
            lines.append(
                f"{b.block:<18} {ep:>5} {b.cells:>6} {b.max_abs_error:>12.3e} "
                f"{b.max_rel_error:>12.3e} {local:>13}  {b.status}"
            )
        return "\n".join(lines)

    def table(self) -> str:
        """Every block's row, every problem, and the verdict last (as the library's callers
        and test messages have always had it)."""
        return "\n".join([self.rows(), *self._problems(), self.verdict()])

    def _problems(self) -> list[str]:
        """Every failure in full, error cells, volatile and unchecked formulas, drift."""
        lines = []
        for b in self.failures:
            lines.append(
                f"FAIL {b.block} epoch {b.epoch if b.epoch is not None else '-'}: "
                f"{b.wrong_cells} of {quantity(b.cells, 'cell')} wrong; first {b.cell} {b.formula} "
                f"expected {b.expected!r} got {b.got!r}" + (f" ({b.problem})" if b.problem else "")
            )
        for e in self.error_cells[:20]:
            lines.append(f"ERROR CELL {e}")
        if len(self.error_cells) > 20:
            lines.append(f"ERROR CELL ... and {len(self.error_cells) - 20} more")
        if self.volatile_cells:
            lines.append(
                f"VOLATILE: {len(self.volatile_cells)} formulas use RAND(), NOW(), OFFSET() or "
                f"the like, whose values change at every recalculation (first: "
                f"{', '.join(self.volatile_cells[:5])})"
            )
        if self.unchecked_formulas:
            lines.append(
                f"UNCHECKED: {quantity(self.unchecked_formulas, 'formula cell')} outside every "
                f"block (first: {', '.join(self.unchecked_cells[:5])})"
            )
        drift = self.drifting
        if drift and self.failures:
            lines.append(
                f"DRIFT: {quantity(len(drift), 'block')} after the first failure differ from the "
                "NumPy trajectory only because of it: each matches NumPy applied to the values it "
                f"reads within {LOCAL_TOLERANCE:g}"
            )
        elif drift:
            epochs = [b.epoch for b in drift if b.epoch is not None]
            since = f"from epoch {min(epochs)}, " if epochs else ""
            worst = max(b.max_rel_error for b in drift)
            lines.append(
                f"DRIFT: {quantity(len(drift), 'block')} part from the NumPy trajectory ({since}"
                f"max rel err {worst:.3g}), yet each matches NumPy applied to the "
                f"values it reads within {LOCAL_TOLERANCE:g}: every formula is right, and the "
                "run amplifies last-digit differences (a chaotic learning rate)"
            )
        return lines


def _where(b: BlockCheck) -> str:
    return b.block if b.epoch is None else f"{b.block}, epoch {b.epoch}"


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        non_finite = isinstance(v, float) and not math.isfinite(v)
        if non_finite or (v is not None and not isinstance(v, str | int | float | bool)):
            v = str(v)
        out[k] = v
    return out
