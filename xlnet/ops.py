"""Every operation of the training, its NumPy form and its spreadsheet formula side by side.

Two formula forms per operation:
- `cell(i, j, here, *blocks)`: the formula of output cell (i, j), for the `cells` layout (one
  formula per scalar). Array math stays inside SUMPRODUCT or a scalar MMULT, so that no formula
  depends on implicit intersection; only aggregates (SUMPRODUCT, SUM, MAX, MMULT, INDEX, ...)
  take a range, never LN, EXP, TANH or IF (tests/test_portability.py scans every formula).
- `array(here, *blocks)`: one legacy (CSE) array formula over the whole output block, for the
  `arrays` layout: MMULT for the linear steps, TRANSPOSE for X', element-wise expressions, a
  1xK bias row broadcast over the rows. None where a block is best written cell by cell.
`here` is the sheet the formula is written on; the text has no leading "=". Only functions that
Excel 2010+ and LibreOffice 7.4 both compute are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .layout import BETA1_NAME, BETA2_NAME, EPS_NAME, LR_NAME, MOMENTUM_NAME, N_NAME, Block

# Guards shared by both forms, so that NumPy and the sheet agree even where they bite.
# EXP overflows above ~709.78 in Excel; a sigmoid input is clamped to +-EXP_CLAMP first.
EXP_CLAMP = 700.0
# LN(0) is an error in every engine; adding TINY changes no probability above ~1e-284.
TINY = 1e-300
TINY_TEXT = "1E-300"


@dataclass(frozen=True)
class Env:
    """The scalar inputs the NumPy forms need: learning rate, the sample count N and the
    optimizers' hyperparameters (each a named input cell in the workbook)."""

    lr: float
    n: float
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8


@dataclass(frozen=True)
class Op:
    name: str
    equation: str
    numpy: Callable[..., np.ndarray]
    cell: Callable[..., str]
    array: Callable[..., str] | None = None
    whole: bool = False  # its results are whole numbers (codes, counts, 0/1): no decimals shown


def _ones_col(block: Block, here: str) -> str:
    """A Kx1 column of ones as wide as `block` (its first row times 0, plus 1, transposed):
    MMULT(M, ones) sums the rows of M without COLUMN() or SEQUENCE()."""
    return f"TRANSPOSE({block.row_range(0, here)}*0+1)"


def _ones_row(block: Block, here: str) -> str:
    """A 1xN row of ones as tall as `block`: MMULT(ones, M) sums the columns of M."""
    return f"TRANSPOSE({block.col_range(0, here)}*0+1)"


def _clamped(x: str) -> str:
    """Element-wise clamp to +-EXP_CLAMP inside an array formula (MIN and MAX would aggregate)."""
    c = f"{EXP_CLAMP:g}"
    return f"IF({x}>{c},{c},IF({x}<-{c},-{c},{x}))"


# --- copies and linear steps ------------------------------------------------------------


def _c_copy(i: int, j: int, here: str, a: Block) -> str:
    return a.ref(i, j, here)


def _a_copy(here: str, a: Block) -> str:
    return a.whole(here)


def _c_affine(i: int, j: int, here: str, x: Block, w: Block, b: Block) -> str:
    # MMULT of a 1xF row by an Fx1 column is a scalar, so no implicit intersection is involved.
    return f"MMULT({x.row_range(i, here)},{w.col_range(j, here)})+{b.ref(0, j, here, row_abs=True)}"


def _a_affine(here: str, x: Block, w: Block, b: Block) -> str:
    return f"MMULT({x.whole(here)},{w.whole(here)})+{b.whole(here)}"


# --- activations --------------------------------------------------------------------------


def _c_tanh(i: int, j: int, here: str, z: Block) -> str:
    return f"TANH({z.ref(i, j, here)})"


def _a_tanh(here: str, z: Block) -> str:
    return f"TANH({z.whole(here)})"


def _np_sigmoid(env: Env, z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -EXP_CLAMP, EXP_CLAMP)))


def _c_sigmoid(i: int, j: int, here: str, z: Block) -> str:
    c = f"{EXP_CLAMP:g}"
    return f"1/(1+EXP(-MAX(-{c},MIN({c},{z.ref(i, j, here)}))))"


def _a_sigmoid(here: str, z: Block) -> str:
    return f"1/(1+EXP(-{_clamped(z.whole(here))}))"


def _np_relu(env: Env, z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, 0.0)


def _c_relu(i: int, j: int, here: str, z: Block) -> str:
    return f"MAX(0,{z.ref(i, j, here)})"


