"""Evaluates many cells that share one formula in a single vectorised NumPy step.

A formula is parsed by `formulas` (its parser and AST builder); its graph of operators and
functions is turned into a plan over NumPy arrays with a leading axis for the cells, so a block
of 890 cells filled with the same relative formula costs one call per operator instead of 890.
Only operators and functions listed in IMPLEMENTATIONS are planned; a formula using anything
else is left to the cell-by-cell path (formulas' own functions), which yields the spreadsheet's
error values and text, and so is each cell whose inputs are not all numbers or whose steps are
not all finite numbers. Booleans (from comparisons) follow Excel: arithmetic turns them into 1
and 0, SUMPRODUCT counts them as 0; where Excel and `formulas` would treat them otherwise than
NumPy does (SUM, MAX, MMULT...), the group is left to the cell-by-cell path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .refs import ADDRESS_FUNCTIONS


class Unsupported(Exception):
    """This group cannot be computed here; use the cell-by-cell path."""


def _reduce(a: np.ndarray, fn: Callable[..., np.ndarray]) -> np.ndarray:
    return fn(a, axis=(1, 2), keepdims=True)


def _numbers(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Arithmetic, in which Excel reads TRUE and FALSE as 1 and 0."""

    def wrapped(*args: np.ndarray) -> np.ndarray:
        return fn(*(a.astype(float) if a.dtype == bool else a for a in args))

    return wrapped


