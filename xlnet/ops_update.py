"""The optimizers' steps (sgd, momentum's velocity, Adam's moments, step count and update), each
with its NumPy form and formula forms side by side (as ops.py describes) and its registry entry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .block import Block
from .operation import Candidates, Op, Shape, ShapeMismatch, as_block
from .scalars import BETA1_NAME, BETA2_NAME, EPS_NAME, LR_NAME, MOMENTUM_NAME, Env


def _np_sgd(env: Env, p: np.ndarray, g: np.ndarray) -> np.ndarray:
    return p - env.lr * g


def _c_sgd(i: int, j: int, here: str, p: Block, g: Block) -> str:
    return f"{p.ref(i, j, here)}-{LR_NAME}*{g.ref(i, j, here)}"


def _a_sgd(here: str, p: Block, g: Block) -> str:
    return f"{p.whole(here)}-{LR_NAME}*{g.whole(here)}"


def _expect_sgd(env: Env, shape: Shape, p, g) -> Candidates:
    # A sheet may keep a bias as one scalar, or down a column while its gradient runs across.
    if p.size == g.size:
        p = p.reshape(g.shape)
    elif p.size != 1 and g.size != 1:
        raise ShapeMismatch(f"a parameter of {p.size} values and a gradient of {g.size}")
    new = _np_sgd(env, p, g)
    if new.size == 1 and shape != (1, 1):
        new = np.full(shape, float(new.ravel()[0]))
    return [("P - learning rate * dP", as_block(shape, new))]


def _sgd_mistakes(env: Env, shape: Shape, p, g) -> Candidates:
    if p.shape != g.shape:
        return []
    return [
        ("the update has the wrong sign: New P = P - learning rate * dP",
         as_block(shape, _np_sgd(dataclasses.replace(env, lr=-env.lr), p, g))),
        ("the learning rate is not applied",
         as_block(shape, _np_sgd(dataclasses.replace(env, lr=1.0), p, g))),
    ]  # fmt: skip


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
def _c_decay_power(name: str) -> Callable[..., str]:
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


UPDATES = (
    Op("sgd", "New P = P - learning_rate * dP (V with momentum)", _np_sgd, _c_sgd, _a_sgd,
       group="update", expect=_expect_sgd, mistakes=_sgd_mistakes),
    Op("velocity", "V = momentum * V of the previous epoch + dP",
       lambda env, v, g: env.momentum * v + g, _c_velocity, _a_velocity, group="update"),
    Op("moment1", "M = adam_beta1 * M of the previous epoch + (1 - adam_beta1) * dP",
       lambda env, m, g: env.beta1 * m + (1 - env.beta1) * g, _c_moment1, _a_moment1,
       group="update"),
    Op("moment2", "S = adam_beta2 * S of the previous epoch + (1 - adam_beta2) * dP*dP",
       lambda env, s, g: env.beta2 * s + (1 - env.beta2) * g * g, _c_moment2, _a_moment2,
       group="update"),
    Op("beta1_power", "beta1^t = adam_beta1 * beta1^t of the previous epoch (1 before "
       "epoch 1)", lambda env, b: env.beta1 * b, _c_decay_power(BETA1_NAME), group="update"),
    Op("beta2_power", "beta2^t = adam_beta2 * beta2^t of the previous epoch (1 before "
       "epoch 1)", lambda env, b: env.beta2 * b, _c_decay_power(BETA2_NAME), group="update"),
    Op("adam", "New P = P - learning_rate * (M / (1 - beta1^t)) / "
       "(sqrt(S / (1 - beta2^t)) + adam_epsilon)", _np_adam, _c_adam, _a_adam, group="update"),
)  # fmt: skip
