"""The registry of every operation (OPS), and the activations, softmax, losses and scores.

Each operation has its NumPy form and its spreadsheet formula side by side, in two forms:
- `cell(i, j, here, *blocks)`: the formula of output cell (i, j), for the `cells` layout (one
  formula per scalar). Array math stays inside SUMPRODUCT or a scalar MMULT, so that no formula
  depends on implicit intersection; only aggregates (SUMPRODUCT, SUM, MAX, MMULT, INDEX, ...)
  take a range, never LN, EXP, TANH or IF (tests/test_portability.py scans every formula).
- `array(here, *blocks)`: one legacy (CSE) array formula over the whole output block, for the
  `arrays` layout: MMULT for the linear steps, TRANSPOSE for X', element-wise expressions, a
  1xK bias row broadcast over the rows. None where a block is best written cell by cell.
`here` is the sheet the formula is written on; the text has no leading "=". Only functions that
Excel 2010+ and LibreOffice 7.4 both compute are used. The linear steps are in ops_linear.py,
the optimizers' in ops_update.py, the data preparation in ops_data.py; what an entry holds
besides its forms (its group, exactness, grading check) is described in operation.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .block import Block
from .operation import Candidates, Op, Shape, as_block, ones_col
from .ops_data import PREPARATION
from .ops_linear import LINEAR
from .ops_update import UPDATES
from .scalars import N_NAME, Env

# Guards shared by both forms, so that NumPy and the sheet agree even where they bite.
# EXP overflows above ~709.78 in Excel; a sigmoid input is clamped to +-EXP_CLAMP first.
EXP_CLAMP = 700.0
# LN(0) is an error in every engine; adding TINY changes no probability above ~1e-284.
TINY = 1e-300
TINY_TEXT = "1E-300"


def _clamped(x: str) -> str:
    """Element-wise clamp to +-EXP_CLAMP inside an array formula (MIN and MAX would aggregate)."""
    c = f"{EXP_CLAMP:g}"
    return f"IF({x}>{c},{c},IF({x}<-{c},-{c},{x}))"


# --- activations, and the back-propagation through each ------------------------------------


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


def _tanh_mistakes(env: Env, shape: Shape, z) -> Candidates:
    return [
        ("the hidden layer uses a sigmoid; the exercise's hidden layer is tanh",
         as_block(shape, _np_sigmoid(env, z))),
    ]  # fmt: skip


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


def _back_tanh_mistakes(env: Env, shape: Shape, dz, w, a) -> Candidates:
    return [
        ("the tanh derivative is missing: multiply by (1 - A1^2)", as_block(shape, dz @ w.T)),
        ("A1 * (1 - A1) is the sigmoid's derivative; the hidden layer is tanh: (1 - A1^2)",
         as_block(shape, _np_back_sigmoid(env, dz, w, a))),
    ]  # fmt: skip


def _back_mistakes(layer: str, derivative: str) -> Callable[..., Candidates]:
    """Mistakes in back-propagating through a relu or sigmoid layer: the derivative left out,
    or tanh's written instead."""

    def mistakes(env: Env, shape: Shape, dz, w, a) -> Candidates:
        return [
            (f"the {layer} derivative is missing: multiply by {derivative}",
             as_block(shape, dz @ w.T)),
            (f"(1 - A^2) is tanh's derivative; this layer is {layer}: {derivative}",
             as_block(shape, _np_back_tanh(env, dz, w, a))),
        ]  # fmt: skip

    return mistakes


# --- softmax: its largest Z per row, the shifted exponentials, normalised -------------------


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
    return f"{e.whole(here)}/MMULT({e.whole(here)},{ones_col(e, here)})"


# --- losses and scores --------------------------------------------------------------------


# In a plain cell no function but an aggregate may take a range: LN(range) inside SUMPRODUCT is
# intersected to one cell (#VALUE!) by some spreadsheet programs. So the losses take LN of single
# cells only: Y is one-hot, so sum_k Y ln(A) = ln(sum_k Y A), one LN of a SUMPRODUCT; the binary
# cross-entropy is written out class by class (K <= 10). The NumPy forms follow the formulas'
# order of operations, so the sheet and NumPy agree to the last bit where the engines round alike.


