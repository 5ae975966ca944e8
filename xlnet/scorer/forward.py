"""The scorer's forward pass: the training program's own steps, from raw samples to classes.

The Score sheet writes these steps' formula forms and NumPy runs their NumPy forms (ops.py),
so the two cannot compute different things.
"""

from __future__ import annotations

import numpy as np

from ..program import Step, build_program
from ..scalars import Env
from ..spec import Spec
from .model import Scorer, ScorerError

PREDICTION = "Prediction"  # the program's name of the predicted class


def forward_steps(spec: Spec, f: int, k: int) -> tuple[Step, ...]:
    """The training program's own steps from raw features to the predicted class: the
    z-score, the epoch's forward steps and the prediction."""
    program = build_program(spec, 1, f, k)
    zscore = next(s for s in program.data_steps if s.out == "X")
    forward = tuple(s for s in program.epoch_steps if s.op.group == "forward")
    predict = next(s for s in program.epoch_steps if s.out == PREDICTION)
    return (zscore, *forward, predict)


def forward_values(scorer: Scorer, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the forward pass for `raw` (N x F), by the ops' NumPy forms."""
    raw = np.asarray(raw, dtype=float)
    if raw.ndim != 2 or raw.shape[1] != scorer.f:
        raise ScorerError(f"samples must have {scorer.f} columns, got shape {raw.shape}")
    values: dict[str, np.ndarray] = {
        "Raw": raw,
        "Mean": scorer.mean,
        "Std": scorer.std,
        "Classes": np.array([scorer.classes], dtype=float),
        **scorer.weights,
    }
    env = Env(lr=0.0, n=float(max(raw.shape[0], 1)))  # forward ops read neither
    with np.errstate(all="ignore"):
        for step in forward_steps(scorer.spec, scorer.f, scorer.k):
            values[step.out] = step.op.numpy(env, *(values[a.name] for a in step.args))
    return values


def score_numpy(scorer: Scorer, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N x K) and predicted class values (N,) of raw samples."""
    values = forward_values(scorer, raw)
    return values[f"A{scorer.spec.layers}"], values[PREDICTION][:, 0]
