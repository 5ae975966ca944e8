"""The checks a template may name: the book's blocks, each one operation of xlnet's or a few.

Each check computes a block from the values of its upstream blocks *as the workbook holds them*
(the student's own), so a mistake is reported in the block that holds it and nowhere after.
A check returns candidates: every accepted form of the block, each with a label saying which
convention was seen (e.g. softmax or one sigmoid per class). Mistakes are the values common
wrong formulas give, each with the hint shown when a block matches one. An operation's own
check is in its registry entry (operation.Op.check); the book's softmax, per-sample loss and
total loss span several operations or forms and are built here from theirs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .operation import Candidates, Check, Shape, as_block
from .ops import EXP_CLAMP, OPS, bce_terms, ce_terms
from .scalars import Env

# grade.py and hints.py read the grading vocabulary here.
__all__ = ["CHECKS"]


def _softmax_or_sigmoid(env: Env, shape: Shape, z) -> Candidates:
    m = OPS["row_max"].numpy(env, z)
    softmax = OPS["normalise"].numpy(env, OPS["exp_shift"].numpy(env, z, m))
    return [
        ("softmax", as_block(shape, softmax)),
        ("one sigmoid per class", as_block(shape, OPS["sigmoid"].numpy(env, z))),
    ]


def _softmax_mistakes(env: Env, shape: Shape, z) -> Candidates:
    # EXP(Z) without the shift by the row's largest Z (clamped where EXP would overflow).
    e = OPS["exp_shift"].numpy(env, np.minimum(z, EXP_CLAMP), 0.0)
    down_columns = OPS["normalise"].numpy(env, e.T).T
    return [
        ("each EXP is divided by the sum of the whole column, not of the sample's row",
         as_block(shape, down_columns)),
        ("EXP(Z) is not divided by the row's sum", as_block(shape, e)),
    ]  # fmt: skip


def _sample_loss(env: Env, shape: Shape, a, y) -> Candidates:
    # The book's loss is the sum of the class terms, whatever Y holds (not the LN of one
    # SUMPRODUCT, which xlnet's own cross-entropy may take as its Y is one-hot).
    forms = [("cross-entropy", ce_terms(a, y)), ("binary cross-entropy", bce_terms(a, y))]
    if shape[1] == 1:
        return [(label, terms.sum(axis=1, keepdims=True)) for label, terms in forms]
    return [(label, as_block(shape, terms)) for label, terms in forms]


def _sample_loss_mistakes(env: Env, shape: Shape, a, y) -> Candidates:
    # log10(x) = ln(x) / ln(10): the cross-entropy with LOG in place of LN.
    ce = _sample_loss(env, shape, a, y)[0][1]
    return [("LOG is the base-10 logarithm; the cross-entropy needs LN",
             as_block(shape, ce / np.log(10)))]  # fmt: skip


def _average_mistake(env: Env, shape: Shape, s) -> Candidates:
    mean_of_all = OPS["mean"].numpy(dataclasses.replace(env, n=float(s.size)), s)
    return [("AVERAGE over the per-class columns divides by N x K, not by N",
             as_block(shape, mean_of_all))]  # fmt: skip


CHECKS: dict[str, Check] = {
    c.name: c
    for c in (
        OPS["affine"].check,
        Check("softmax", False, _softmax_or_sigmoid, _softmax_mistakes),
        OPS["tanh"].check,
        Check("sample_loss", False, _sample_loss, _sample_loss_mistakes),
        dataclasses.replace(OPS["mean"].check, name="total_loss", mistakes=_average_mistake),
        OPS["delta"].check,
        OPS["grad_w"].check,
        OPS["grad_b"].check,
        OPS["back_tanh"].check,
        OPS["sgd"].check,
        OPS["onehot"].check,
        OPS["copy"].check,
    )
}
