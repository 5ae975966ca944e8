"""The scalar inputs of a run: the defined names formulas read them by, and Env, their values."""

from __future__ import annotations

from dataclasses import dataclass

from .spec import DEFAULT_BETA1, DEFAULT_BETA2, DEFAULT_EPSILON, DEFAULT_MOMENTUM

# Each is a named input cell on the Settings sheet: change it and the workbook recomputes.
LR_NAME = "learning_rate"
N_NAME = "n_samples"
MOMENTUM_NAME = "momentum"
BETA1_NAME = "adam_beta1"
BETA2_NAME = "adam_beta2"
EPS_NAME = "adam_epsilon"


@dataclass(frozen=True)
class Env:
    """The scalar inputs the NumPy forms need: learning rate, the sample count N and the
    optimizers' hyperparameters (each a named input cell in the workbook)."""

    lr: float
    n: float
    momentum: float = DEFAULT_MOMENTUM
    beta1: float = DEFAULT_BETA1
    beta2: float = DEFAULT_BETA2
    epsilon: float = DEFAULT_EPSILON
