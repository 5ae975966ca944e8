"""Cell values as the evaluator holds them: blanks, error values, and each sheet's grids."""

from __future__ import annotations

import numpy as np
import schedula as sh
from formulas.tokens.operand import XlError

EMPTY = sh.EMPTY
XL_ERRORS = {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"}


def xl_error(code: str) -> XlError:
    """An error value as `formulas` itself makes them, so that it propagates through the
    formulas that read it (SUM, ISERROR, IFERROR...) the way a spreadsheet's does."""
    return XlError(code)


def is_error(v: object) -> bool:
    """Whether a cell value is a spreadsheet error (#VALUE!, #DIV/0!, ...)."""
    return isinstance(v, XlError) or (isinstance(v, str) and v in XL_ERRORS)


def input_value(v: object) -> object:
    """An entered value as formulas read it: numbers as floats, error texts as errors."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.startswith("#") and v.endswith(("!", "?", "A")):
        return XlError(v) if v in XL_ERRORS else v
    return v


def scalar(v: object) -> object:
    if isinstance(v, np.generic):
        return v.item()
    if v is EMPTY:
        return 0.0
    return v


def empty_grid(shape: tuple[int, int]) -> np.ndarray:
    """A grid of blank cells. Not np.full: it turns the EMPTY token (a str subclass) into the
    plain text "empty", which arithmetic then rejects with #VALUE! where a blank reads as 0."""
    grid = np.empty(shape, dtype=object)
    grid.fill(EMPTY)
    return grid


class Grids:
    """Cell values per sheet: objects (the truth), and a float copy of the numbers."""

    def __init__(self, shapes: list[tuple[int, int]]) -> None:
        self.obj = [empty_grid(shape) for shape in shapes]
        self.num = [np.zeros(shape) for shape in shapes]
        self.isnum = [np.zeros(shape, dtype=bool) for shape in shapes]

    def put(self, s: int, r: int, c: int, v: object) -> None:
        self.obj[s][r, c] = v
        numeric = isinstance(v, float) and not isinstance(v, bool)
        self.isnum[s][r, c] = numeric
        if numeric:
            self.num[s][r, c] = v

    def put_numbers(
        self, s: int, rows: np.ndarray | slice, cols: np.ndarray | slice, values: np.ndarray
    ) -> None:
        """Finite floats into many cells at once."""
        self.num[s][rows, cols] = values
        self.isnum[s][rows, cols] = True
        self.obj[s][rows, cols] = values  # NumPy makes a Python float of each
