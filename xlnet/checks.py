"""What a graded block should hold: NumPy expectations, the forms accepted, mistakes recognised.

Each check computes a block from the values of its upstream blocks *as the workbook holds them*
(the student's own), so a mistake is reported in the block that holds it and nowhere after.
A check returns candidates: every accepted form of the block, each with a label saying which
convention was seen (e.g. softmax or one sigmoid per class). Mistakes are the values common
wrong formulas give, each with the hint shown when a block matches one. The NumPy forms are the
ones the training workbook is checked against (ops.py), reshaped to the block's form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ops import OPS, TINY, Env

Shape = tuple[int, int]
Candidates = list[tuple[str, np.ndarray]]


@dataclass(frozen=True)
class Check:
    name: str
    uses_n: bool  # divides by N: a result N times too large is "a missing 1/N"
    expect: Callable[..., Candidates]  # (env, shape, *args) -> accepted forms
    mistakes: Callable[..., Candidates] | None = None  # (env, shape, *args) -> (hint, values)


def _row(b: np.ndarray, k: int) -> np.ndarray:
    """A bias as a 1xK row: one scalar broadcast to every column, or one value per column
    (entered down a column or across a row)."""
    if b.size == 1:
        return np.full((1, k), float(b.ravel()[0]))
    if b.size != k:
        raise ShapeMismatch(f"a bias of {b.size} values for {k} columns")
    return b.reshape(1, k)


def _as(shape: Shape, values: np.ndarray) -> np.ndarray:
    """`values` in the block's own orientation (a bias gradient down a column, say)."""
    if values.shape == shape:
        return values
    if values.size == shape[0] * shape[1]:
        return values.reshape(shape)
    raise ShapeMismatch(
        f"{values.shape[0]}x{values.shape[1]} values for a {shape[0]}x{shape[1]} block"
    )


class ShapeMismatch(ValueError):
    """Upstream blocks whose sizes do not fit together (a 5-value bias for 3 classes)."""


def _softmax(z: np.ndarray) -> np.ndarray:
    m = OPS["row_max"].numpy(None, z)
    return OPS["normalise"].numpy(None, OPS["exp_shift"].numpy(None, z, m))


def _affine(env: Env, shape: Shape, x, w, b) -> Candidates:
    return [("X.W + b", _as(shape, x @ w + _row(b, w.shape[1])))]


def _affine_mistakes(env: Env, shape: Shape, x, w, b) -> Candidates:
    return [("the bias is not added", _as(shape, x @ w))]


def _softmax_or_sigmoid(env: Env, shape: Shape, z) -> Candidates:
    return [
        ("softmax", _as(shape, _softmax(z))),
        ("one sigmoid per class", _as(shape, OPS["sigmoid"].numpy(env, z))),
    ]


def _softmax_mistakes(env: Env, shape: Shape, z) -> Candidates:
    e = np.exp(np.clip(z, None, 700))
    return [
        ("each EXP is divided by the sum of the whole column, not of the sample's row",
         _as(shape, e / e.sum(axis=0, keepdims=True))),
        ("EXP(Z) is not divided by the row's sum", _as(shape, e)),
    ]  # fmt: skip


def _tanh(env: Env, shape: Shape, z) -> Candidates:
    return [("tanh", _as(shape, np.tanh(z)))]


def _tanh_mistakes(env: Env, shape: Shape, z) -> Candidates:
    return [
        ("the hidden layer uses a sigmoid; the exercise's hidden layer is tanh",
         _as(shape, OPS["sigmoid"].numpy(env, z))),
    ]  # fmt: skip


def _losses(a, y) -> tuple[np.ndarray, np.ndarray]:
    """Per-class cross-entropy terms -Y ln A, and binary cross-entropy terms."""
    ce = -(y * np.log(a + TINY))
    bce = ce - (1 - y) * np.log(1 - a + TINY)
    return ce, bce


def _sample_loss(env: Env, shape: Shape, a, y) -> Candidates:
    ce, bce = _losses(a, y)
    if shape[1] == 1:
        return [
            ("cross-entropy", ce.sum(axis=1, keepdims=True)),
            ("binary cross-entropy", bce.sum(axis=1, keepdims=True)),
        ]
    return [
        ("cross-entropy", _as(shape, ce)),
        ("binary cross-entropy", _as(shape, bce)),
    ]


def _sample_loss_mistakes(env: Env, shape: Shape, a, y) -> Candidates:
    with np.errstate(divide="ignore", invalid="ignore"):
        log10 = -(y * np.log10(a + TINY))
    out = log10.sum(axis=1, keepdims=True) if shape[1] == 1 else log10
    return [("LOG is the base-10 logarithm; the cross-entropy needs LN", _as(shape, out))]


def _total_loss(env: Env, shape: Shape, s) -> Candidates:
    return [("mean over the samples", _as(shape, np.array([[s.sum() / env.n]])))]


def _total_loss_mistakes(env: Env, shape: Shape, s) -> Candidates:
    return [("AVERAGE over the per-class columns divides by N x K, not by N",
             _as(shape, np.array([[s.mean()]])))]  # fmt: skip


