"""Pure addressing: where every tensor of every epoch lives (sheet and cell range).

The NumPy trainer, the formula writer and the read-back all ask this module, so they cannot
disagree about where a block is. Nothing here touches a file.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import a1
from .block import Block
from .scalars import BETA1_NAME, BETA2_NAME, EPS_NAME, LR_NAME, MOMENTUM_NAME, N_NAME
from .spec import SpecError

if TYPE_CHECKING:
    from .program import Program, Step

CellFormula = Callable[[int, int], str]  # (i, j) inside a block -> that cell's formula

ABOUT = "About"
SUMMARY = "Summary"
SETTINGS = "Settings"
DATA = "Data"
INIT = "Init"
TRAIN = "Train"
TEST = "Test"  # held-out samples; only with a test fraction
SHEETS = (ABOUT, SUMMARY, SETTINGS, DATA, INIT, TRAIN)  # in every training workbook

HYPER_NAMES = (MOMENTUM_NAME, BETA1_NAME, BETA2_NAME, EPS_NAME)
# The hyperparameter cells each optimizer's formulas read (input cells, like the learning rate).
OPTIMIZER_INPUTS = {"sgd": (), "momentum": (MOMENTUM_NAME,),
                    "adam": (BETA1_NAME, BETA2_NAME, EPS_NAME)}  # fmt: skip

# Settings sheet: key, label, meaning. Row i+1 (0-based) holds setting i; column B the value.
SETTING_ROWS: tuple[tuple[str, str, str], ...] = (
    ("model", "Model", "logreg (features -> classes) or mlp (one or more hidden layers)"),
    ("output", "Output", "softmax + cross-entropy, or one sigmoid per class + binary CE"),
    ("hidden", "Hidden size", "units of each hidden layer, e.g. 5 or 8,4 (mlp only)"),
    ("activation", "Activation", "of the hidden layers: tanh, sigmoid or relu (mlp only)"),
    ("epochs", "Epochs", "full-batch gradient-descent steps written below each other"),
    (LR_NAME, "Learning rate", "defined name learning_rate: change it and the run recomputes"),
    (N_NAME, "Sample count", "defined name n_samples: the N in the means and in dW = X'dZ/N"),
    (
        "optimizer",
        "Optimizer",
        "sgd, momentum (velocity V) or adam (moments M, S and beta^t)",
    ),
    (MOMENTUM_NAME, "Momentum", "defined name momentum: V = momentum * V + dP (momentum only)"),
    (BETA1_NAME, "Adam beta1", "defined name adam_beta1: decay of the first moment M (adam)"),
    (BETA2_NAME, "Adam beta2", "defined name adam_beta2: decay of the second moment S (adam)"),
    (EPS_NAME, "Adam epsilon", "defined name adam_epsilon: added to sqrt(S) (adam only)"),
    ("seed", "Seed", "seed of the initial weights on the Init sheet and of the test split"),
    ("layout", "Layout", "cells: one formula per scalar; arrays: one array formula per block"),
    ("test_fraction", "Test fraction", "share of each class held out on the Test sheet"),
    ("data", "Data", "the CSV the samples came from, and its class column"),
    ("features", "Features", "number of input features"),
    ("classes", "Classes", "number of classes"),
    ("version", "xlnet version", "the version that wrote this workbook"),
)
# Rows below the settings, written only in exercises (xlnet exercise).
EXERCISE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("given", "Given blocks", "groups of blocks given as formulas; the others are to be filled"),
    ("student", "Student", "who this variant was written for (its seed is derived from it)"),
)
SETTING_KEYS = tuple(k for k, _, _ in SETTING_ROWS + EXERCISE_ROWS)

DATA_TOP = 4  # first sample row (0-based) on the Data sheet; rows above hold titles and stats
LABEL_COL = 0  # the class label of each sample, left of the raw features
BAND_HEADER = 2  # rows above each epoch's blocks: the epoch title, then the block headers


def setting_block(key: str) -> Block:
    """The value cell of a setting; the same in every workbook."""
    return Block(SETTINGS, 1 + SETTING_KEYS.index(key), 1, 1, 1)


class Layout:
    """Where each (tensor, epoch) of a program sits in the `cells` layout."""

    def __init__(self, program: Program) -> None:
        self.program = program
        d = program.dims
        self._data: dict[str, Block] = {
            "Label": Block(DATA, DATA_TOP, LABEL_COL, d.n, 1),
            "Raw": Block(DATA, DATA_TOP, 1, d.n, d.f),
            "Mean": Block(DATA, 1, 1, 1, d.f),
            "Std": Block(DATA, 2, 1, 1, d.f),
            "Classes": Block(DATA, DATA_TOP - 1, d.f + 2, 1, d.k),
            "Y": Block(DATA, DATA_TOP, d.f + 2, d.n, d.k),
            "X": Block(DATA, DATA_TOP, d.f + d.k + 3, d.n, d.f),
        }
        if d.n_test:
            # The Test sheet mirrors the Data sheet's columns: label, raw features, then X.
            self._data.update({
                "Test Label": Block(TEST, DATA_TOP, LABEL_COL, d.n_test, 1),
                "Test Raw": Block(TEST, DATA_TOP, 1, d.n_test, d.f),
                "Test X": Block(TEST, DATA_TOP, d.f + 2, d.n_test, d.f),
            })  # fmt: skip
        # Init: each parameter's and optimizer state's epoch-0 value, keyed by the tensor that
        # carries it ("New W1", "V W1").
        self._init: dict[str, Block] = {}
        col = 1
        for p in program.initial:
            rows, cols = program.tensors[p]
            self._init[program.carried(p)] = Block(INIT, 2, col, rows, cols)
            col += cols + 1
        self._band_cols: dict[str, tuple[int, int, int]] = {}
        col, tallest = 1, 0
        for step in program.epoch_steps:
            rows, cols = program.tensors[step.out]
            self._band_cols[step.out] = (col, rows, cols)
            col += cols + 1
            tallest = max(tallest, rows)
        self.band_height = BAND_HEADER + tallest + 1
        self.train_cols = col
        e = program.spec.epochs
        self._summary = {
            name: Block(SUMMARY, 1, 1 + i, e, 1) for i, name in enumerate(program.summary)
        }
        # The confusion matrix sits right of the summary columns, below its title and the
        # predicted classes' header; the actual classes head its rows.
        self.confusion_col = len(program.summary) + 2
        self._summary["Confusion"] = Block(SUMMARY, 2, self.confusion_col + 1, d.k, d.k)
        last_row = self.band_top(e) + self.band_height
        if last_row > a1.MAX_ROWS:
            raise SpecError(
                f"{e} epochs of {self.band_height} rows need {last_row} rows; "
                f"a sheet holds {a1.MAX_ROWS}"
            )
        if self.train_cols > a1.MAX_COLS:
            raise SpecError(f"the Train sheet would need {self.train_cols} columns; "
                            f"a sheet holds {a1.MAX_COLS}")  # fmt: skip

    def band_top(self, epoch: int) -> int:
        """0-based row of the title of epoch `epoch` (1-based) on the Train sheet."""
        return (epoch - 1) * self.band_height

    def block(self, name: str, epoch: int | None = None) -> Block:
        if name in self._data:
            return self._data[name]
        if name in self._summary:
            return self._summary[name]
        if epoch == 0 and name in self._init:
            return self._init[name]
        if epoch is None or not 1 <= epoch <= self.program.spec.epochs:
            raise KeyError(f"no block {name!r} at epoch {epoch}")
        col, rows, cols = self._band_cols[name]
        return Block(TRAIN, self.band_top(epoch) + BAND_HEADER, col, rows, cols)

    def setting(self, key: str) -> Block:
        return setting_block(key)

    def step_formula(self, step: Step, epoch: int | None) -> tuple[Block, str | None, CellFormula]:
        """How step `step` of `epoch` (None: the data preparation) is written: its block, its
        one array formula or None, and the formula of cell (i, j) of the block (without "=").
        Epoch blocks follow the chosen layout; the data preparation is always cell by cell."""
        out = self.block(step.out, epoch)
        if epoch is None:
            args = [self.block(a.name) for a in step.args]
        else:
            args = [self.block(*self.program.locate(a, epoch)) for a in step.args]
        array = None
        arrays = self.program.spec.layout == "arrays" and epoch is not None
        if arrays and step.op.array is not None and out.nrows * out.ncols > 1:
            array = step.op.array(out.sheet, *args)

        def cell(i: int, j: int) -> str:
            return step.op.cell(i, j, out.sheet, *args)

        return out, array, cell

    def summary_epoch_block(self) -> Block:
        return Block(SUMMARY, 1, 0, self.program.spec.epochs, 1)
