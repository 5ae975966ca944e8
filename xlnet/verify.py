"""Compares a recalculated workbook with the NumPy reference: a report, block by block."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import a1
from .evaluate import EMPTY, EvalError, Result, evaluate, from_cached, is_error
from .layout import (
    BETA1_NAME,
    BETA2_NAME,
    DATA,
    DATA_TOP,
    EPS_NAME,
    LABEL_COL,
    LR_NAME,
    MOMENTUM_NAME,
    N_NAME,
    OPTIMIZER_INPUTS,
    SETTINGS,
    SHEETS,
    TEST,
    Block,
    Layout,
    setting_block,
)
from .program import TEST_PREFIX, Program, build_program
from .reference import FD_TOLERANCE, Inputs, Key, gradient_check, train
from .spec import (
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPSILON,
    DEFAULT_MOMENTUM,
    Spec,
    SpecError,
    parse_hidden,
)
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
# LibreOffice's files keep 15 significant digits, so the values a local check reads from them
# are rounded. Where a step is ill-conditioned (LN(1 - A) as a sigmoid saturates) that is
# amplified, so the local check forgives, per cell, SLACK times the change that inputs shaken
# by PERTURB cause in NumPy's own result (~1e-15 of the value elsewhere). The formulas engine
# is read back exactly: no slack.
PERTURB = {"formulas": 0.0, "libreoffice": 1e-14}  # formulas: the exact doubles it computed
SLACK = 10.0
# Steps whose result is exact (a comparison, a count, a copy): never any slack.
EXACT_OPS = ("onehot", "accuracy", "test_accuracy", "confusion", "copy")
# NumPy's own run is sensitive from the epoch where weights moved by a few units in the last
# place change some block by more than this (relative to the block's largest value).
CHAOS = 1e-12
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
            epochs = [b.epoch for b in drift if b.epoch is not None]
            since = f"from epoch {min(epochs)}, " if epochs else ""
            worst = max(b.max_rel_error for b in drift)
            lines.append(
                f"DRIFT: {len(drift)} blocks part from the NumPy trajectory ({since}"
                f"max rel err {worst:.3g}), yet each matches NumPy applied to the "
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

    def hidden() -> tuple[int, ...]:
        v = setting("hidden")
        if isinstance(v, str):
            return parse_hidden(v)
        return (whole("hidden", 1),)

    try:
        model = str(setting("model"))
        optimizer = str(setting("optimizer"))
        spec = Spec(
            model=model,
            output=str(setting("output")),
            hidden=hidden() if model == "mlp" else 5,
            activation=str(setting("activation")) if model == "mlp" else "tanh",
            epochs=whole("epochs", 1),
            seed=whole("seed", 0),
            layout=str(setting("layout")),
            optimizer=optimizer,
        )
    except SpecError as exc:
        raise BookError(f"{book.path}: not an xlnet training workbook ({exc})") from None
    f, k = whole("features", 1), whole("classes", 2)
    lr, n_div = number(LR_NAME), number(N_NAME)
    if n_div <= 0:
        raise BookError(f"{book.path}: Settings {N_NAME} must be positive, got {n_div:g}")
    # The optimizer's hyperparameters are inputs like the learning rate: read as entered.
    hyper = {MOMENTUM_NAME: DEFAULT_MOMENTUM, BETA1_NAME: DEFAULT_BETA1,
             BETA2_NAME: DEFAULT_BETA2, EPS_NAME: DEFAULT_EPSILON}  # fmt: skip
    for key in OPTIMIZER_INPUTS[spec.optimizer]:
        hyper[key] = number(key)

    def count_samples(sheet: str) -> int:
        values = book.sheet(sheet).values
        n = 0
        while (DATA_TOP + n, LABEL_COL) in values:
            n += 1
        if n == 0:
            raise BookError(f"{book.path}: the {sheet} sheet holds no samples")
        return n

    n = count_samples(DATA)
    n_test = count_samples(TEST) if TEST.upper() in {s.upper() for s in book.sheets} else 0
    program = build_program(spec, n, f, k, n_test)
    try:
        layout = Layout(program)
    except SpecError as exc:
        raise BookError(f"{book.path}: not an xlnet training workbook ({exc})") from None

    test: dict[str, np.ndarray | None] = {"Raw": None, "Label": None}
    if n_test:
        test = {n: block_numbers(book, layout.block(TEST_PREFIX + n), "held-out " + n.lower())
                for n in test}  # fmt: skip
    inputs = Inputs(
        raw=block_numbers(book, layout.block("Raw"), "raw data"),
        label=block_numbers(book, layout.block("Label"), "label"),
        classes=block_numbers(book, layout.block("Classes"), "class value"),
        init={
            p: block_numbers(book, layout.block(program.carried(p), 0), p) for p in program.initial
        },
        lr=lr,
        n=n_div,
        test_raw=test["Raw"],
        test_label=test["Label"],
        momentum=hyper[MOMENTUM_NAME],
        beta1=hyper[BETA1_NAME],
        beta2=hyper[BETA2_NAME],
        epsilon=hyper[EPS_NAME],
    )
    return Run(program, layout, inputs)


def blocks_to_check(run: Run) -> list[tuple[str, int | None, Block]]:
    p, layout = run.program, run.layout
    out: list[tuple[str, int | None, Block]] = [
        (s.out, None, layout.block(s.out)) for s in p.data_steps
    ]
    for e in range(1, p.spec.epochs + 1):
        out += [(s.out, e, layout.block(s.out, e)) for s in p.epoch_steps]
    out += [(n, None, layout.block(n)) for n in p.summary]
    out += [(s.out, None, layout.block(s.out)) for s in p.final_steps]
    return out


def compare(
    run: Run,
    result: Result,
    expected: dict[Key, np.ndarray],
    tolerance: float = TOLERANCE,
    engine: str = "formulas",
) -> list[BlockCheck]:
    """Each block against the NumPy trajectory and, locally, against its own step applied to
    the engine's values of the blocks it reads.

    A block failing the local check fails, named at its first cell off its own step. A block
    off the trajectory but right locally is "drift", not a failure, in two cases only: after
    a block that failed (one mistake is reported once), or from the epoch where NumPy's own run
    is sensitive to its last digits (`chaos_epoch`); anywhere else it fails, so an error small
    enough to pass its own block cannot hide in the blocks after it."""
    chaos = chaos_epoch(run)
    reader = _Reader(result)
    checks: list[BlockCheck] = []
    for name, epoch, block in blocks_to_check(run):
        check = _check_block(name, epoch, block, result, expected[(name, epoch)], tolerance)
        local = _local_expected(run, reader, name, epoch, PERTURB[engine])
        if local is not None:
            local, slack = local
            got = reader.read(block)
            scale = max(float(np.abs(local).max(initial=0.0)), 1.0)
            with np.errstate(invalid="ignore"):
                excess = np.maximum(np.abs(got - local) - SLACK * slack, 0.0) / scale
            finite = bool(np.isfinite(got).all() and np.isfinite(local).all())
            err = float(np.nanmax(excess, initial=0.0)) if finite else math.inf
            check.local_rel_error = err
            exact = _is_copy(run, name, epoch)  # a copy is right only to the last digit
            off = err > (0.0 if exact else LOCAL_TOLERANCE)
            if off and finite and check.structural == 0:
                _fail_locally(check, block, result, got, local, excess, exact)
            elif check.status == "FAIL" and check.structural == 0 and finite and not off:
                after_failure = any(c.status == "FAIL" for c in checks)
                chaotic = (
                    chaos is not None
                    and name not in run.program.data_tensors
                    and (epoch is None or epoch >= chaos)
                )
                if after_failure or chaotic:
                    check.status = "drift"
        checks.append(check)
    return checks


def chaos_epoch(run: Run) -> int | None:
    """The first epoch where NumPy's own run, restarted from initial weights moved by a few
    units in the last place, parts from itself by more than CHAOS; None if it never does.
    From there on, engines' last-digit differences may grow into drift."""
    base = train(run.program, run.inputs)
    rng = np.random.default_rng(0)
    first: int | None = None
    for trial in range(3):
        init = {}
        for p, w in run.inputs.init.items():
            if p not in run.program.params:  # optimizer state starts at exact zeros
                init[p] = w
                continue
            signs = 1.0 if trial == 0 else -1.0 if trial == 1 else rng.choice((-1.0, 1.0), w.shape)
            init[p] = w * (1 + 4 * 2.0**-52 * signs) + signs * 4 * 2.0**-1074
        shaken = train(run.program, replace(run.inputs, init=init))
        for e in range(1, run.program.spec.epochs + 1):
            if first is not None and e >= first:
                break
            for step in run.program.epoch_steps:
                a, b = base[(step.out, e)], shaken[(step.out, e)]
                scale = max(float(np.abs(a).max(initial=0.0)), 1.0)
                if float(np.abs(a - b).max(initial=0.0)) > CHAOS * scale:
                    first = e
                    break
    return first


