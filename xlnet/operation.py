"""What an operation is (Op, a registry entry) and how a block it computes is graded (Check)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .block import Block
from .scalars import Env

Shape = tuple[int, int]
# A check's answer: (label, values) for every accepted form of a block, or for every mistake
# (the label is then the hint shown when a block holds those values).
Candidates = list[tuple[str, np.ndarray]]


class ShapeMismatch(ValueError):
    """Upstream blocks whose sizes do not fit together (a 5-value bias for 3 classes)."""


@dataclass(frozen=True)
class Check:
    """How a graded block is judged: the values it may hold, and the mistakes recognised."""

    name: str
    uses_n: bool  # divides by N: a result N times too large is "a missing 1/N"
    expect: Callable[..., Candidates]  # (env, shape, *args) -> accepted forms
    mistakes: Callable[..., Candidates] | None = None  # (env, shape, *args) -> (hint, values)


@dataclass(frozen=True)
class Op:
    """One operation: its NumPy form and its two formula forms side by side (see ops.py), and
    everything else xlnet knows about it."""

    name: str
    equation: str
    numpy: Callable[..., np.ndarray]  # (env, *args)
    cell: Callable[..., str]  # (i, j, here, *blocks): the formula of output cell (i, j)
    array: Callable[..., str] | None = None  # (here, *blocks): one array formula, or None
    whole: bool = False  # its results are whole numbers (codes, counts, 0/1): no decimals shown
    # The group an exercise gives or leaves blank (program.GROUPS); None for the data
    # preparation and the final summary, which every exercise gives.
    group: str | None = None
    # Its result is exact (a copy, a comparison, a count): verify forgives it no rounding.
    exact: bool = False
    # Its result is its input unchanged: verify allows it no difference at all.
    verbatim: bool = False
    # It picks the largest of its inputs: where two tie to the last digits, either is right.
    ties: bool = False
    backward: str | None = None  # an activation's: the op that back-propagates through it
    uses_n: bool = False  # divides by N
    # Grading: the forms a block may take, when the NumPy form in the block's shape is not all
    # (a bias entered as one scalar), and the values common wrong formulas give.
    expect: Callable[..., Candidates] | None = None  # (env, shape, *args)
    mistakes: Callable[..., Candidates] | None = None  # (env, shape, *args)

    @property
    def check(self) -> Check:
        """How a block this operation computes is graded."""
        return Check(self.name, self.uses_n, self.expect or self._numpy_form, self.mistakes)

    def _numpy_form(self, env: Env, shape: Shape, *args: np.ndarray) -> Candidates:
        return [(self.equation, as_block(shape, self.numpy(env, *args)))]


def as_block(shape: Shape, values: np.ndarray) -> np.ndarray:
    """`values` in the block's own orientation (a bias gradient down a column, say)."""
    if values.shape == shape:
        return values
    if values.size == shape[0] * shape[1]:
        return values.reshape(shape)
    raise ShapeMismatch(
        f"{values.shape[0]}x{values.shape[1]} values for a {shape[0]}x{shape[1]} block"
    )


def bias_row(b: np.ndarray, k: int) -> np.ndarray:
    """A bias as a 1xK row: one scalar broadcast to every column, or one value per column
    (entered down a column or across a row)."""
    if b.size == 1:
        return np.full((1, k), float(b.ravel()[0]))
    if b.size != k:
        raise ShapeMismatch(f"a bias of {b.size} values for {k} columns")
    return b.reshape(1, k)


def ones_col(block: Block, here: str) -> str:
    """A Kx1 column of ones as wide as `block` (its first row times 0, plus 1, transposed):
    MMULT(M, ones) sums the rows of M without COLUMN() or SEQUENCE()."""
    return f"TRANSPOSE({block.row_range(0, here)}*0+1)"


def ones_row(block: Block, here: str) -> str:
    """A 1xN row of ones as tall as `block`: MMULT(ones, M) sums the columns of M."""
    return f"TRANSPOSE({block.col_range(0, here)}*0+1)"