def ce_terms(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The cross-entropy class by class, -Y ln(A + 1e-300): a sheet may show the loss so."""
    return -(y * np.log(a + TINY))


def bce_terms(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The binary cross-entropy class by class, -[Y ln(A + 1e-300) + (1-Y) ln(1-A + 1e-300)]."""
    return -(y * np.log(a + TINY) + (1 - y) * np.log(1 - a + TINY))


def _np_ce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -np.log((y * a).sum(axis=1, keepdims=True) + TINY)


def _c_ce(i: int, j: int, here: str, a: Block, y: Block) -> str:
    return f"-LN(SUMPRODUCT({y.row_range(i, here)},{a.row_range(i, here)})+{TINY_TEXT})"


def _a_ce(here: str, a: Block, y: Block) -> str:
    return f"-LN(MMULT({y.whole(here)}*{a.whole(here)},{ones_col(y, here)})+{TINY_TEXT})"


def _np_bce(env: Env, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    # -(t1)-(t2)-...: subtracted class by class, as the cell formula does.
    out = np.zeros((a.shape[0], 1))
    for term in bce_terms(a, y).T:
        out = out + term[:, None]
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
    return f"-MMULT({terms},{ones_col(y, here)})"


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


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        *LINEAR,
        Op("tanh", "A = tanh(Z)", lambda env, z: np.tanh(z), _c_tanh, _a_tanh, group="forward",
           backward="back_tanh", mistakes=_tanh_mistakes),
        Op("sigmoid", "A = 1/(1+exp(-clamp(Z, +-700)))", _np_sigmoid, _c_sigmoid, _a_sigmoid,
           group="forward", backward="back_sigmoid"),
        Op("relu", "A = max(0, Z)", _np_relu, _c_relu, _a_relu, group="forward",
           backward="back_relu"),
        Op("back_tanh", "dZ = (dZ_next . W_next') * (1 - A*A)", _np_back_tanh, _c_back_tanh,
           _a_back_tanh, group="backward", mistakes=_back_tanh_mistakes),
        Op("back_sigmoid", "dZ = (dZ_next . W_next') * A * (1 - A)", _np_back_sigmoid,
           _c_back_sigmoid, _a_back_sigmoid, group="backward",
           mistakes=_back_mistakes("sigmoid", "A * (1 - A)")),
        Op("back_relu", "dZ = (dZ_next . W_next') * (1 if A > 0 else 0)", _np_back_relu,
           _c_back_relu, _a_back_relu, group="backward",
           mistakes=_back_mistakes("relu", "IF(A>0,1,0)")),
        Op("row_max", "the largest Z of each sample",
           lambda env, z: z.max(axis=1, keepdims=True), _c_row_max, group="forward"),
        Op("exp_shift", "E = exp(Z - the row's largest Z)", lambda env, z, m: np.exp(z - m),
           _c_exp_shift, _a_exp_shift, group="forward"),
        Op("normalise", "A = E / (sum of E's row): softmax",
           lambda env, e: e / e.sum(axis=1, keepdims=True), _c_normalise, _a_normalise,
           group="forward"),
        Op("cross_entropy", "L = -ln(sum_k Y A + 1e-300), i.e. -ln(A of the label) (Y is one-hot)",
           _np_ce, _c_ce, _a_ce, group="loss"),
        Op("binary_cross_entropy", "L = -sum_k [Y ln(A + 1e-300) + (1-Y) ln(1-A + 1e-300)]",
           _np_bce, _c_bce, _a_bce, group="loss"),
        Op("mean", "loss = sum L / N", lambda env, s: s.sum(keepdims=True) / env.n,
           _c_mean_rows, group="loss", uses_n=True),
        Op("predict", "the class with the largest A (the first, on ties)", _np_predict,
           _c_predict, whole=True, group="loss", ties=True),
        Op("accuracy", "share of samples whose prediction is the label", _np_accuracy,
           _c_accuracy, group="loss", exact=True, uses_n=True),
        Op("test_accuracy", "share of held-out samples whose prediction is the label",
           _np_test_accuracy, _c_test_accuracy, group="loss", exact=True),
        Op("confusion", "samples of actual class (row) predicted as class (column), last epoch",
           _np_confusion, _c_confusion, whole=True, exact=True),
        *UPDATES,
        *PREPARATION,
    )
}  # fmt: skip
