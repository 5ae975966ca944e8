"""Evaluates many cells that share one formula in a single vectorised NumPy step.

A formula is parsed by `formulas` (its parser and AST builder); its graph of operators and
functions is turned into a plan over NumPy arrays with a leading axis for the cells, so a block
of 890 cells filled with the same relative formula costs one call per operator instead of 890.
Only operators and functions listed in IMPLEMENTATIONS are planned; a formula using anything
else, or a group whose inputs are not all numbers, or whose result is not a finite number per
cell, is left to the cell-by-cell path (formulas' own functions), which yields the spreadsheet's
error values and text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class Unsupported(Exception):
    """This group cannot be computed here; use the cell-by-cell path."""


def _reduce(a: np.ndarray, fn) -> np.ndarray:
    return fn(a, axis=(1, 2), keepdims=True)


def _sum(*args: np.ndarray) -> np.ndarray:
    return sum(_reduce(a, np.sum) for a in args)


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
    return np.where(cond != 0, yes, no)


def _index(*args: np.ndarray) -> np.ndarray:
    # formulas passes a leading flag before INDEX's own arguments.
    if len(args) != 4:
        raise Unsupported("INDEX with other than (array, row, column)")
    _, arr, row, col = args
    g = max(arr.shape[0], row.shape[0], col.shape[0])
    r = np.broadcast_to(row, (g, 1, 1)).reshape(g).astype(int) - 1
    c = np.broadcast_to(col, (g, 1, 1)).reshape(g).astype(int) - 1
    if (r < 0).any() or (c < 0).any() or (r >= arr.shape[1]).any() or (c >= arr.shape[2]).any():
        raise Unsupported("INDEX out of range is #REF!")
    full = np.broadcast_to(arr, (g, *arr.shape[1:]))
    return full[np.arange(g), r, c].reshape(g, 1, 1)


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


IMPLEMENTATIONS: dict[str, Callable[..., np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
    "U-": np.negative, "U+": lambda a: a, "%": lambda a: a / 100.0,
    "=": np.equal, "<>": np.not_equal, "<": np.less, ">": np.greater,
    "<=": np.less_equal, ">=": np.greater_equal,
    "EXP": np.exp, "LN": np.log, "TANH": np.tanh, "ABS": np.abs, "SQRT": np.sqrt,
    "SUM": _sum, "AVERAGE": _average, "MAX": _max, "MIN": _min,
    "SUMPRODUCT": _sumproduct, "MMULT": _mmult, "TRANSPOSE": lambda a: a.swapaxes(1, 2),
    "STDEV.P": _stdev_p, "_XLFN.STDEV.P": _stdev_p,
    "IF": _if, "INDEX": _index, "MATCH": _match, "BYPASS": lambda a: a,
}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """Straight-line program: slots hold arrays shaped (cells or 1, rows, cols)."""

    inputs: tuple[tuple[str, int], ...]  # formulas' name of each reference input, its slot
    consts: tuple[tuple[int, np.ndarray], ...]
    steps: tuple[tuple[Callable[..., np.ndarray], tuple[int, ...], int], ...]
    out: int
    size: int  # number of slots


def make_plan(builder) -> Plan | None:
    """A Plan from a `formulas` AST builder, or None when the formula uses anything else."""
    dsp = builder.dsp
    functions = sorted(
        ((k, v) for k, v in dsp.nodes.items() if v["type"] == "function"),
        key=lambda kv: kv[1].get("index", (0,)),
    )
    produced = {o for _, v in functions for o in v["outputs"]}
    slots: dict[object, int] = {}
    inputs: list[str] = []
    consts: list[tuple[int, np.ndarray]] = []

    def slot(node) -> int:
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
            inputs.append(node)
        else:
            raise Unsupported(f"input {node!r}")
        return slots[node]

    try:
        steps = []
        for fid, spec in functions:
            name = str(fid).split("<")[0].upper()
            impl = IMPLEMENTATIONS.get(name)
            if impl is None or len(spec["outputs"]) != 1:
                return None
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
    return Plan(tuple((n, slots[n]) for n in inputs), tuple(consts), tuple(steps), out, len(slots))


def run(plan: Plan, inputs: list[np.ndarray], cells: int) -> np.ndarray:
    """Values of `cells` cells, given each input as an array (cells or 1, rows, cols)."""
    result = _execute(plan, inputs)
    if result.shape[1:] != (1, 1):
        raise Unsupported("not one number per cell")
    return np.broadcast_to(result.reshape(-1), (cells,)).astype(float)


def run_block(plan: Plan, inputs: list[np.ndarray], rows: int, cols: int) -> np.ndarray:
    """Values of one array formula over rows x cols cells. A result of another size is
    left to the cell-by-cell path (it pads with #N/A)."""
    result = _execute(plan, inputs)
    if result.shape[0] != 1:
        raise Unsupported("one array formula")
    out = result[0]
    if out.shape != (rows, cols) and not (out.shape[0] in (1, rows) and out.shape[1] in (1, cols)):
        raise Unsupported("array result of another size")
    return np.broadcast_to(out, (rows, cols)).astype(float)


def _execute(plan: Plan, inputs: list[np.ndarray]) -> np.ndarray:
    values: list[np.ndarray | None] = [None] * plan.size
    for (_, s), arr in zip(plan.inputs, inputs, strict=True):
        values[s] = arr
    for s, arr in plan.consts:
        values[s] = arr
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
                # An overflow or a log of 0 is an error value in a spreadsheet.
                raise Unsupported("non-finite intermediate")
            values[out] = res
    result = values[plan.out]
    assert result is not None
    if result.dtype.kind not in "fiu":
        raise Unsupported("not numbers")
    return result
