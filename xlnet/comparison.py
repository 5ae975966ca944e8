"""Compares a recomputed workbook with the NumPy reference block by block: each block against
NumPy's run, and where that fails, against NumPy's step applied to the engine's own upstream
values (a local check), which tells a wrong formula from drift."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from . import a1
from .block import Block
from .checkreport import BlockCheck
from .evaluate import EMPTY, Result
from .program import Program, Step
from .reference import Key, train
from .result import FormulaCells
from .run import Run
from .scalars import Env
from .spec import DEFAULT_ENGINE
from .tolerances import CHAOS, LOCAL_TOLERANCE, TOLERANCE

# LibreOffice's files keep 15 significant digits, so the values a local check reads from them
# are rounded. Where a step is ill-conditioned (LN(1 - A) as a sigmoid saturates) that is
# amplified, so the local check forgives, per cell, SLACK times the change that inputs shaken
# by PERTURB cause in NumPy's own result (~1e-15 of the value elsewhere). The formulas engine
# is read back exactly: no slack.
PERTURB = {"formulas": 0.0, "libreoffice": 1e-14}  # formulas: the exact doubles it computed
SLACK = 10.0


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
    engine: str = DEFAULT_ENGINE,
) -> list[BlockCheck]:
    """Each block against the NumPy trajectory and, locally, against its own step applied to
    the engine's values of the blocks it reads.

    A block failing the local check fails, named at its first cell off its own step. A block
    off the trajectory but right locally is "drift", not a failure, in two cases only: after
    a block that failed (one mistake is reported once), or from the epoch where NumPy's own run
    is sensitive to its last digits (`chaos_epoch`); anywhere else it fails, so an error small
    enough to pass its own block cannot hide in the blocks after it."""
    chaos = chaos_epoch(run)
    return compare_cells(
        run, Cells(result), blocks_to_check(run), expected, tolerance, engine, chaos
    )


def compare_cells(
    run: Run,
    cells: Cells,
    blocks: list[tuple[str, int | None, Block]],
    expected: dict[Key, np.ndarray],
    tolerance: float,
    engine: str,
    chaos: int | None,
) -> list[BlockCheck]:
    program, env = run.program, run.inputs.env()
    # Each block's step by its name, looked up once per name, not once per block.
    steps: dict[tuple[str, bool], Step | None] = {}
    checks: list[BlockCheck] = []
    failed = False  # some block before this one failed
    for name, epoch, block in blocks:
        key = (name, epoch is None)
        if key not in steps:
            steps[key] = next((s for s in _steps_of(program, epoch) if s.out == name), None)
        step = steps[key]
        check = _check_block(name, epoch, block, cells, expected[(name, epoch)], tolerance)
        local = _local_expected(run, env, cells, name, epoch, step, PERTURB[engine])
        if local is not None:
            local, slack = local
            got = cells.read(block)
            scale = max(float(np.abs(local).max(initial=0.0)), 1.0)
            with np.errstate(invalid="ignore"):
                excess = np.maximum(np.abs(got - local) - SLACK * slack, 0.0) / scale
            finite = bool(np.isfinite(got).all() and np.isfinite(local).all())
            # What np.nanmax computes on a float array (fmax skips NaN), without its overhead
            err = float(np.fmax.reduce(excess, axis=None, initial=0.0)) if finite else math.inf
            check.local_rel_error = err
            exact = name in program.summary or (step is not None and step.op.verbatim)
            off = err > (0.0 if exact else LOCAL_TOLERANCE)
            if off and finite and check.structural == 0:
                _fail_locally(check, block, cells.result, got, local, excess, exact)
            elif check.status == "FAIL" and check.structural == 0 and finite and not off:
                chaotic = (
                    chaos is not None
                    and name not in program.data_tensors
                    and (epoch is None or epoch >= chaos)
                )
                if failed or chaotic:
                    check.status = "drift"
        checks.append(check)
        failed = failed or check.status == "FAIL"
    return checks


def chaos_epoch(run: Run, base: dict[Key, np.ndarray] | None = None) -> int | None:
    """The first epoch where NumPy's own run, restarted from initial weights moved by a few
    units in the last place, parts from itself by more than CHAOS; None if it never does.
    From there on, engines' last-digit differences may grow into drift. `base` is NumPy's run
    from the file's own inputs, when the caller has trained it already."""
    if base is None:
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


