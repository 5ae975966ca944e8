"""The model and training settings of one workbook, validated once."""

from __future__ import annotations

from dataclasses import dataclass

MODELS = ("logreg", "mlp")
OUTPUTS = ("softmax", "sigmoid")
LAYOUTS = ("cells", "arrays")

DEFAULT_EPOCHS = 20  # the book trains its logistic regressor for 20 epochs
DEFAULT_LR = 1.0  # the book's learning rate
DEFAULT_HIDDEN = 5  # the book's two-layer net
DEFAULT_SEED = 0

# Bounds keep a build inside what a spreadsheet (1,048,576 rows) and a verify can carry.
MAX_EPOCHS = 1000
MAX_HIDDEN = 64
MAX_LR = 1e6
MAX_SEED = 2**32 - 1


class SpecError(ValueError):
    """A setting outside what xlnet can build."""


@dataclass(frozen=True)
class Spec:
    model: str = "logreg"
    output: str = "softmax"
    hidden: int = DEFAULT_HIDDEN
    epochs: int = DEFAULT_EPOCHS
    lr: float = DEFAULT_LR
    seed: int = DEFAULT_SEED
    layout: str = "cells"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise SpecError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        if self.output not in OUTPUTS:
            raise SpecError(f"unknown output {self.output!r}; choose one of {', '.join(OUTPUTS)}")
        if self.layout not in LAYOUTS:
            raise SpecError(f"unknown layout {self.layout!r}; choose one of {', '.join(LAYOUTS)}")
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise SpecError(f"epochs must be an integer from 1 to {MAX_EPOCHS}, got {self.epochs}")
        if not isinstance(self.hidden, int) or not 1 <= self.hidden <= MAX_HIDDEN:
            raise SpecError(f"hidden must be an integer from 1 to {MAX_HIDDEN}, got {self.hidden}")
        lr = float(self.lr)
        if not 0 < lr < MAX_LR:
            raise SpecError(f"learning rate must be a positive number below {MAX_LR:g}, got {lr}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise SpecError(f"seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")

    @property
    def layers(self) -> int:
        """Number of weight layers: 1 for the logistic regressor, 2 for the net."""
        return 1 if self.model == "logreg" else 2