def _steps_of(program: Program, epoch: int | None):
    if epoch is None:
        return (*program.data_steps, *program.final_steps)
    return program.epoch_steps


def _is_copy(run: Run, name: str, epoch: int | None) -> bool:
    if name in run.program.summary:
        return True
    steps = _steps_of(run.program, epoch)
    step = next((s for s in steps if s.out == name), None)
    return step is not None and step.op.name == "copy"


def _fail_locally(check: BlockCheck, block: Block, result: Result, got, local, excess, exact):
    """Name the first cell that is off its own step (not the first cell off the trajectory,
    which in a drifting run may be a right cell that merely drifted)."""
    bad = np.argwhere(excess > (0.0 if exact else LOCAL_TOLERANCE))
    i, j = (int(x) for x in bad[0])
    r, c = block.row + i, block.col + j
    s = result.index(block.sheet)
    check.status = "FAIL"
    check.wrong_cells = len(bad)
    check.cell = f"{block.sheet}!{a1.cell(r, c)}"
    check.formula = result.formulas.get((s, r, c))
    check.expected, check.got = float(local[i, j]), float(got[i, j])
    check.problem = "differs from NumPy applied to the values it reads"


class _Reader:
    """Blocks' values as floats (anything not a number is NaN), each block read once."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.cache: dict[Block, np.ndarray] = {}

    def read(self, block: Block) -> np.ndarray:
        hit = self.cache.get(block)
        if hit is not None:
            return hit
        grid = self.result.grids[self.result.index(block.sheet)]
        out = np.full((block.nrows, block.ncols), np.nan)
        r1, c1 = (
            min(block.row + block.nrows, grid.shape[0]),
            min(block.col + block.ncols, grid.shape[1]),
        )
        if r1 > block.row and c1 > block.col:
            cells = grid[block.row : r1, block.col : c1]
            numeric = np.vectorize(
                lambda v: isinstance(v, int | float) and not isinstance(v, bool), otypes=[bool]
            )(cells)
            part = out[: r1 - block.row, : c1 - block.col]
            part[numeric] = cells[numeric].astype(float)
        self.cache[block] = out
        return out


def _local_expected(
    run: Run, reader: _Reader, name: str, epoch: int | None, perturb: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The block's own step applied to what the engine holds in the blocks it reads, and per
    cell the slack that the rounding of those values allows."""
    program, layout = run.program, run.layout
    env = run.inputs.env()
    if name in program.summary:
        per_epoch = program.summary[name]
        epochs = range(1, program.spec.epochs + 1)
        values = np.vstack([reader.read(layout.block(per_epoch, e)) for e in epochs])
        return values, np.zeros_like(values)
    step = next((s for s in _steps_of(program, epoch) if s.out == name), None)
    if step is None:
        return None
    if step in program.final_steps:
        last = program.spec.epochs
        args = [reader.read(layout.block(*program.locate(a, last))) for a in step.args]
    elif epoch is None:
        args = [reader.read(layout.block(a.name)) for a in step.args]
    else:
        args = [reader.read(layout.block(*program.locate(a, epoch))) for a in step.args]
    with np.errstate(all="ignore"):
        local = step.op.numpy(env, *args)
        slack = np.zeros_like(local)
        if perturb == 0 or step.op.name in EXACT_OPS:
            return local, slack
        if step.op.name == "predict":
            return local, _tie_slack(args[0], args[1], local, perturb)
        # How far a few last-place differences in the inputs move this step's result: large
        # only where the step is ill-conditioned (LN(1 - A) as a sigmoid saturates). Every
        # input up, every input down, a random mix and its mirror: each moves both ways.
        rng = np.random.default_rng(0)
        mixes = [rng.choice((-1.0, 1.0), a.shape) for a in args]
        for signs in ([1.0] * len(args), [-1.0] * len(args), mixes, [-m for m in mixes]):
            shaken = [a * (1 + perturb * sg) for a, sg in zip(args, signs, strict=True)]
            slack = np.fmax(slack, np.abs(step.op.numpy(env, *shaken) - local))
    return local, slack


