"""The NumPy trainer: every tensor of every epoch, computed from the workbook's own inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .program import TEST_PREFIX, Program
from .scalars import Env
from .spec import DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPSILON, DEFAULT_LR, DEFAULT_MOMENTUM

Key = tuple[str, "int | None"]


# Initial weights are rounded so that they read back from the file bit for bit and stay legible.
INIT_DECIMALS = 6


@dataclass(frozen=True)
class Inputs:
    """Everything a training run reads: the numbers entered on the Data, Init, Settings sheets."""

    raw: np.ndarray  # N x F
    label: np.ndarray  # N x 1
    classes: np.ndarray  # 1 x K
    init: dict[str, np.ndarray] = field(default_factory=dict)  # each of program.initial
    lr: float = DEFAULT_LR
    n: float = 0.0  # the divisor N; the sample count unless a user changed it
    test_raw: np.ndarray | None = None  # held-out samples, if any
    test_label: np.ndarray | None = None
    momentum: float = DEFAULT_MOMENTUM
    beta1: float = DEFAULT_BETA1
    beta2: float = DEFAULT_BETA2
    epsilon: float = DEFAULT_EPSILON

    def env(self, lr: float | None = None) -> Env:
        return Env(self.lr if lr is None else lr, self.n, self.momentum, self.beta1,
                   self.beta2, self.epsilon)  # fmt: skip


def glorot_uniform(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """Initial weights of a rows x cols layer, rounded to INIT_DECIMALS."""
    limit = np.sqrt(6.0 / (rows + cols))
    return np.round(rng.uniform(-limit, limit, size=(rows, cols)), INIT_DECIMALS)


def initial_params(program: Program, seed: int) -> dict[str, np.ndarray]:
    """Glorot-uniform weights, zero biases and zero optimizer state, reproducible from the
    seed."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for p in program.initial:
        rows, cols = program.tensors[p]
        fixed = program.initial_value(p)
        if fixed is None and p.startswith("W"):
            out[p] = glorot_uniform(rng, rows, cols)
        else:
            out[p] = np.full((rows, cols), fixed or 0.0)
    return out


def _quiet() -> np.errstate:
    """NumPy silent about overflow, NaN, division by zero and underflow.

    A diverging run (an unbounded relu net at a large learning rate) or a workbook's edited
    inputs overflow to inf and NaN; callers look for that in the values (Run.overflow,
    verify's comparison), so NumPy's RuntimeWarnings would only reach the terminal as noise.
    """
    return np.errstate(all="ignore")


def run_data(program: Program, inputs: Inputs) -> dict[Key, np.ndarray]:
    env = inputs.env()
    values: dict[Key, np.ndarray] = {
        ("Label", None): inputs.label,
        ("Raw", None): inputs.raw,
        ("Classes", None): inputs.classes,
    }
    if program.dims.n_test:
        assert inputs.test_raw is not None and inputs.test_label is not None
        values[(TEST_PREFIX + "Label", None)] = inputs.test_label
        values[(TEST_PREFIX + "Raw", None)] = inputs.test_raw
    with _quiet():
        for step in program.data_steps:
            args = (values[(a.name, None)] for a in step.args)
            values[(step.out, None)] = step.op.numpy(env, *args)
    return values


def run_epoch(
    program: Program, env: Env, values: dict[Key, np.ndarray], epoch: int
) -> dict[Key, np.ndarray]:
    """Adds epoch `epoch`'s tensors to `values` (which holds the data and epoch-1's)."""
    with _quiet():
        for step in program.epoch_steps:
            args = (values[program.locate(a, epoch)] for a in step.args)
            values[(step.out, epoch)] = step.op.numpy(env, *args)
    return values


def train(program: Program, inputs: Inputs) -> dict[Key, np.ndarray]:
    """Every tensor of every epoch, keyed (name, epoch); data tensors have epoch None."""
    env = inputs.env()
    values = run_data(program, inputs)
    for p in program.initial:
        values[(program.carried(p), 0)] = np.asarray(inputs.init[p], dtype=float)
    last = program.spec.epochs
    for epoch in range(1, last + 1):
        run_epoch(program, env, values, epoch)
    for name, per_epoch in program.summary.items():
        values[(name, None)] = np.array(
            [[values[(per_epoch, e)][0, 0]] for e in range(1, last + 1)]
        )
    with _quiet():  # the predictions and counts of a diverged run are made from NaN
        for step in program.final_steps:
            args = (values[program.locate(a, last)] for a in step.args)
            values[(step.out, None)] = step.op.numpy(env, *args)
    return values


def loss_and_grads(
    program: Program, data: dict[Key, np.ndarray], params: dict[str, np.ndarray], n: float
) -> tuple[float, dict[str, np.ndarray]]:
    """One epoch from `params`: the mean loss and the gradient of each parameter."""
    values = {k: v for k, v in data.items() if k[0] in program.data_tensors}
    for p in program.initial:
        v = params.get(p)
        if v is None:
            v = np.full(program.tensors[p], program.initial_value(p) or 0.0)
        values[(program.carried(p), 0)] = v
    run_epoch(program, Env(lr=0.0, n=n), values, 1)
    return float(values[("Loss", 1)][0, 0]), {p: values[("d" + p, 1)] for p in params}


def finite_difference_grads(
    program: Program,
    data: dict[Key, np.ndarray],
    params: dict[str, np.ndarray],
    n: float,
    h: float = 1e-6,
) -> dict[str, np.ndarray]:
    """Central differences (L(p+h) - L(p-h)) / 2h of the mean loss, entry by entry."""
    grads: dict[str, np.ndarray] = {}
    for p, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            plus = {q: w.copy() for q, w in params.items()}
            minus = {q: w.copy() for q, w in params.items()}
            plus[p][idx] += h
            minus[p][idx] -= h
            with _quiet():  # inf - inf of a diverging file is NaN, which the check reports
                g[idx] = (
                    loss_and_grads(program, data, plus, n)[0]
                    - loss_and_grads(program, data, minus, n)[0]
                ) / (2 * h)
        grads[p] = g
    return grads


def gradient_check(program: Program, inputs: Inputs) -> tuple[float, int]:
    """Max |analytic - finite-difference| gradient at the initial weights, and how many
    parameters were checked."""
    data = run_data(program, inputs)
    params = {p: np.asarray(inputs.init[p], dtype=float) for p in program.params}
    if program.spec.activation == "relu" and program.spec.model == "mlp":
        # With zero biases a sample whose units all die feeds Z = 0 exactly to the next
        # layer: relu's kink, where the derivative (taken as 0) is not the average of both
        # sides that finite differences see. Checked a little away from it instead.
        rng = np.random.default_rng(0)
        for p in program.params:
            if p.startswith("b"):
                params[p] = params[p] + rng.uniform(0.01, 0.02, params[p].shape)
    _, grads = loss_and_grads(program, data, params, inputs.n)
    numeric = finite_difference_grads(program, data, params, inputs.n)
    with _quiet():
        # np.max, not max(): a NaN (a diverging file) must win, where max() may drop it.
        worst = float(np.max([np.abs(grads[p] - numeric[p]).max() for p in params]))
    return worst, sum(v.size for v in params.values())
