"""The linear steps and their gradients (copy, Z = X.W + b, dZ = A - Y, dW, db), each with its
NumPy form and formula forms side by side (as ops.py describes) and its registry entry."""

from __future__ import annotations

import numpy as np

from .block import Block
from .operation import Candidates, Op, Shape, as_block, bias_row, ones_row
from .scalars import N_NAME, Env


def _c_copy(i: int, j: int, here: str, a: Block) -> str:
    return a.ref(i, j, here)


def _a_copy(here: str, a: Block) -> str:
    return a.whole(here)


def _np_affine(env: Env, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w + b


def _c_affine(i: int, j: int, here: str, x: Block, w: Block, b: Block) -> str:
    # MMULT of a 1xF row by an Fx1 column is a scalar, so no implicit intersection is involved.
    return f"MMULT({x.row_range(i, here)},{w.col_range(j, here)})+{b.ref(0, j, here, row_abs=True)}"


def _a_affine(here: str, x: Block, w: Block, b: Block) -> str:
    return f"MMULT({x.whole(here)},{w.whole(here)})+{b.whole(here)}"


def _expect_affine(env: Env, shape: Shape, x, w, b) -> Candidates:
    # A sheet may hold one bias for every class, or the bias down a column.
    return [("X.W + b", as_block(shape, _np_affine(env, x, w, bias_row(b, w.shape[1]))))]


def _affine_mistakes(env: Env, shape: Shape, x, w, b) -> Candidates:
    return [("the bias is not added", as_block(shape, x @ w))]


def _np_delta(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return a - y


def _c_delta(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"{a.ref(i, j, here)}-{y.ref(i, j, here)}"


def _a_delta(here: str, a: Block, y: Block) -> str:
    return f"{a.whole(here)}-{y.whole(here)}"


def _delta_mistakes(env: Env, shape: Shape, a, y) -> Candidates:
    return [("Y - A has the opposite sign of A - Y", as_block(shape, _np_delta(env, y, a)))]


def _c_grad_w(i: int, j: int, here: str, a: Block, dz: Block) -> str:
    return f"SUMPRODUCT({a.col_range(i, here)},{dz.col_range(j, here)})/{N_NAME}"


def _a_grad_w(here: str, a: Block, dz: Block) -> str:
    return f"MMULT(TRANSPOSE({a.whole(here)}),{dz.whole(here)})/{N_NAME}"


def _np_grad_b(env: Env, dz: np.ndarray) -> np.ndarray:
    return dz.sum(axis=0, keepdims=True) / env.n


def _c_grad_b(i: int, j: int, here: str, dz: Block) -> str:
    return f"SUM({dz.col_range(j, here)})/{N_NAME}"


def _a_grad_b(here: str, dz: Block) -> str:
    return f"MMULT({ones_row(dz, here)},{dz.whole(here)})/{N_NAME}"


def _expect_grad_b(env: Env, shape: Shape, dz) -> Candidates:
    # One bias shared by every class gets the sum of the classes' gradients.
    db = _np_grad_b(env, dz)
    if shape == (1, 1):
        return [("SUM of dZ / N", np.array([[db.sum()]]))]
    return [("column sums of dZ / N", as_block(shape, db))]


LINEAR = (
    Op("copy", "P = New P of the previous epoch", lambda env, a: a.copy(), _c_copy, _a_copy,
       group="params", exact=True, verbatim=True),
    Op("affine", "Z = X.W + b", _np_affine, _c_affine, _a_affine, group="forward",
       expect=_expect_affine, mistakes=_affine_mistakes),
    Op("delta", "dZ = A - Y", _np_delta, _c_delta, _a_delta, group="backward",
       mistakes=_delta_mistakes),
    Op("grad_w", "dW = A_in' . dZ / N", lambda env, a, dz: a.T @ dz / env.n, _c_grad_w,
       _a_grad_w, group="backward", uses_n=True),
    Op("grad_b", "db = sum dZ / N", _np_grad_b, _c_grad_b, _a_grad_b, group="backward",
       uses_n=True, expect=_expect_grad_b),
)  # fmt: skip