class Cells:
    """A recalculated workbook as the compare reads it, a block at a time, in whole arrays:
    values as floats beside a mask of the cells that hold a number, and which cells hold a
    formula (one boolean grid per sheet, not one lookup per cell)."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.formula = _formula_masks(result)
        # Each block is read by its own check and again by the local checks of the blocks
        # that read it: converted from objects once.
        self.cache: dict[Block, tuple[np.ndarray, np.ndarray]] = {}

    def numbers(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """The block's values (NaN where a cell holds no number) and which cells hold one."""
        hit = self.cache.get(block)
        if hit is None:
            grid = self.result.grids[self.result.index(block.sheet)]
            hit = self.cache[block] = _as_numbers(_window(grid, block, None))
        return hit

    def read(self, block: Block) -> np.ndarray:
        return self.numbers(block)[0]

    def formulas(self, block: Block) -> np.ndarray:
        return _window(self.formula[self.result.index(block.sheet)], block, False)

    def outside(self, blocks: list[tuple[str, int | None, Block]]) -> tuple[int, list[str]]:
        """How many formula cells lie outside every block, and the first few, in sheet, row,
        column order: each sheet's formula mask with the blocks cleared from a copy of it."""
        left = [mask.copy() for mask in self.formula]
        for _, _, b in blocks:
            mask = left[self.result.index(b.sheet)]
            mask[b.row : b.row + b.nrows, b.col : b.col + b.ncols] = False  # clipped at its edge
        count = sum(int(np.count_nonzero(mask)) for mask in left)
        first: list[str] = []
        for s, mask in enumerate(left):
            for r, c in np.argwhere(mask)[: 20 - len(first)].tolist():
                first.append(f"{self.result.sheet_names[s]}!{a1.cell(r, c)}")
        return count, first


def _formula_masks(result: Result) -> list[np.ndarray]:
    """Per sheet, which cells hold a formula."""
    formulas = result.formulas
    if isinstance(formulas, FormulaCells):
        return formulas._masks()  # from the book's own dictionaries, without a tuple per cell
    masks = [np.zeros((0, 0), dtype=bool) for _ in result.sheet_names]
    keys = np.array([k for k, v in formulas.items() if v is not None], dtype=np.int64)
    for s in range(len(masks)):
        rc = keys[keys[:, 0] == s, 1:] if len(keys) else np.zeros((0, 2), dtype=np.int64)
        if len(rc):
            masks[s] = np.zeros(tuple(rc.max(axis=0) + 1), dtype=bool)
            masks[s][rc[:, 0], rc[:, 1]] = True
    return masks


def _window(grid: np.ndarray, block: Block, fill: object) -> np.ndarray:
    """The block's cells of a sheet-sized array: a view where the block lies inside it,
    else a copy with `fill` beyond its edge."""
    r0, c0, r1, c1 = block.row, block.col, block.row + block.nrows, block.col + block.ncols
    if r1 <= grid.shape[0] and c1 <= grid.shape[1]:
        return grid[r0:r1, c0:c1]
    out = np.empty((block.nrows, block.ncols), dtype=grid.dtype)
    out.fill(fill)  # not np.full: an object array must hold `fill` itself
    inside = grid[r0:r1, c0:c1]
    out[: inside.shape[0], : inside.shape[1]] = inside
    return out


_TYPE_OF = np.frompyfunc(type, 1, 1)


def _boxed(t: type) -> np.ndarray:
    """A type as a 0-d object array, so that NumPy compares cells' types with it one by one
    (a bare type such as np.float64 would be taken for a dtype)."""
    box = np.empty((), dtype=object)
    box[()] = t
    return box


_FLOAT = _boxed(float)


