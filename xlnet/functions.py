"""formulas' function library, loaded without importing scipy until a function needs it.

formulas imports all its function modules at the first parse, and its statistics module
imports scipy.stats, scipy.linalg and scipy.interpolate at the top: about a second of CPU at
every start, more than recomputing a 100,000-cell sheet. Training sheets never call those
distributions (NORM.DIST, T.TEST...). While that module loads, stand-ins take the place of the
three scipy modules; each imports the real module the first time a function touches it, so a
sheet that does use them computes exactly as before.
"""

from __future__ import annotations

import functools
import importlib
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
from formulas.functions import Array
from formulas.tokens.operand import XlError

_STAT = "formulas.functions.stat"
_DEFERRED = ("scipy.stats", "scipy.linalg", "scipy.interpolate")


class _Deferred(types.ModuleType):
    """A module whose attributes are looked up in the real one, imported on first use."""

    def __getattr__(self, name: str) -> _Attribute:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Attribute(self.__name__, name)


class _Attribute:
    """scipy.stats.norm, interp1d...: resolved, and the module imported, when used."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def _real(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def load() -> None:
    """Import formulas' statistics module with scipy deferred (once; a no-op when scipy.stats
    is loaded already, when the module is, or if the stand-ins do not fit this formulas)."""
    if _STAT in sys.modules or any(name in sys.modules for name in _DEFERRED):
        return
    try:
        import scipy  # noqa: F401  (the package itself is cheap; its submodules are not)
    except ImportError:
        return
    for name in _DEFERRED:
        sys.modules[name] = _Deferred(name)
    try:
        importlib.import_module(_STAT)
    except Exception:
        sys.modules.pop(_STAT, None)
    finally:
        for name in _DEFERRED:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]


# --- functions that read where a reference is -----------------------------------------------
# formulas' own ROW, COLUMN, ROWS, COLUMNS and AREAS read the address of a `Ranges` object;
# the evaluator passes plain arrays of values, on which they fail (#VALUE!). A reference that
# feeds them is passed as an `Addressed` array instead, and these stand in for formulas'.


class Addressed(np.ndarray):
    """A range's values that also say where the range is: (first row, first column, rows,
    columns), rows and columns counted from 1. Arrays made from it (slices, sums) do not."""

    address: tuple[int, int, int, int] | None = None


def addressed(values: np.ndarray, row: int, col: int, rows: int, cols: int) -> Addressed:
    """`values` (0-based `row`, `col`; `rows` x `cols`, which may reach past `values`, as a
    whole column does) as an Addressed view."""
    out = values.view(Addressed)
    out.address = (row + 1, col + 1, rows, cols)
    return out


def _error(code: str) -> np.ndarray:
    return np.asarray([[XlError(code)]], object).view(Array)


def _line(ref: object, axis: int) -> object:
    """ROW (axis 0) or COLUMN (1): the rows or columns of a reference, as a column or row."""
    at = getattr(ref, "address", None)
    if at is None:
        return ref if isinstance(ref, XlError) else _error("#VALUE!")  # not a reference
    out = at[axis] + np.arange(at[2 + axis], dtype=float)
    return out.reshape((-1, 1) if axis == 0 else (1, -1)).view(Array)


def _count(ref: object, axis: int) -> object:
    """ROWS (axis 0) or COLUMNS (1) of a reference, or of an array (ROWS({1;2;3}) is 3)."""
    at = getattr(ref, "address", None)
    if at is not None:
        return float(at[2 + axis])
    if isinstance(ref, XlError):
        return ref
    if isinstance(ref, np.ndarray):
        return float(np.atleast_2d(ref).shape[axis])
    return 1.0  # one value


def _row(_cell: object = None, ref: object = None) -> object:
    return _line(ref, 0)  # ROW() is given its own cell before parsing (refs.own_cell)


def _column(_cell: object = None, ref: object = None) -> object:
    return _line(ref, 1)


def _areas(ref: object) -> object:
    return 1.0 if getattr(ref, "address", None) is not None else _error("#VALUE!")


ADDRESS: dict[str, Callable[..., object]] = {  # one for each of refs.ADDRESS_FUNCTIONS
    "ROW": _row,
    "COLUMN": _column,
    "ROWS": functools.partial(_count, axis=0),
    "COLUMNS": functools.partial(_count, axis=1),
    "AREAS": _areas,
}


def _whole_number(x: object) -> int | None:
    """An INDEX position that is a number (truncated, as Excel does), else None."""
    if isinstance(x, np.ndarray):
        if x.size != 1:
            return None
        x = x.reshape(-1)[0]
    if isinstance(x, bool | np.bool_) or not isinstance(x, int | float | np.integer | np.floating):
        return None
    return int(x) if np.isfinite(x) else None


def index(original: Callable[..., object]) -> Callable[..., object]:
    """formulas' INDEX, which reads a row or column of 0 as the first one, with Excel's
    meaning of 0 added: INDEX(a,0,c) is column c of `a`, INDEX(a,r,0) row r, INDEX(a,0,0)
    and INDEX(a,0) all of it. Anything else goes to formulas' own."""

    def wrapped(*args: object) -> object:
        # formulas passes a leading flag (whether it is only compiling) before INDEX's own.
        flag, array, *pos = args
        if flag or not isinstance(array, np.ndarray) or array.ndim != 2 or len(pos) not in (1, 2):
            return original(*args)
        # INDEX(a,n) without a column is formulas' own unless n is 0 (a row or an element).
        r, c = _whole_number(pos[0]), (_whole_number(pos[1]) if len(pos) == 2 else 0)
        if r is None or c is None or r < 0 or c < 0 or (r and c) or (len(pos) == 1 and r):
            return original(*args)
        h, w = array.shape
        if r > h or c > w:
            return _error("#REF!")
        rows = slice(r - 1, r) if r else slice(None)
        cols = slice(c - 1, c) if c else slice(None)
        return np.array(array[rows, cols], dtype=object).view(Array)

    return functools.update_wrapper(wrapped, original)
