"""The scoring sheet: a trained model's weights and live formulas that classify new samples.

A scorer workbook has two sheets. Score: a yellow input area where a user types or pastes raw
samples, one per row; right of it the predicted class and each class's probability; further
right the working blocks (normalised X, Z and A of each layer, the softmax pieces). Model: the
training mean and std, the class values, and each W and b as numbers. Every formula is an op's
own `cell` form (ops.py), the same text the training workbook uses, laid out over other blocks
and wrapped so that a row whose inputs are not all numbers shows "" instead of an error.

`check_scorer` fills the input area of a copy, recomputes it with the formulas evaluator or
LibreOffice, and compares every block with `score_numpy`, the same steps' NumPy forms.

The modules, in the order they build on each other: model (the Scorer and where it comes
from), forward (its NumPy forward pass), layout (where each block sits), writer, reader, check.
"""

from __future__ import annotations

from .check import Mismatch, ScorerCheck, check_scorer, fill_inputs
from .forward import PREDICTION, score_numpy
from .layout import MODEL, SCORE, SCORE_TOP, ScorerLayout, layout_for
from .model import Scorer, ScorerError, scorer_from_training, scorer_from_workbook
from .reader import read_scorer
from .writer import (
    INPUT_NAME,
    PREDICTED_NAME,
    PROBABILITIES_NAME,
    ScorerResult,
    write_scorer,
)

__all__ = [
    "INPUT_NAME",
    "MODEL",
    "PREDICTED_NAME",
    "PREDICTION",
    "PROBABILITIES_NAME",
    "SCORE",
    "SCORE_TOP",
    "Mismatch",
    "Scorer",
    "ScorerCheck",
    "ScorerError",
    "ScorerLayout",
    "ScorerResult",
    "check_scorer",
    "fill_inputs",
    "layout_for",
    "read_scorer",
    "score_numpy",
    "scorer_from_training",
    "scorer_from_workbook",
    "write_scorer",
]
