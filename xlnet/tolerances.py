"""How close is close enough: every tolerance xlnet judges numbers by, and why they differ.

All but the finite-difference check are norm-wise: a cell passes when
|got - expected| <= tolerance * scale(block), scale the block's largest magnitude with a floor
of 1. Relative to the block because cancellation (dZ = A - Y, sums of +-terms) leaves rounding
noise proportional to the operands, not to a small result; the floor holds blocks of small
numbers to the tolerance absolute.
"""

from __future__ import annotations

import numpy as np

# verify: a recomputed block against NumPy's run. Engines and NumPy agree to ~1e-15 per step;
# 1e-9 leaves room for summation order and EXP/TANH's last digits over 1,000 epochs.
TOLERANCE = 1e-9
# verify's local check: each block against NumPy applied to the values the engine computed for
# the blocks it reads (one step's rounding, ~1e-15). It proves each formula right where the
# run is chaotic (a two-layer net at lr 50): there the engine's and NumPy's last-digit
# differences grow every epoch until the trajectories part, though every step is right.
LOCAL_TOLERANCE = 1e-9
# NumPy's own run is sensitive from the epoch where weights moved by a few units in the last
# place change some block by more than this: later differences are drift, not mistakes.
CHAOS = 1e-12
# Central differences with h = 1e-6 are accurate to ~1e-9 on these losses; a wrong gradient
# (a missing factor, a sign, a term) is off by orders of magnitude more. Relative, per gradient.
FD_TOLERANCE = 1e-7
# check (grading): a student's block against NumPy on the student's own upstream blocks. Looser
# than verify's: a student may write an equivalent formula (EXP(Z)/SUM with or without the max
# shift, another summation order); tight enough that a wrong formula never passes.
GRADE_TOLERANCE = 1e-6
# export-scorer --check: the Score sheet's formulas against NumPy's forward pass, as verify.
SCORER_TOLERANCE = TOLERANCE


def scale(expected: np.ndarray) -> float:
    """What a block's differences are measured against: its largest magnitude, at least 1."""
    return max(float(np.abs(expected).max(initial=0.0)), 1.0)


def within(got: np.ndarray, expected: np.ndarray, tolerance: float) -> np.ndarray:
    """Per cell, whether `got` is within `tolerance` of `expected` norm-wise (NaN never is)."""
    return np.abs(got - expected) <= tolerance * scale(expected)