def _tie_slack(a: np.ndarray, classes: np.ndarray, local: np.ndarray, perturb: float):
    """A prediction may be any class whose A is within the values' rounding of the row's
    largest (LibreOffice saw digits its file does not keep); elsewhere it must be exact."""
    top = a.max(axis=1, keepdims=True)
    near = a >= top - perturb * np.abs(top)
    spread = np.where(near, np.abs(classes - local), 0.0)
    return spread.max(axis=1, keepdims=True) / SLACK


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


def recompute(
    book: Book,
    path: str | Path,
    engine: str = "formulas",
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Every formula of `book` (read from `path`) recomputed by `engine`: our evaluator, or
    headless LibreOffice forced to recalculate a copy. Cached values are never used."""
    if engine == "formulas":
        try:
            return evaluate(book, progress=progress)
        except EvalError as exc:
            raise EvalError(f"{path}: {exc}") from None
    if engine == "libreoffice":
        from .libreoffice import recalculate

        with tempfile.TemporaryDirectory(prefix="xlnet-recalc-") as tmp:
            return from_cached(book, read_cached(recalculate(path, tmp)))
    raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def block_numbers(book: Book, block: Block, what: str) -> np.ndarray:
    """A block of numbers entered in `book` (inputs: data, weights, a scorer's model); a cell
    holding anything else is a BookError naming it."""
    values = book.sheet(block.sheet).values
    out = np.empty((block.nrows, block.ncols))
    for i, j, r, c in block.cells():
        v = values.get((r, c))
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BookError(
                f"{book.path}: {block.sheet}!{a1.cell(r, c)} ({what}) should hold a number, "
                f"found {v!r}"
            )
        out[i, j] = float(v)
    return out


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
    result = recompute(book, path, engine, progress)
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