def _a_relu(here: str, z: Block) -> str:
    # MAX would aggregate the whole array; IF is element-wise.
    return f"IF({z.whole(here)}>0,{z.whole(here)},0)"


def _c_row_max(i: int, j: int, here: str, z: Block) -> str:
    return f"MAX({z.row_range(i, here)})"


def _c_exp_shift(i: int, j: int, here: str, z: Block, m: Block) -> str:
    # Softmax is unchanged by subtracting a constant per row; subtracting the row's largest Z
    # keeps every exponent <= 0 (no overflow) and the row's largest E at 1 (no 0/0).
    return f"EXP({z.ref(i, j, here)}-{m.ref(i, 0, here, col_abs=True)})"


def _a_exp_shift(here: str, z: Block, m: Block) -> str:
    # An NxK block minus an Nx1 column: the column is broadcast across the row.
    return f"EXP({z.whole(here)}-{m.whole(here)})"


def _c_normalise(i: int, j: int, here: str, e: Block) -> str:
    return f"{e.ref(i, j, here)}/SUM({e.row_range(i, here)})"


def _a_normalise(here: str, e: Block) -> str:
    return f"{e.whole(here)}/MMULT({e.whole(here)},{_ones_col(e, here)})"


# --- losses and scores --------------------------------------------------------------------


# In a plain cell no function but an aggregate may take a range: LN(range) inside SUMPRODUCT is
# intersected to one cell (#VALUE!) by some spreadsheet programs. So the losses take LN of single
# cells only: Y is one-hot, so sum_k Y ln(A) = ln(sum_k Y A), one LN of a SUMPRODUCT; the binary
# cross-entropy is written out class by class (K <= 10). The NumPy forms follow the formulas'
# order of operations, so the sheet and NumPy agree to the last bit where the engines round alike.


def _np_ce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.log((y * a).sum(axis=1, keepdims=True) + TINY)


