"""Compares a recalculated workbook with the NumPy reference: a report, block by block."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import a1
from .evaluate import EMPTY, EvalError, Result, evaluate, from_cached, is_error
from .layout import (
    DATA,
    DATA_TOP,
    INIT,
    LABEL_COL,
    LR_NAME,
    N_NAME,
    SETTINGS,
    SHEETS,
    Block,
    Layout,
    setting_block,
)
from .ops import Env
from .program import DATA_TENSORS, INPUTS, SUMMARY_TENSORS, Program, build_program
from .reference import FD_TOLERANCE, Inputs, Key, gradient_check, train
from .spec import Spec, SpecError
from .xlsxio import Book, BookError, read_book, read_cached

# Norm-wise relative error of a block: |got - expected| <= TOLERANCE * max(max|block|, 1) for
# every cell. Relative to the block's largest value because cancellation (dZ = A - Y, sums of
# +-terms) leaves rounding noise proportional to the operands, not to the small result; with a
# floor of 1, so blocks of small numbers are held to 1e-9 absolute.
TOLERANCE = 1e-9
# The local check: each block against NumPy applied to the values the engine computed for the
# blocks it reads (one step's rounding, ~1e-15). It is what proves each formula right where the
# run is chaotic (a two-layer net at lr 50): there the engine's and NumPy's last-digit
# differences grow every epoch until the trajectories part, though every step is right.
LOCAL_TOLERANCE = 1e-9
# The values a local check reads are rounded: in the last places of the engine's arithmetic,
# and to 15 significant digits in the files LibreOffice saves. Where a step is ill-conditioned
# (LN(1 - A) as a sigmoid saturates) that rounding is amplified, so the local check forgives,
# per cell, SLACK times the change that inputs shaken by the engine's PERTURB cause in NumPy's
# own result; elsewhere that slack is ~1e-15 of the value or less.
PERTURB = {"formulas": 4 * 2.0**-52, "libreoffice": 1e-14}
SLACK = 10.0
ENGINES = ("formulas", "libreoffice")
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

    def table(self) -> str:
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
        for b in self.failures:
            lines.append(
                f"FAIL {b.block} epoch {b.epoch if b.epoch is not None else '-'}: "
                f"{b.wrong_cells} of {b.cells} cells wrong; first {b.cell} {b.formula} "
                f"expected {b.expected!r} got {b.got!r}" + (f" ({b.problem})" if b.problem else "")
            )
        for e in self.error_cells[:20]:
            lines.append(f"ERROR CELL {e}")
        if self.volatile_cells:
            lines.append(
                f"VOLATILE: {len(self.volatile_cells)} formulas use RAND(), NOW(), OFFSET() or "
                f"the like, whose values change at every recalculation (first: "
                f"{', '.join(self.volatile_cells[:5])})"
            )
        if self.unchecked_formulas:
            lines.append(
                f"UNCHECKED: {self.unchecked_formulas} formula cells lie outside every block "
                f"(first: {', '.join(self.unchecked_cells[:5])})"
            )
        drift = self.drifting
        if drift and self.failures:
            lines.append(
                f"DRIFT: {len(drift)} blocks after the first failure differ from the NumPy "
                "trajectory only because of it: each matches NumPy applied to the values it "
                f"reads within {LOCAL_TOLERANCE:g}"
            )
        elif drift:
            first = min(drift, key=lambda b: b.epoch or 0)
            worst = max(b.max_rel_error for b in drift)
            lines.append(
                f"DRIFT: {len(drift)} blocks part from the NumPy trajectory (from epoch "
                f"{first.epoch}, max rel err {worst:.3g}), yet each matches NumPy applied to the "
                f"values it reads within {LOCAL_TOLERANCE:g}: every formula is right, and the "
                "run amplifies last-digit differences (a chaotic learning rate)"
            )
        verdict = "OK" if self.ok else "FAILED"
        lines.append(
            f"{verdict}: {self.formula_cells} formula cells recomputed with {self.engine}; "
            f"{len(self.blocks) - len(self.failures)}/{len(self.blocks)} checks passed "
            f"(formula blocks within {self.tolerance:g}, reference gradients within "
            f"{FD_TOLERANCE:g} of finite differences); {len(self.error_cells)} error cells"
        )
        return "\n".join(lines)


def _jsonable(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        non_finite = isinstance(v, float) and not math.isfinite(v)
        if non_finite or (v is not None and not isinstance(v, str | int | float | bool)):
            v = str(v)
        out[k] = v
    return out


@dataclass(frozen=True)
class Run:
    """What a file says about its own training run: structure and inputs."""

    program: Program
    layout: Layout
    inputs: Inputs


def read_run(book: Book) -> Run:
    """Spec, data, initial weights, learning rate and N, all as entered in the file."""
    for name in SHEETS:
        book.sheet(name)  # raises when a sheet is missing
    settings = book.sheet(SETTINGS).values

    def setting(key: str):
        b = setting_block(key)
        v = settings.get((b.row, b.col))
        if v is None:
            raise BookError(f"{book.path}: Settings!{a1.cell(b.row, b.col)} ({key}) is empty")
        return v

    def whole(key: str, low: int) -> int:
        v = setting(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < low:
            raise BookError(
                f"{book.path}: Settings {key} must be a whole number >= {low}, got {v!r}"
            )
        return int(v)

    def number(key: str) -> float:
        v = setting(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BookError(f"{book.path}: Settings {key} must be a number, got {v!r}")
        return float(v)

    try:
        model = str(setting("model"))
        spec = Spec(
            model=model,
            output=str(setting("output")),
            hidden=whole("hidden", 1) if model == "mlp" else 5,
            epochs=whole("epochs", 1),
            seed=whole("seed", 0),
            layout=str(setting("layout")),
        )
    except SpecError as exc:
        raise BookError(f"{book.path}: not an xlnet training workbook ({exc})") from None
    f, k = whole("features", 1), whole("classes", 2)
    lr, n_div = number(LR_NAME), number(N_NAME)
    if n_div <= 0:
        raise BookError(f"{book.path}: Settings {N_NAME} must be positive, got {n_div:g}")
    data = book.sheet(DATA).values
    n = 0
    while (DATA_TOP + n, LABEL_COL) in data:
        n += 1
    if n == 0:
        raise BookError(f"{book.path}: the Data sheet holds no samples")
    program = build_program(spec, n, f, k)
    layout = Layout(program)

    def numbers(sheet_values, block: Block, what: str) -> np.ndarray:
        out = np.empty((block.nrows, block.ncols))
        for i, j, r, c in block.cells():
            v = sheet_values.get((r, c))
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise BookError(
                    f"{book.path}: {block.sheet}!{a1.cell(r, c)} ({what}) should hold a number, "
                    f"found {v!r}"
                )
            out[i, j] = float(v)
        return out

    inputs = Inputs(
        raw=numbers(data, layout.block("Raw"), "raw data"),
        label=numbers(data, layout.block("Label"), "label"),
        classes=numbers(data, layout.block("Classes"), "class value"),
        init={
            p: numbers(book.sheet(INIT).values, layout.block("New " + p, 0), p)
            for p in program.params
        },
        lr=lr,
        n=n_div,
    )
    return Run(program, layout, inputs)


def blocks_to_check(run: Run) -> list[tuple[str, int | None, Block]]:
    p, layout = run.program, run.layout
    out: list[tuple[str, int | None, Block]] = [
        (n, None, layout.block(n)) for n in DATA_TENSORS if n not in INPUTS
    ]
    for e in range(1, p.spec.epochs + 1):
        out += [(s.out, e, layout.block(s.out, e)) for s in p.epoch_steps]
    out += [(n, None, layout.block(n)) for n in SUMMARY_TENSORS]
    return out


def compare(
    run: Run,
    result: Result,
    expected: dict[Key, np.ndarray],
    tolerance: float = TOLERANCE,
    engine: str = "formulas",
) -> list[BlockCheck]:
    """Each block against the NumPy trajectory and, locally, against its own step applied to
    the engine's values of the blocks it reads. A block off the trajectory only by drift (all
    its cells numbers, and right locally) is "drift", not a failure."""
    checks = []
    for name, epoch, block in blocks_to_check(run):
        check = _check_block(name, epoch, block, result, expected[(name, epoch)], tolerance)
        local = _local_expected(run, result, name, epoch, PERTURB[engine])
        if local is not None:
            local, slack = local
            got = _read(result, block)
            scale = max(float(np.abs(local).max(initial=0.0)), 1.0)
            with np.errstate(invalid="ignore"):
                excess = np.maximum(np.abs(got - local) - SLACK * slack, 0.0)
                err = float(np.nanmax(excess, initial=0.0)) / scale
            finite = bool(np.isfinite(got).all() and np.isfinite(local).all())
            check.local_rel_error = err if finite else math.inf
            drifting = check.status == "FAIL" and check.structural == 0
            if drifting and finite and err <= LOCAL_TOLERANCE:
                check.status = "drift"
        checks.append(check)
    return checks


def _read(result: Result, block: Block) -> np.ndarray:
    """A block's values as floats; anything not a number is NaN."""
    s = result.index(block.sheet)
    grid = result.grids[s]
    out = np.full((block.nrows, block.ncols), np.nan)
    for i, j, r, c in block.cells():
        if r < grid.shape[0] and c < grid.shape[1]:
            v = grid[r, c]
            if isinstance(v, int | float) and not isinstance(v, bool):
                out[i, j] = float(v)
    return out


