"""Every operation of the training, its NumPy form and its spreadsheet formula side by side.

A formula form gets the output cell (i, j), the sheet it is written on, and the blocks of its
inputs; it returns the formula text without "=". Only functions that Excel 2010+ and
LibreOffice 7.4 both compute are used; array math stays inside SUMPRODUCT or a scalar MMULT so
that no formula depends on implicit intersection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layout import LR_NAME, N_NAME, Block

# Guards shared by both forms, so that NumPy and the sheet agree even where they bite.
# EXP overflows above ~709.78 in Excel; a sigmoid input is clamped to +-EXP_CLAMP first.
EXP_CLAMP = 700.0
# LN(0) is an error in every engine; adding TINY changes no probability above ~1e-284.
TINY = 1e-300
TINY_TEXT = "1E-300"


@dataclass(frozen=True)
class Env:
    """The scalar inputs the NumPy forms need: learning rate and the sample count N."""

    lr: float
    n: float


@dataclass(frozen=True)
class Op:
    name: str
    equation: str
    numpy: Callable[..., np.ndarray]
    formula: Callable[..., str]


def _f_copy(i: int, j: int, here: str, a: Block) -> str:
    return a.ref(i, j, here)


def _f_affine(i: int, j: int, here: str, x: Block, w: Block, b: Block) -> str:
    # MMULT of a 1xF row by an Fx1 column is a scalar, so no implicit intersection is involved.
    return f"MMULT({x.row_range(i, here)},{w.col_range(j, here)})+{b.ref(0, j, here, row_abs=True)}"


def _f_tanh(i: int, j: int, here: str, z: Block) -> str:
    return f"TANH({z.ref(i, j, here)})"


def _np_sigmoid(env: Env, z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -EXP_CLAMP, EXP_CLAMP)))


def _f_sigmoid(i: int, j: int, here: str, z: Block) -> str:
    c = f"{EXP_CLAMP:g}"
    return f"1/(1+EXP(-MAX(-{c},MIN({c},{z.ref(i, j, here)}))))"


def _np_softmax(env: Env, z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _f_softmax(i: int, j: int, here: str, z: Block) -> str:
    # Subtracting the row max keeps every exponent <= 0: no overflow whatever the weights.
    row = z.row_range(i, here)
    return f"EXP({z.ref(i, j, here)}-MAX({row}))/SUMPRODUCT(EXP({row}-MAX({row})))"


def _np_ce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * np.log(a + TINY)).sum(axis=1, keepdims=True)


def _f_ce(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"-SUMPRODUCT({y.row_range(i, here)},LN({a.row_range(i, here)}+{TINY_TEXT}))"


def _np_bce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    terms = y * np.log(a + TINY) + (1 - y) * np.log(1 - a + TINY)
    return -terms.sum(axis=1, keepdims=True)


def _f_bce(i: int, j: int, here: str, a: Block, y: Block) -> str:
    ar, yr = a.row_range(i, here), y.row_range(i, here)
    return f"-SUMPRODUCT({yr},LN({ar}+{TINY_TEXT}))-SUMPRODUCT(1-{yr},LN(1-{ar}+{TINY_TEXT}))"


def _f_mean_rows(i: int, j: int, here: str, s: Block) -> str:
    return f"SUM({s.col_range(0, here)})/{N_NAME}"


def _np_predict(env: Env, a: np.ndarray, classes: np.ndarray) -> np.ndarray:
    # argmax and MATCH both take the first of equal maxima.
    return classes[0, a.argmax(axis=1)][:, None]


def _f_predict(i: int, j: int, here: str, a: Block, classes: Block) -> str:
    row = a.row_range(i, here)
    return f"INDEX({classes.whole(here)},1,MATCH(MAX({row}),{row},0))"


def _np_accuracy(env: Env, pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    return np.array([[float((pred == label).sum()) / env.n]])


def _f_accuracy(i: int, j: int, here: str, pred: Block, label: Block) -> str:
    # (a=b)*1, not --(a=b): formulas 1.3.4 evaluates --(array=array) to 0.
    return f"SUMPRODUCT(({pred.whole(here)}={label.whole(here)})*1)/{N_NAME}"


def _f_delta(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"{a.ref(i, j, here)}-{y.ref(i, j, here)}"


def _f_grad_w(i: int, j: int, here: str, a: Block, dz: Block) -> str:
    return f"SUMPRODUCT({a.col_range(i, here)},{dz.col_range(j, here)})/{N_NAME}"


def _f_grad_b(i: int, j: int, here: str, dz: Block) -> str:
    return f"SUM({dz.col_range(j, here)})/{N_NAME}"


def _np_back_tanh(env: Env, dz: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (dz @ w.T) * (1 - a**2)


def _f_back_tanh(i: int, j: int, here: str, dz: Block, w: Block, a: Block) -> str:
    return f"SUMPRODUCT({dz.row_range(i, here)},{w.row_range(j, here)})*(1-{a.ref(i, j, here)}^2)"


def _f_sgd(i: int, j: int, here: str, p: Block, g: Block) -> str:
    return f"{p.ref(i, j, here)}-{LR_NAME}*{g.ref(i, j, here)}"


def _f_col_mean(i: int, j: int, here: str, raw: Block) -> str:
    return f"AVERAGE({raw.col_range(j, here)})"


def _f_col_std(i: int, j: int, here: str, raw: Block) -> str:
    return f"_xlfn.STDEV.P({raw.col_range(j, here)})"


def _f_zscore(i: int, j: int, here: str, raw: Block, mean: Block, std: Block) -> str:
    m, s = mean.ref(0, j, here, row_abs=True), std.ref(0, j, here, row_abs=True)
    return f"({raw.ref(i, j, here)}-{m})/{s}"


def _np_onehot(env: Env, label: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return (label == classes).astype(float)


def _f_onehot(i: int, j: int, here: str, label: Block, classes: Block) -> str:
    lab = label.ref(i, 0, here, col_abs=True)
    return f"IF({lab}={classes.ref(0, j, here, row_abs=True)},1,0)"


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("copy", "P = P_prev", lambda env, a: a.copy(), _f_copy),
        Op("affine", "Z = X.W + b", lambda env, x, w, b: x @ w + b, _f_affine),
        Op("tanh", "A = tanh(Z)", lambda env, z: np.tanh(z), _f_tanh),
        Op("sigmoid", "A = 1/(1+exp(-clamp(Z, +-700)))", _np_sigmoid, _f_sigmoid),
        Op("softmax", "A = exp(Z - max Z) / sum exp(Z - max Z)", _np_softmax, _f_softmax),
        Op("cross_entropy", "L = -sum_k Y ln(A + 1e-300)", _np_ce, _f_ce),
        Op(
            "binary_cross_entropy",
            "L = -sum_k [Y ln(A + 1e-300) + (1-Y) ln(1-A + 1e-300)]",
            _np_bce,
            _f_bce,
        ),
        Op("mean", "loss = sum L / N", lambda env, s: s.sum(keepdims=True) / env.n, _f_mean_rows),
        Op("predict", "class with the largest A", _np_predict, _f_predict),
        Op("accuracy", "share of samples whose prediction is the label", _np_accuracy, _f_accuracy),
        Op("delta", "dZ = A - Y", lambda env, a, y: a - y, _f_delta),
        Op("grad_w", "dW = A_in' . dZ / N", lambda env, a, dz: a.T @ dz / env.n, _f_grad_w),
        Op(
            "grad_b",
            "db = sum dZ / N",
            lambda env, dz: dz.sum(axis=0, keepdims=True) / env.n,
            _f_grad_b,
        ),
        Op("back_tanh", "dZ1 = (dZ2 . W2') * (1 - A1^2)", _np_back_tanh, _f_back_tanh),
        Op("sgd", "P_new = P - learning_rate * dP", lambda env, p, g: p - env.lr * g, _f_sgd),
        Op(
            "col_mean",
            "mean of each raw column",
            lambda env, r: r.mean(axis=0, keepdims=True),
            _f_col_mean,
        ),
        Op(
            "col_std",
            "population standard deviation of each raw column",
            lambda env, r: r.std(axis=0, keepdims=True),
            _f_col_std,
        ),
        Op("zscore", "X = (raw - mean) / std", lambda env, r, m, s: (r - m) / s, _f_zscore),
        Op("onehot", "Y = 1 where the label is the class, else 0", _np_onehot, _f_onehot),
    )
}
