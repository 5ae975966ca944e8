"""What a grade says: a verdict per block, per sheet and per file, when a block is correct,
and how a grade reads as text and as JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from . import a1
from .tolerances import GRADE_TOLERANCE, within
from .words import quantity

VERDICTS = ("correct", "wrong", "missing", "not_formula", "error")


def close(got: np.ndarray, exp: np.ndarray) -> bool:
    """Whether `got` passes for `exp` (both finite, same shape, within GRADE_TOLERANCE)."""
    if got.shape != exp.shape or not np.isfinite(exp).all() or not np.isfinite(got).all():
        return False
    return bool(within(got, exp, GRADE_TOLERANCE).all())


@dataclass
class BlockGrade:
    block: str
    verdict: str
    cell: str | None = None
    formula: str | None = None
    expected: float | None = None
    got: object = None
    wrong_cells: int = 0
    hint: str | None = None
    seen: str | None = None  # the accepted convention the block was found to follow
    form: str | None = None  # the template's form it was judged in, where it has several
    epoch: int | None = None
    points: float = 1.0  # its weight in the score (template `points =`, or --points)
    # The template's formula for its first wrong cell (or its first cell): only when the
    # instructor asks (`--reveal`), in the form the student chose.
    expected_formula: str | None = None

    @property
    def at(self) -> tuple[int, int] | None:
        """Its first wrong cell as (row, col), 0-based; None when it names none."""
        if not self.cell:
            return None
        return a1.parse_cell(self.cell.rpartition("!")[2].replace("$", ""))

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("expected", "got"):
            v = d[k]
            if (isinstance(v, float) and not math.isfinite(v)) or (
                v is not None and not isinstance(v, str | int | float | bool)
            ):
                d[k] = str(v)
        for k in ("epoch", "expected_formula", "form"):
            if d[k] is None:
                del d[k]
        return d


@dataclass
class SheetGrade:
    sheet: str
    blocks: list[BlockGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the sheet: missing, lr not a number


@dataclass
class FileGrade:
    file: str
    sheets: list[SheetGrade] = field(default_factory=list)
    error: str | None = None  # the file could not be graded at all
    student: str | None = None

    @property
    def graded(self) -> list[BlockGrade]:
        return [b for s in self.sheets for b in s.blocks]

    @property
    def points_possible(self) -> float:
        return 0.0 if self.error else sum(b.points for b in self.graded)

    @property
    def points_earned(self) -> float:
        return 0.0 if self.error else sum(b.points for b in self.graded if b.verdict == "correct")

    @property
    def score(self) -> float:
        """Percentage of the points of the blocks graded correct (a point per block unless
        weighted); 0 for a file that could not be graded."""
        if not self.points_possible:
            return 0.0
        return round(100.0 * self.points_earned / self.points_possible, 1)

    def to_json(self) -> dict:
        out: dict = {"file": self.file, "score": self.score,
                     "points_earned": self.points_earned,
                     "points_possible": self.points_possible}  # fmt: skip
        if self.student is not None:
            out["student"] = self.student
        if self.error:
            out["error"] = self.error
        out["sheets"] = [
            {"sheet": s.sheet, **({"notes": s.notes} if s.notes else {}),
             "blocks": [b.to_json() for b in s.blocks]}
            for s in self.sheets
        ]  # fmt: skip
        return out

    def text(self) -> str:
        lines = [f"{self.file}" + (f" ({self.student})" if self.student else "")]
        if self.error:
            lines.append(f"  ERROR: {self.error}")
        for s in self.sheets:
            lines.append(f"  {s.sheet}")
            lines += [f"    NOTE: {n}" for n in s.notes]
            for b in s.blocks:
                name = b.block + (f" (epoch {b.epoch})" if b.epoch is not None else "")
                line = f"    {name:<22} {b.verdict}"
                if b.verdict == "correct":
                    line += f"  [{b.seen}]" if b.seen else ""
                    line += f"\n{'':<32}note: {b.hint}" if b.hint else ""
                else:
                    line += _detail(b)
                if b.expected_formula:
                    line += f"\n{'':<32}{expected_formula(b)}"
                lines.append(line)
        n = len(self.graded)
        ok = sum(b.verdict == "correct" for b in self.graded)
        weighted = any(b.points != 1.0 for b in self.graded)
        pts = f", {self.points_earned:g} of {self.points_possible:g} points" if weighted else ""
        lines.append(f"  score {self.score:g}% ({ok} of {n} blocks correct{pts})")
        return "\n".join(lines)


def expected_formula(b: BlockGrade) -> str:
    """The revealed formula as the report and the notes say it, with the cell it is for (an
    exercise's formulas do not all fill from one cell to the next)."""
    where = f" in {b.cell.rpartition('!')[2]}" if b.cell else ""
    return f"expected formula{where}: {b.expected_formula}"


def _detail(b: BlockGrade) -> str:
    parts = []
    if b.cell:
        parts.append(f"at {b.cell}")
    if b.formula:
        parts.append(b.formula)
    if b.verdict in ("wrong", "not_formula", "error") and b.expected is not None:
        parts.append(f"expected {_fmt(b.expected)} got {_fmt(b.got)}")
    if b.wrong_cells:
        parts.append(quantity(b.wrong_cells, "cell"))
    out = ("  " + ", ".join(parts)) if parts else ""
    return out + (f"\n{'':<32}hint: {b.hint}" if b.hint else "")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "(empty)" if v is None else str(v)