def _delta(env: Env, shape: Shape, a, y) -> Candidates:
    return [("A - Y", _as(shape, a - y))]


def _delta_mistakes(env: Env, shape: Shape, a, y) -> Candidates:
    return [("Y - A has the opposite sign of A - Y", _as(shape, y - a))]


def _grad_w(env: Env, shape: Shape, a, dz) -> Candidates:
    return [("A_in' . dZ / N", _as(shape, a.T @ dz / env.n))]


def _grad_b(env: Env, shape: Shape, dz) -> Candidates:
    if shape == (1, 1):
        return [("SUM of dZ / N", np.array([[dz.sum() / env.n]]))]
    return [("column sums of dZ / N", _as(shape, dz.sum(axis=0) / env.n))]


def _back_tanh(env: Env, shape: Shape, dz, w, a) -> Candidates:
    return [("(dZ2 . W2') * (1 - A1^2)", _as(shape, (dz @ w.T) * (1 - a**2)))]


def _back_tanh_mistakes(env: Env, shape: Shape, dz, w, a) -> Candidates:
    back = dz @ w.T
    return [
        ("the tanh derivative is missing: multiply by (1 - A1^2)", _as(shape, back)),
        ("A1 * (1 - A1) is the sigmoid's derivative; the hidden layer is tanh: (1 - A1^2)",
         _as(shape, back * a * (1 - a))),
    ]  # fmt: skip


def _back_mistakes(layer: str, derivative: str) -> Callable[..., Candidates]:
    """Mistakes in back-propagating through a relu or sigmoid layer: the derivative left out,
    or tanh's written instead."""

    def mistakes(env: Env, shape: Shape, dz, w, a) -> Candidates:
        back = dz @ w.T
        return [
            (f"the {layer} derivative is missing: multiply by {derivative}", _as(shape, back)),
            (f"(1 - A^2) is tanh's derivative; this layer is {layer}: {derivative}",
             _as(shape, back * (1 - a * a))),
        ]  # fmt: skip

    return mistakes


def _sgd(env: Env, shape: Shape, p, g) -> Candidates:
    if p.size == g.size:
        p = p.reshape(g.shape)
    elif p.size != 1 and g.size != 1:
        raise ShapeMismatch(f"a parameter of {p.size} values and a gradient of {g.size}")
    new = p - env.lr * g
    if new.size == 1 and shape != (1, 1):
        new = np.full(shape, float(new.ravel()[0]))
    return [("P - learning rate * dP", _as(shape, new))]


def _sgd_mistakes(env: Env, shape: Shape, p, g) -> Candidates:
    if p.shape != g.shape:
        return []
    return [
        ("the update has the wrong sign: New P = P - learning rate * dP",
         _as(shape, p + env.lr * g)),
        ("the learning rate is not applied", _as(shape, p - g)),
    ]  # fmt: skip


def _onehot(env: Env, shape: Shape, label, classes) -> Candidates:
    return [("one-hot targets", _as(shape, OPS["onehot"].numpy(env, label, classes)))]


def _copy(env: Env, shape: Shape, a) -> Candidates:
    return [("the previous epoch's New value", _as(shape, a))]


def _numpy_step(op: str) -> Callable[..., Candidates]:
    """The check of an xlnet training step: its own NumPy form, nothing else accepted."""

    def expect(env: Env, shape: Shape, *args) -> Candidates:
        return [(OPS[op].equation, _as(shape, OPS[op].numpy(env, *args)))]

    return expect


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        Check("affine", False, _affine, _affine_mistakes),
        Check("softmax", False, _softmax_or_sigmoid, _softmax_mistakes),
        Check("tanh", False, _tanh, _tanh_mistakes),
        Check("sample_loss", False, _sample_loss, _sample_loss_mistakes),
        Check("total_loss", True, _total_loss, _total_loss_mistakes),
        Check("delta", False, _delta, _delta_mistakes),
        Check("grad_w", True, _grad_w),
        Check("grad_b", True, _grad_b),
        Check("back_tanh", False, _back_tanh, _back_tanh_mistakes),
        Check("sgd", False, _sgd, _sgd_mistakes),
        Check("onehot", False, _onehot),
        Check("copy", False, _copy),
    )
}


def step_check(op: str) -> Check:
    """The check of a step of xlnet's own programs (exercises written by `xlnet exercise`)."""
    if op in CHECKS and op not in ("softmax", "sample_loss"):
        return CHECKS[op]
    uses_n = op in ("mean", "grad_w", "grad_b", "accuracy")
    mistakes = {"delta": _delta_mistakes, "sgd": _sgd_mistakes, "tanh": _tanh_mistakes,
                "back_tanh": _back_tanh_mistakes,
                "back_relu": _back_mistakes("relu", "IF(A>0,1,0)"),
                "back_sigmoid": _back_mistakes("sigmoid", "A * (1 - A)")}.get(op)  # fmt: skip
    return Check(op, uses_n, _numpy_step(op), mistakes)
