"""The model and training settings of one workbook, validated once."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import XlnetError

MODELS = ("logreg", "mlp")
OUTPUTS = ("softmax", "sigmoid")
LAYOUTS = ("cells", "arrays")
ACTIVATIONS = ("tanh", "sigmoid", "relu")
OPTIMIZERS = ("sgd", "momentum", "adam")
ENGINES = ("formulas", "libreoffice")  # what verify and the checks recompute a workbook with

DEFAULT_EPOCHS = 20  # the book trains its logistic regressor for 20 epochs
DEFAULT_LR = 1.0  # the book's learning rate
DEFAULT_HIDDEN = 5  # the book's two-layer net
DEFAULT_SEED = 0
DEFAULT_OUTPUT = "softmax"
DEFAULT_ACTIVATION = "tanh"
DEFAULT_LAYOUT = "cells"
DEFAULT_OPTIMIZER = "sgd"
DEFAULT_TEST_FRACTION = 0.0
DEFAULT_ENGINE = "formulas"
DEFAULT_EXERCISE_EPOCHS = 1  # the book's sheet fills one epoch
DEFAULT_GIVEN = ("params",)  # the book's exercise: everything but the weight copies to do
DEFAULT_SCORER_ROWS = 100  # input rows of a scorer's Score sheet
MAX_SCORER_ROWS = 10_000  # each holds a few dozen formulas
# PyTorch's and Keras's defaults, which fast.ai's spreadsheet uses too.
DEFAULT_MOMENTUM = 0.9
DEFAULT_BETA1 = 0.9
DEFAULT_BETA2 = 0.999
DEFAULT_EPSILON = 1e-8

# Bounds keep a build inside what a spreadsheet (1,048,576 rows) and a verify can carry.
MAX_EPOCHS = 1000
MAX_HIDDEN = 64
MAX_LAYERS = 8  # hidden layers
MAX_LR = 1e6
MAX_SEED = 2**32 - 1
MAX_TEST_FRACTION = 0.9
# Excel holds no number below ~2.2e-308 (it reads them as 0): a smaller epsilon could turn a
# zero gradient's 0/(0 + epsilon) into #DIV/0! there.
MIN_EPSILON = 1e-300


class SpecError(XlnetError, ValueError):
    """A setting outside what xlnet can build."""


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take, which Spec, the API and the CLI all check."""

    what: str
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        above = self.lo < v if self.lo_open else self.lo <= v
        below = v < self.hi if self.hi_open else v <= self.hi
        return math.isfinite(v) and above and below

    def refusal(self, v: object) -> str:
        lo = f"above {self.lo:g} and" if self.lo_open else f"from {self.lo:g}"
        hi = f"below {self.hi:g}" if self.hi_open else f"to {self.hi:g}"
        if self.hi_open and not self.lo_open:
            hi = f"up to, not including, {self.hi:g}"
        return f"{self.what} must be {lo} {hi}, got {v}"


# A momentum or beta of 1 never forgets (no decay); an epsilon of 1 or more swamps Adam's step.
RANGES = {
    "lr": Range("the learning rate", 0, MAX_LR, lo_open=True, hi_open=True),
    "momentum": Range("momentum", 0, 1, hi_open=True),
    "beta1": Range("beta1", 0, 1, hi_open=True),
    "beta2": Range("beta2", 0, 1, hi_open=True),
    "epsilon": Range("epsilon", MIN_EPSILON, 1, hi_open=True),
    "test_fraction": Range("the test fraction", 0, MAX_TEST_FRACTION),
}


def parse_hidden(text: str) -> tuple[int, ...]:
    """Hidden layer sizes from "5" or "8,4" (also "8x4", as sweeps write a deep candidate)."""
    parts = [p.strip() for p in str(text).replace("x", ",").split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise SpecError(f"hidden sizes must be whole numbers like 5 or 8,4, got {text!r}") from None
    return sizes


@dataclass(frozen=True)
class Spec:
    """A model and its training settings; the defaults are the book's (DEFAULT_* above, which
    the API's keywords and the CLI's flags use too)."""

    model: str = "logreg"
    output: str = DEFAULT_OUTPUT
    hidden: tuple[int, ...] | int = (DEFAULT_HIDDEN,)
    epochs: int = DEFAULT_EPOCHS
    lr: float = DEFAULT_LR
    seed: int = DEFAULT_SEED
    layout: str = DEFAULT_LAYOUT
    activation: str = DEFAULT_ACTIVATION
    optimizer: str = DEFAULT_OPTIMIZER
    momentum: float = DEFAULT_MOMENTUM
    beta1: float = DEFAULT_BETA1
    beta2: float = DEFAULT_BETA2
    epsilon: float = DEFAULT_EPSILON
    test_fraction: float = DEFAULT_TEST_FRACTION

    def __post_init__(self) -> None:
        if isinstance(self.hidden, int) and not isinstance(self.hidden, bool):
            object.__setattr__(self, "hidden", (self.hidden,))
        if self.model not in MODELS:
            raise SpecError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.output not in OUTPUTS:
            raise SpecError(f"unknown output {self.output!r}; choose one of {', '.join(OUTPUTS)}")
        if self.layout not in LAYOUTS:
            raise SpecError(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if self.activation not in ACTIVATIONS:
            raise SpecError(
                f"unknown activation {self.activation!r}; choose one of {', '.join(ACTIVATIONS)}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise SpecError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise SpecError(f"epochs must be an integer from 1 to {MAX_EPOCHS}, got {self.epochs}")
        hidden = self.hidden
        if (
            not isinstance(hidden, tuple)
            or not 1 <= len(hidden) <= MAX_LAYERS
            or not all(isinstance(h, int) and 1 <= h <= MAX_HIDDEN for h in hidden)
        ):
            raise SpecError(
                f"hidden must be 1 to {MAX_LAYERS} layer sizes, each from 1 to {MAX_HIDDEN}, "
                f"got {hidden}"
            )
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise SpecError(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        for name, allowed in RANGES.items():
            v = float(getattr(self, name))
            if not allowed.holds(v):
                raise SpecError(allowed.refusal(f"{v:g}"))

    @property
    def layers(self) -> int:
        """Number of weight layers: 1 for the logistic regressor, hidden layers + 1 for a net."""
        return 1 if self.model == "logreg" else len(self.hidden) + 1

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        """The hidden layers' sizes; none for the logistic regressor."""
        assert isinstance(self.hidden, tuple)
        return () if self.model == "logreg" else self.hidden

    @property
    def hidden_text(self) -> str:
        assert isinstance(self.hidden, tuple)
        return ",".join(str(h) for h in self.hidden)