def _no_booleans(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A function that skips booleans or reads them otherwise than NumPy: cell by cell."""

    def wrapped(*args: np.ndarray) -> np.ndarray:
        if any(a.dtype == bool for a in args):
            raise Unsupported("booleans in an aggregate")
        return fn(*args)

    return wrapped


def _compare(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """A comparison; a boolean against a number (always unequal in Excel) goes cell by cell."""

    def wrapped(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if (a.dtype == bool) != (b.dtype == bool):
            raise Unsupported("a boolean compared with a number")
        return fn(a, b)

    return wrapped


def _sum(*args: np.ndarray) -> np.ndarray:
    return functools.reduce(np.add, (_reduce(a, np.sum) for a in args))


def _average(*args: np.ndarray) -> np.ndarray:
    count = sum(a.shape[1] * a.shape[2] for a in args)
    return _sum(*args) / count


def _max(*args: np.ndarray) -> np.ndarray:
    return functools.reduce(np.maximum, (_reduce(a, np.max) for a in args))


def _min(*args: np.ndarray) -> np.ndarray:
    return functools.reduce(np.minimum, (_reduce(a, np.min) for a in args))


def _sumproduct(*args: np.ndarray) -> np.ndarray:
    shapes = {a.shape[1:] for a in args}
    if len(shapes) != 1:
        raise Unsupported("SUMPRODUCT of differently shaped arrays is #VALUE!")
    cells = max(a.shape[0] for a in args)
    if any(a.dtype == bool for a in args):
        # Excel reads what is not a number in SUMPRODUCT's arrays as 0, booleans included
        # (LibreOffice counts TRUE as 1): each product, and so the sum, is 0. Write (a=b)*1.
        return np.zeros((cells, 1, 1))
    prod = args[0]
    for a in args[1:]:
        prod = prod * a
    return _reduce(prod, np.sum)


def _mmult(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[2] != b.shape[1]:
        raise Unsupported("MMULT of non-conforming arrays is #VALUE!")
    return np.matmul(a, b)


def _stdev_p(a: np.ndarray) -> np.ndarray:
    return _reduce(a, np.std)


def _if(cond: np.ndarray, yes: np.ndarray, no: np.ndarray | None = None) -> np.ndarray:
    if no is None:
        raise Unsupported("IF without a false branch yields FALSE")
    if (yes.dtype == bool) != (no.dtype == bool):
        raise Unsupported("IF choosing between a boolean and a number")
    return np.where(cond != 0, yes, no)


def _index(*args: np.ndarray) -> np.ndarray:
    # formulas passes a leading flag before INDEX's own arguments.
    if len(args) != 4:
        raise Unsupported("INDEX with other than (array, row, column)")
    _, arr, row, col = args
    if row.shape[1:] != (1, 1) or col.shape[1:] != (1, 1) or row.dtype == bool or col.dtype == bool:
        raise Unsupported("INDEX at an array of places, or at TRUE")
    g = max(arr.shape[0], row.shape[0], col.shape[0])
    r = np.broadcast_to(row, (g, 1, 1)).reshape(g).astype(int) - 1
    c = np.broadcast_to(col, (g, 1, 1)).reshape(g).astype(int) - 1
    if (r < -1).any() or (c < -1).any() or (r >= arr.shape[1]).any() or (c >= arr.shape[2]).any():
        raise Unsupported("INDEX out of range is #REF!")
    full = np.broadcast_to(arr, (g, *arr.shape[1:]))
    # Row (or column) 0 is the whole column (or row), as in Excel: when every cell says so.
    whole_rows, whole_cols = r == -1, c == -1
    if not whole_rows.any() and not whole_cols.any():
        return full[np.arange(g), r, c].reshape(g, 1, 1)
    if not (whole_rows.all() or not whole_rows.any()) or not (
        whole_cols.all() or not whole_cols.any()
    ):
        raise Unsupported("INDEX of a whole row or column in some cells only")
    if whole_rows.all() and whole_cols.all():
        return full
    if whole_rows.all():
        return full[np.arange(g), :, c][:, :, None]
    return full[np.arange(g), r, :][:, None, :]


# ROW, COLUMN, ROWS, COLUMNS and AREAS read a reference's address, which the evaluator passes
# as an array (cells or 1, 1, 4) of (first row, first column, rows, columns), counted from 1.
_LINE_MAX = 1 << 16  # ROW of a longer range (a whole column) goes cell by cell


def _line(a: np.ndarray, axis: int) -> np.ndarray:
    n = a[:, :, 2 + axis]
    if (n != n[0, 0]).any() or n[0, 0] > _LINE_MAX:
        raise Unsupported("ROW or COLUMN of ranges of several sizes, or of a whole column")
    steps = np.arange(int(n[0, 0]), dtype=float)
    return a[:, :, axis : axis + 1] + (steps[None, :, None] if axis == 0 else steps[None, None])


def _match(value: np.ndarray, arr: np.ndarray, kind: np.ndarray | None = None) -> np.ndarray:
    if kind is None or kind.shape[0] != 1 or float(kind.reshape(-1)[0]) != 0:
        raise Unsupported("only exact MATCH (match_type 0) is vectorised")
    if arr.shape[1] != 1 and arr.shape[2] != 1:
        raise Unsupported("MATCH needs a single row or column")
    g = max(value.shape[0], arr.shape[0])
    flat = np.broadcast_to(arr.reshape(arr.shape[0], -1), (g, arr.shape[1] * arr.shape[2]))
    eq = flat == np.broadcast_to(value.reshape(value.shape[0], 1), (g, 1))
    if not eq.any(axis=1).all():
        raise Unsupported("a value not found by MATCH is #N/A")
    return (eq.argmax(axis=1) + 1.0).reshape(g, 1, 1)


# "U--": formulas folds a run of signs by parity, so --x parses as +x, which in Excel leaves
# TRUE a boolean; compiler.py marks such runs, for which Excel makes a number (--TRUE is 1).
IMPLEMENTATIONS: dict[str, Callable[..., np.ndarray]] = {
    "+": _numbers(np.add), "-": _numbers(np.subtract), "*": _numbers(np.multiply),
    "/": _numbers(np.divide), "^": _numbers(np.power),
    "U-": _numbers(np.negative), "U+": lambda a: a, "U--": _numbers(lambda a: a),
    "%": _numbers(lambda a: a / 100.0),
    "=": _compare(np.equal), "<>": _compare(np.not_equal), "<": _compare(np.less),
    ">": _compare(np.greater), "<=": _compare(np.less_equal), ">=": _compare(np.greater_equal),
    "EXP": _numbers(np.exp), "LN": _numbers(np.log), "TANH": _numbers(np.tanh),
    "ABS": _numbers(np.abs), "SQRT": _numbers(np.sqrt),
    "SUM": _no_booleans(_sum), "AVERAGE": _no_booleans(_average), "MAX": _no_booleans(_max),
    "MIN": _no_booleans(_min), "SUMPRODUCT": _sumproduct, "MMULT": _no_booleans(_mmult),
    "TRANSPOSE": lambda a: a.swapaxes(1, 2),
    "STDEV.P": _no_booleans(_stdev_p), "_XLFN.STDEV.P": _no_booleans(_stdev_p),
    "IF": _if, "INDEX": _index, "MATCH": _no_booleans(_match), "BYPASS": lambda a: a,
    "ROW": lambda a: _line(a, 0), "COLUMN": lambda a: _line(a, 1),
    "ROWS": lambda a: a[:, :, 2:3], "COLUMNS": lambda a: a[:, :, 3:4],
    "AREAS": lambda a: np.ones((a.shape[0], 1, 1)),
}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """Straight-line program: slots hold arrays shaped (cells or 1, rows, cols)."""

    inputs: tuple[tuple[str, int], ...]  # formulas' name of each reference input, its slot
    addresses: frozenset[int]  # which of `inputs` are addresses (for ROW, ROWS...), not values
    consts: tuple[tuple[int, np.ndarray], ...]
    steps: tuple[tuple[Callable[..., np.ndarray], tuple[int, ...], int], ...]
    out: int
    size: int  # number of slots


def make_plan(builder: Any, names: dict[str, str] | None = None) -> Plan | None:
    """A Plan from a `formulas` AST builder, or None when the formula uses anything else.
    `names` maps a function node to the implementation it takes instead of its own name."""
    dsp = builder.dsp
    functions = sorted(
        ((k, v) for k, v in dsp.nodes.items() if v["type"] == "function"),
        key=lambda kv: kv[1].get("index", (0,)),
    )
    produced = {o for _, v in functions for o in v["outputs"]}
    slots: dict[object, int] = {}  # a node's value; ("@", node): a reference input's address
    inputs: list[tuple[str, int]] = []
    addresses: set[int] = set()  # which of `inputs` are addresses
    consts: list[tuple[int, np.ndarray]] = []

    def slot(node: object) -> int:
        if node in slots:
            return slots[node]
        slots[node] = len(slots)
        if node in produced:
            return slots[node]
        if node in dsp.default_values:
            value = dsp.default_values[node]["value"]
            value = np.asarray(value).reshape(-1)[0] if np.ndim(value) else value
            if isinstance(value, bool | np.bool_):
                consts.append((slots[node], np.full((1, 1, 1), bool(value))))
            elif isinstance(value, int | float | np.integer | np.floating):
                consts.append((slots[node], np.full((1, 1, 1), float(value))))
            else:
                raise Unsupported(f"constant {value!r}")
        elif isinstance(node, str):
            inputs.append((node, slots[node]))
        else:
            raise Unsupported(f"input {node!r}")
        return slots[node]

    def address(node: object) -> int:
        key = ("@", node)
        if key not in slots:
            if not isinstance(node, str) or node in produced or node in dsp.default_values:
                raise Unsupported(f"the address of {node!r}")  # ROW(INDEX(...)), ROWS({1,2})
            slots[key] = len(slots)
            addresses.add(len(inputs))
            inputs.append((node, slots[key]))
        return slots[key]

    try:
        steps = []
        for fid, spec in functions:
            name = (names or {}).get(fid) or str(fid).split("<")[0].upper()
            impl = IMPLEMENTATIONS.get(name)
            if impl is None or len(spec["outputs"]) != 1:
                return None
            if name in ADDRESS_FUNCTIONS:
                # ROW(ref) and COLUMN(ref) also take the formula's own cell, a constant None
                # until a cell is given (unused: refs.own_cell gives ROW() its cell).
                refs = [i for i in spec["inputs"] or () if not _unset(dsp, i)]
                if len(refs) != 1:
                    return None
                steps.append((impl, (address(refs[0]),), slot(spec["outputs"][0])))
                continue
            args = tuple(slot(i) for i in spec["inputs"] or ())
            steps.append((impl, args, slot(spec["outputs"][0])))
        if functions:
            out = slots[functions[-1][1]["outputs"][0]]
        else:
            data = [k for k, v in dsp.nodes.items() if v["type"] == "data"]
            if len(data) != 1:
                return None
            out = slot(data[0])
    except Unsupported:
        return None
    return Plan(tuple(inputs), frozenset(addresses), tuple(consts), tuple(steps), out, len(slots))


def _unset(dsp: Any, node: object) -> bool:
    return node in dsp.default_values and dsp.default_values[node]["value"] is None


def run(plan: Plan, inputs: list[np.ndarray], cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of `cells` cells, given each input as an array (cells or 1, rows, cols), and
    which of them are good: a cell with a step that is not a finite number (an overflow, a log
    of 0: an error value in a spreadsheet) is not."""
    result, bad = _execute(plan, inputs)
    if result.shape[1:] != (1, 1):
        raise Unsupported("not one number per cell")
    values = np.broadcast_to(result.reshape(-1), (cells,)).astype(float)
    good = np.ones(cells, dtype=bool) if bad is None else ~np.broadcast_to(bad, (cells,))
    return values, good


def run_block(plan: Plan, inputs: list[np.ndarray], rows: int, cols: int) -> np.ndarray:
    """Values of one array formula over rows x cols cells. A result of another size is
    left to the cell-by-cell path (it pads with #N/A)."""
    result, bad = _execute(plan, inputs)
    if bad is not None:
        raise Unsupported("non-finite step")
    if result.shape[0] != 1:
        raise Unsupported("one array formula")
    out = result[0]
    if out.shape != (rows, cols) and not (out.shape[0] in (1, rows) and out.shape[1] in (1, cols)):
        raise Unsupported("array result of another size")
    return np.broadcast_to(out, (rows, cols)).astype(float)


def _execute(plan: Plan, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """The plan's result, and per cell whether some step was not finite (None: none was)."""
    values: list[np.ndarray | None] = [None] * plan.size
    for (_, s), arr in zip(plan.inputs, inputs, strict=True):
        values[s] = arr
    for s, arr in plan.consts:
        values[s] = arr
    bad: np.ndarray | None = None
    with np.errstate(all="ignore"):
        for impl, args, out in plan.steps:
            try:
                res = impl(*(values[a] for a in args))
            except Unsupported:
                raise
            except (ValueError, TypeError, IndexError) as exc:
                raise Unsupported(str(exc)) from None
            res = np.asarray(res)
            if res.ndim != 3:
                raise Unsupported("unexpected rank")
            if res.dtype.kind == "f" and not np.isfinite(res).all():
                # Cells do not mix along the first axis: only the cells whose own values are
                # not finite go cell by cell (all of them, for a value they share).
                cell_bad = ~np.isfinite(res).reshape(res.shape[0], -1).all(axis=1)
                bad = cell_bad if bad is None else bad | cell_bad
            values[out] = res
    result = values[plan.out]
    assert result is not None
    if result.dtype.kind not in "fiu":
        raise Unsupported("not numbers")
    return result, bad