def _as_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell objects as floats (NaN where not a number) and which are numbers: ints and floats
    but not booleans, as `isinstance` has it. Each type present is judged once, not each
    cell; floats, nearly every cell, are recognised by one comparison of their types."""
    types = _TYPE_OF(cells)
    isnum = types == _FLOAT
    if isnum.all():
        return cells.astype(float), isnum
    for t in set(types[~isnum].tolist()):
        if issubclass(t, int | float) and not issubclass(t, bool):
            isnum |= types == _boxed(t)
    values = np.full(cells.shape, np.nan)
    values[isnum] = cells[isnum].astype(float)
    return values, isnum


def _local_expected(
    run: Run,
    env: Env,
    cells: Cells,
    name: str,
    epoch: int | None,
    step: Step | None,
    perturb: float,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The block's own step (`step`, None for a summary block or a block of no step) applied to
    what the engine holds in the blocks it reads, and per cell the slack that the rounding of
    those values allows."""
    program, layout = run.program, run.layout
    if name in program.summary:
        per_epoch = program.summary[name]
        epochs = range(1, program.spec.epochs + 1)
        values = np.vstack([cells.read(layout.block(per_epoch, e)) for e in epochs])
        return values, np.zeros_like(values)
    if step is None:
        return None
    if step in program.final_steps:
        last = program.spec.epochs
        args = [cells.read(layout.block(*program.locate(a, last))) for a in step.args]
    elif epoch is None:
        args = [cells.read(layout.block(a.name)) for a in step.args]
    else:
        args = [cells.read(layout.block(*program.locate(a, epoch))) for a in step.args]
    with np.errstate(all="ignore"):
        local = step.op.numpy(env, *args)
        slack = np.zeros_like(local)
        if perturb == 0 or step.op.exact:
            return local, slack
        if step.op.ties:
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


def _check_block(
    name: str, epoch: int | None, block: Block, cells: Cells, exp: np.ndarray, tol: float
) -> BlockCheck:
    got, isnum = cells.numbers(block)
    scale = max(float(np.abs(exp).max()), 1.0)  # NaN where NumPy's run holds a NaN
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(got - exp)
    size = block.nrows * block.ncols
    worst = float(diff.max())
    formula = cells.formulas(block)
    # Every cell a formula holding a number, every difference finite (NaN and inf carry into
    # the max): rounding is monotonic, so the largest quotient is the largest difference over
    # the scale, and one comparison decides the block.
    if math.isfinite(worst) and isnum.all() and formula.all() and worst / scale <= tol:
        return BlockCheck(name, epoch, size, worst, worst / scale, "ok")
    measured = formula & isnum & np.isfinite(diff)
    structural = ~measured  # empty, not a formula, not a number or not finite
    with np.errstate(invalid="ignore"):
        rel = diff / scale
        wrong = structural | (rel > tol)  # NaN (a NaN scale) is never > tol
    # Maxima over the measured cells only; fmax skips the NaN quotients of a NaN scale, as
    # the cell-by-cell max() kept 0.0 against them.
    max_abs = float(np.max(diff, where=measured, initial=0.0))
    max_rel = float(np.fmax.reduce(rel, axis=None, where=measured, initial=0.0))
    n_wrong = int(np.count_nonzero(wrong))
    if not n_wrong:
        return BlockCheck(name, epoch, size, max_abs, max_rel, "ok")
    i, j = divmod(int(np.argmax(wrong)), block.ncols)  # the first wrong cell, row by row
    r, c = block.row + i, block.col + j
    result = cells.result
    s = result.index(block.sheet)
    grid = result.grids[s]
    value = grid[r, c] if r < grid.shape[0] and c < grid.shape[1] else None
    if not formula[i, j]:
        problem = "empty" if value is None or value is EMPTY else "not a formula"
    elif not isnum[i, j]:
        why = result.why.get((s, r, c))
        problem = f"not a number ({why})" if why else "not a number"
    else:
        problem = "differs" if measured[i, j] else "not finite"
    return BlockCheck(name, epoch, size, max_abs, max_rel, "FAIL", n_wrong,
                      f"{block.sheet}!{a1.cell(r, c)}", result.formulas.get((s, r, c)),
                      float(exp[i, j]), value, problem,
                      structural=int(np.count_nonzero(structural)))  # fmt: skip