def _c_ce(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"-LN(SUMPRODUCT({y.row_range(i, here)},{a.row_range(i, here)})+{TINY_TEXT})"


def _a_ce(here: str, a: Block, y: Block) -> str:
    return f"-LN(MMULT({y.whole(here)}*{a.whole(here)},{_ones_col(y, here)})+{TINY_TEXT})"


def _bce_terms(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return y * np.log(a + TINY) + (1 - y) * np.log(1 - a + TINY)


def _np_bce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    # -(t1)-(t2)-...: subtracted class by class, as the cell formula does.
    out = np.zeros((a.shape[0], 1))
    for term in _bce_terms(a, y).T:
        out = out - term[:, None]
    return out


def _c_bce(i: int, j: int, here: str, a: Block, y: Block) -> str:
    terms = []
    for k in range(a.ncols):
        ak, yk = a.ref(i, k, here, col_abs=True), y.ref(i, k, here, col_abs=True)
        terms.append(f"-({yk}*LN({ak}+{TINY_TEXT})+(1-{yk})*LN(1-{ak}+{TINY_TEXT}))")
    return "".join(terms)


def _a_bce(here: str, a: Block, y: Block) -> str:
    aw, yw = a.whole(here), y.whole(here)
    terms = f"{yw}*LN({aw}+{TINY_TEXT})+(1-{yw})*LN(1-{aw}+{TINY_TEXT})"
    return f"-MMULT({terms},{_ones_col(y, here)})"


def _c_mean_rows(i: int, j: int, here: str, s: Block) -> str:
    return f"SUM({s.col_range(0, here)})/{N_NAME}"


def _np_predict(env: Env, a: np.ndarray, classes: np.ndarray) -> np.ndarray:
    # argmax and MATCH both take the first of equal maxima.
    return classes[0, a.argmax(axis=1)][:, None]


def _c_predict(i: int, j: int, here: str, a: Block, classes: Block) -> str:
    row = a.row_range(i, here)
    return f"INDEX({classes.whole(here)},1,MATCH(MAX({row}),{row},0))"


def _np_accuracy(env: Env, pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    return np.array([[float((pred == label).sum()) / env.n]])


def _c_accuracy(i: int, j: int, here: str, pred: Block, label: Block) -> str:
    # (a=b)*1, not --(a=b): formulas 1.3.4 evaluates --(array=array) to 0.
    return f"SUMPRODUCT(({pred.whole(here)}={label.whole(here)})*1)/{N_NAME}"


# --- gradients and updates ----------------------------------------------------------------


def _c_delta(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"{a.ref(i, j, here)}-{y.ref(i, j, here)}"


def _a_delta(here: str, a: Block, y: Block) -> str:
    return f"{a.whole(here)}-{y.whole(here)}"


def _c_grad_w(i: int, j: int, here: str, a: Block, dz: Block) -> str:
    return f"SUMPRODUCT({a.col_range(i, here)},{dz.col_range(j, here)})/{N_NAME}"


def _a_grad_w(here: str, a: Block, dz: Block) -> str:
    return f"MMULT(TRANSPOSE({a.whole(here)}),{dz.whole(here)})/{N_NAME}"


def _c_grad_b(i: int, j: int, here: str, dz: Block) -> str:
    return f"SUM({dz.col_range(j, here)})/{N_NAME}"


def _a_grad_b(here: str, dz: Block) -> str:
    return f"MMULT({_ones_row(dz, here)},{dz.whole(here)})/{N_NAME}"


def _np_back_tanh(env: Env, dz: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (dz @ w.T) * (1 - a * a)


# Squares are written A*A, never A^2: LibreOffice's ^ gives #NUM! when the result underflows
# (1E-170^2) and is not correctly rounded, while a product is exact to the last bit everywhere.
def _c_back_tanh(i: int, j: int, here: str, dz: Block, w: Block, a: Block) -> str:
    ref = a.ref(i, j, here)
    return f"SUMPRODUCT({dz.row_range(i, here)},{w.row_range(j, here)})*(1-{ref}*{ref})"


def _a_back_tanh(here: str, dz: Block, w: Block, a: Block) -> str:
    aw = a.whole(here)
    return f"MMULT({dz.whole(here)},TRANSPOSE({w.whole(here)}))*(1-{aw}*{aw})"


def _np_back_sigmoid(env: Env, dz: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    return (dz @ w.T) * a * (1 - a)


def _c_back_sigmoid(i: int, j: int, here: str, dz: Block, w: Block, a: Block) -> str:
    ref = a.ref(i, j, here)
    return f"SUMPRODUCT({dz.row_range(i, here)},{w.row_range(j, here)})*{ref}*(1-{ref})"


def _a_back_sigmoid(here: str, dz: Block, w: Block, a: Block) -> str:
    aw = a.whole(here)
    return f"MMULT({dz.whole(here)},TRANSPOSE({w.whole(here)}))*{aw}*(1-{aw})"


def _np_back_relu(env: Env, dz: np.ndarray, w: np.ndarray, a: np.ndarray) -> np.ndarray:
    # The derivative at 0 is taken as 0: A = MAX(0, Z) is 0 there, and A > 0 is FALSE in
    # every engine, so Excel, LibreOffice and NumPy agree.
    return (dz @ w.T) * (a > 0)


def _c_back_relu(i: int, j: int, here: str, dz: Block, w: Block, a: Block) -> str:
    row = f"SUMPRODUCT({dz.row_range(i, here)},{w.row_range(j, here)})"
    return f"{row}*IF({a.ref(i, j, here)}>0,1,0)"


def _a_back_relu(here: str, dz: Block, w: Block, a: Block) -> str:
    return f"MMULT({dz.whole(here)},TRANSPOSE({w.whole(here)}))*IF({a.whole(here)}>0,1,0)"


def _c_sgd(i: int, j: int, here: str, p: Block, g: Block) -> str:
    return f"{p.ref(i, j, here)}-{LR_NAME}*{g.ref(i, j, here)}"


def _a_sgd(here: str, p: Block, g: Block) -> str:
    return f"{p.whole(here)}-{LR_NAME}*{g.whole(here)}"


# --- optimizer state: momentum's velocity, Adam's moments and step count -------------------


def _c_velocity(i: int, j: int, here: str, v: Block, g: Block) -> str:
    return f"{MOMENTUM_NAME}*{v.ref(i, j, here)}+{g.ref(i, j, here)}"


def _a_velocity(here: str, v: Block, g: Block) -> str:
    return f"{MOMENTUM_NAME}*{v.whole(here)}+{g.whole(here)}"


def _c_moment1(i: int, j: int, here: str, m: Block, g: Block) -> str:
    return f"{BETA1_NAME}*{m.ref(i, j, here)}+(1-{BETA1_NAME})*{g.ref(i, j, here)}"


def _a_moment1(here: str, m: Block, g: Block) -> str:
    return f"{BETA1_NAME}*{m.whole(here)}+(1-{BETA1_NAME})*{g.whole(here)}"


def _c_moment2(i: int, j: int, here: str, s: Block, g: Block) -> str:
    ref = g.ref(i, j, here)
    return f"{BETA2_NAME}*{s.ref(i, j, here)}+(1-{BETA2_NAME})*{ref}*{ref}"


def _a_moment2(here: str, s: Block, g: Block) -> str:
    gw = g.whole(here)
    return f"{BETA2_NAME}*{s.whole(here)}+(1-{BETA2_NAME})*{gw}*{gw}"


# Adam's bias correction divides by 1 - beta^t. beta^t is carried from epoch to epoch as a
# running product (beta * its previous value, 1 before the first epoch), not written beta^t:
# LibreOffice's ^ gives #NUM! once beta^t underflows (0.1^400) and rounds differently from
# NumPy's; a product underflows to 0 and is the same double in every engine.
def _c_decay_power(name: str):
    def cell(i: int, j: int, here: str, prev: Block) -> str:
        return f"{name}*{prev.ref(0, 0, here)}"

    return cell


def _np_adam(env: Env, p: np.ndarray, m: np.ndarray, s: np.ndarray, b1t, b2t) -> np.ndarray:
    m_hat = m / (1 - b1t[0, 0])
    s_hat = s / (1 - b2t[0, 0])
    return p - env.lr * m_hat / (np.sqrt(s_hat) + env.epsilon)


def _adam_text(p: str, m: str, s: str, b1t: str, b2t: str) -> str:
    return f"{p}-{LR_NAME}*({m}/(1-{b1t}))/(SQRT({s}/(1-{b2t}))+{EPS_NAME})"


def _c_adam(i: int, j: int, here: str, p: Block, m: Block, s: Block, b1t: Block, b2t: Block):
    b1, b2 = (b.ref(0, 0, here, row_abs=True, col_abs=True) for b in (b1t, b2t))
    return _adam_text(p.ref(i, j, here), m.ref(i, j, here), s.ref(i, j, here), b1, b2)


def _a_adam(here: str, p: Block, m: Block, s: Block, b1t: Block, b2t: Block) -> str:
    return _adam_text(p.whole(here), m.whole(here), s.whole(here), b1t.whole(here),
                      b2t.whole(here))  # fmt: skip


# --- held-out evaluation ------------------------------------------------------------------


def _np_test_accuracy(env: Env, pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    return np.array([[float((pred == label).sum()) / pred.shape[0]]])


def _c_test_accuracy(i: int, j: int, here: str, pred: Block, label: Block) -> str:
    # Divided by the count of held-out labels: n_samples is the training set's N.
    lab = label.whole(here)
    return f"SUMPRODUCT(({pred.whole(here)}={lab})*1)/COUNT({lab})"


def _np_confusion(env: Env, label: np.ndarray, pred: np.ndarray, classes: np.ndarray):
    c = classes[0]
    return np.array([[float(((label[:, 0] == a) & (pred[:, 0] == b)).sum()) for b in c] for a in c])


def _c_confusion(i: int, j: int, here: str, label: Block, pred: Block, classes: Block) -> str:
    actual = classes.ref(0, i, here, row_abs=True, col_abs=True)
    predicted = classes.ref(0, j, here, row_abs=True, col_abs=True)
    return f"SUMPRODUCT(({label.whole(here)}={actual})*({pred.whole(here)}={predicted}))"


# --- data preparation (written cell by cell in every layout) -------------------------------


def _c_col_mean(i: int, j: int, here: str, raw: Block) -> str:
    return f"AVERAGE({raw.col_range(j, here)})"


def _c_col_std(i: int, j: int, here: str, raw: Block) -> str:
    return f"_xlfn.STDEV.P({raw.col_range(j, here)})"


def _c_zscore(i: int, j: int, here: str, raw: Block, mean: Block, std: Block) -> str:
    m, s = mean.ref(0, j, here, row_abs=True), std.ref(0, j, here, row_abs=True)
    return f"({raw.ref(i, j, here)}-{m})/{s}"


def _np_onehot(env: Env, label: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return (label == classes).astype(float)


def _c_onehot(i: int, j: int, here: str, label: Block, classes: Block) -> str:
    lab = label.ref(i, 0, here, col_abs=True)
    return f"IF({lab}={classes.ref(0, j, here, row_abs=True)},1,0)"


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("copy", "P = New P of the previous epoch", lambda env, a: a.copy(), _c_copy, _a_copy),
        Op("affine", "Z = X.W + b", lambda env, x, w, b: x @ w + b, _c_affine, _a_affine),
        Op("tanh", "A = tanh(Z)", lambda env, z: np.tanh(z), _c_tanh, _a_tanh),
        Op("sigmoid", "A = 1/(1+exp(-clamp(Z, +-700)))", _np_sigmoid, _c_sigmoid, _a_sigmoid),
        Op("relu", "A = max(0, Z)", _np_relu, _c_relu, _a_relu),
        Op("row_max", "the largest Z of each sample",
           lambda env, z: z.max(axis=1, keepdims=True), _c_row_max),
        Op("exp_shift", "E = exp(Z - the row's largest Z)", lambda env, z, m: np.exp(z - m),
           _c_exp_shift, _a_exp_shift),
        Op("normalise", "A = E / (sum of E's row): softmax",
           lambda env, e: e / e.sum(axis=1, keepdims=True), _c_normalise, _a_normalise),
        Op("cross_entropy", "L = -ln(sum_k Y A + 1e-300), i.e. -ln(A of the label) (Y is one-hot)",
           _np_ce, _c_ce, _a_ce),
        Op("binary_cross_entropy", "L = -sum_k [Y ln(A + 1e-300) + (1-Y) ln(1-A + 1e-300)]",
           _np_bce, _c_bce, _a_bce),
        Op("mean", "loss = sum L / N", lambda env, s: s.sum(keepdims=True) / env.n,
           _c_mean_rows),
        Op("predict", "the class with the largest A (the first, on ties)", _np_predict,
           _c_predict, whole=True),
        Op("accuracy", "share of samples whose prediction is the label", _np_accuracy,
           _c_accuracy),
        Op("delta", "dZ = A - Y", lambda env, a, y: a - y, _c_delta, _a_delta),
        Op("grad_w", "dW = A_in' . dZ / N", lambda env, a, dz: a.T @ dz / env.n, _c_grad_w,
           _a_grad_w),
        Op("grad_b", "db = sum dZ / N", lambda env, dz: dz.sum(axis=0, keepdims=True) / env.n,
           _c_grad_b, _a_grad_b),
        Op("back_tanh", "dZ = (dZ_next . W_next') * (1 - A*A)", _np_back_tanh, _c_back_tanh,
           _a_back_tanh),
        Op("back_sigmoid", "dZ = (dZ_next . W_next') * A * (1 - A)", _np_back_sigmoid,
           _c_back_sigmoid, _a_back_sigmoid),
        Op("back_relu", "dZ = (dZ_next . W_next') * (1 if A > 0 else 0)", _np_back_relu,
           _c_back_relu, _a_back_relu),
        Op("velocity", "V = momentum * V of the previous epoch + dP",
           lambda env, v, g: env.momentum * v + g, _c_velocity, _a_velocity),
        Op("moment1", "M = adam_beta1 * M of the previous epoch + (1 - adam_beta1) * dP",
           lambda env, m, g: env.beta1 * m + (1 - env.beta1) * g, _c_moment1, _a_moment1),
        Op("moment2", "S = adam_beta2 * S of the previous epoch + (1 - adam_beta2) * dP*dP",
           lambda env, s, g: env.beta2 * s + (1 - env.beta2) * g * g, _c_moment2, _a_moment2),
        Op("beta1_power", "beta1^t = adam_beta1 * beta1^t of the previous epoch (1 before "
           "epoch 1)", lambda env, b: env.beta1 * b, _c_decay_power(BETA1_NAME)),
        Op("beta2_power", "beta2^t = adam_beta2 * beta2^t of the previous epoch (1 before "
           "epoch 1)", lambda env, b: env.beta2 * b, _c_decay_power(BETA2_NAME)),
        Op("adam", "New P = P - learning_rate * (M / (1 - beta1^t)) / "
           "(sqrt(S / (1 - beta2^t)) + adam_epsilon)", _np_adam, _c_adam, _a_adam),
        Op("test_accuracy", "share of held-out samples whose prediction is the label",
           _np_test_accuracy, _c_test_accuracy),
        Op("confusion", "samples of actual class (row) predicted as class (column), last epoch",
           _np_confusion, _c_confusion, whole=True),
        Op("sgd", "New P = P - learning_rate * dP", lambda env, p, g: p - env.lr * g, _c_sgd,
           _a_sgd),
        Op("col_mean", "mean of each raw column", lambda env, r: r.mean(axis=0, keepdims=True),
           _c_col_mean),
        Op("col_std", "population standard deviation of each raw column",
           lambda env, r: r.std(axis=0, keepdims=True), _c_col_std),
        Op("zscore", "X = (raw - mean) / std", lambda env, r, m, s: (r - m) / s, _c_zscore),
        Op("onehot", "Y = 1 where the label is the class, else 0", _np_onehot, _c_onehot,
           whole=True),
    )
}  # fmt: skip