def _local_expected(
    run: Run, result: Result, name: str, epoch: int | None, perturb: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The block's own step applied to what the engine holds in the blocks it reads, and per
    cell the slack that input rounding allows."""
    program, layout = run.program, run.layout
    env = Env(run.inputs.lr, run.inputs.n)
    if name in SUMMARY_TENSORS:
        per_epoch = SUMMARY_TENSORS[name]
        epochs = range(1, program.spec.epochs + 1)
        values = np.vstack([_read(result, layout.block(per_epoch, e)) for e in epochs])
        return values, np.zeros_like(values)
    steps = program.data_steps if epoch is None else program.epoch_steps
    step = next((s for s in steps if s.out == name), None)
    if step is None:
        return None
    if epoch is None:
        args = [_read(result, layout.block(a.name)) for a in step.args]
    else:
        args = [_read(result, layout.block(*program.locate(a, epoch))) for a in step.args]
    with np.errstate(all="ignore"):
        local = step.op.numpy(env, *args)
        # How far a few last-place differences in the inputs move this step's result: large
        # only where the step is ill-conditioned (LN(1 - A) as a sigmoid saturates).
        # Every input up, every input down, and a random mix and its mirror: each number is
        # moved both ways at least once.
        rng = np.random.default_rng(0)
        mixes = [rng.choice((-1.0, 1.0), a.shape) for a in args]
        slack = np.zeros_like(local)
        for signs in ([1.0] * len(args), [-1.0] * len(args), mixes, [-m for m in mixes]):
            shaken = [a * (1 + perturb * sg) for a, sg in zip(args, signs, strict=True)]
            slack = np.fmax(slack, np.abs(step.op.numpy(env, *shaken) - local))
    return local, slack


def _check_block(name, epoch, block: Block, result: Result, exp: np.ndarray, tol) -> BlockCheck:
    s = result.index(block.sheet)
    grid = result.grids[s]
    max_abs = max_rel = 0.0
    scale = max(float(np.abs(exp).max()), 1.0)
    wrong = structural = 0
    first = None
    for i, j, r, c in block.cells():
        got = grid[r, c] if r < grid.shape[0] and c < grid.shape[1] else None
        e = float(exp[i, j])
        formula = result.formulas.get((s, r, c))
        problem = None
        if formula is None:
            problem = "empty" if got is None or got is EMPTY else "not a formula"
        elif is_error(got) or not isinstance(got, int | float) or isinstance(got, bool):
            why = result.why.get((s, r, c))
            problem = f"not a number ({why})" if why else "not a number"
        else:
            d = abs(float(got) - e)
            rel = d / scale
            if not math.isfinite(d):
                problem = "not finite"
            else:
                max_abs, max_rel = max(max_abs, d), max(max_rel, rel)
                if rel > tol:
                    problem = "differs"
        if problem:
            wrong += 1
            structural += problem != "differs"
            if first is None:
                first = (a1.cell(r, c), formula, e, got, problem)
    if first:
        cell, formula, e, got, problem = first
        return BlockCheck(name, epoch, block.nrows * block.ncols, max_abs, max_rel, "FAIL",
                          wrong, f"{block.sheet}!{cell}", formula, e, got, problem,
                          structural=structural)  # fmt: skip
    return BlockCheck(name, epoch, block.nrows * block.ncols, max_abs, max_rel, "ok")


def reference_self_check(run: Run) -> BlockCheck:
    """The NumPy reference's gradients against central finite differences, at the file's
    initial weights: the row that says the reference itself can be trusted."""
    worst, count = gradient_check(run.program, run.inputs)
    ok = worst <= FD_TOLERANCE
    return BlockCheck(FD_CHECK, None, count, worst, worst,
                      "ok" if ok else "FAIL", 0 if ok else count,
                      problem=None if ok else f"exceeds {FD_TOLERANCE:g}")  # fmt: skip


def verify(
    path: str | Path,
    engine: str = "formulas",
    tolerance: float = TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Recompute every formula of the file with `engine` and compare it with NumPy."""
    book = read_book(path)
    run = read_run(book)
    expected = train(run.program, run.inputs)
    if engine == "formulas":
        try:
            result = evaluate(book, progress=progress)
        except EvalError as exc:
            raise EvalError(f"{path}: {exc}") from None
    elif engine == "libreoffice":
        from .libreoffice import recalculate

        with tempfile.TemporaryDirectory(prefix="xlnet-verify-") as tmp:
            result = from_cached(book, read_cached(recalculate(path, tmp)))
    else:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    report = Report(str(path), engine, tolerance)
    report.blocks = compare(run, result, expected, tolerance, engine)
    report.blocks.append(reference_self_check(run))
    report.formula_cells = len(result.formulas)
    checked = {
        (result.index(b.sheet), r, c)
        for _, _, b in blocks_to_check(run)
        for _, _, r, c in b.cells()
    }
    unchecked = sorted(result.formulas.keys() - checked)
    report.unchecked_formulas = len(unchecked)
    report.unchecked_cells = [
        f"{result.sheet_names[s]}!{a1.cell(r, c)}" for s, r, c in unchecked[:20]
    ]
    report.error_cells = result.error_cells()
    report.volatile_cells = result.volatile
    return report
