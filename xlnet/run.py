"""A training run: its program, layout and inputs, made from a spec and a dataset or read back
from a workbook, and what the workbook's Settings sheet says about it, written and read here
side by side."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import a1
from .block import Block
from .data import Dataset, check_normalisable, split
from .layout import (
    DATA,
    DATA_TOP,
    LABEL_COL,
    OPTIMIZER_INPUTS,
    SETTINGS,
    SHEETS,
    TEST,
    Layout,
    setting_block,
)
from .program import TEST_PREFIX, Program, build_program
from .reference import Inputs, Key, initial_params, train
from .scalars import BETA1_NAME, BETA2_NAME, EPS_NAME, LR_NAME, MOMENTUM_NAME, N_NAME
from .spec import (
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPSILON,
    DEFAULT_MOMENTUM,
    Spec,
    SpecError,
    parse_hidden,
)
from .version import __version__
from .xlsxio import Book, BookError


@dataclass(frozen=True)
class Run:
    """A training run: its structure and inputs; from a spec, also the samples it trains on.
    `values` is NumPy's every tensor of every epoch, trained when first asked for."""

    program: Program
    layout: Layout
    inputs: Inputs
    dataset: Dataset | None = None  # the samples trained on (from_spec only)
    test: Dataset | None = None  # the held-out samples (from_spec with a test fraction)

    @classmethod
    def from_spec(cls, spec: Spec, dataset: Dataset) -> Run:
        """Split off the held-out samples (if asked) and lay the run out."""
        train_set, test = dataset, None
        if spec.test_fraction > 0:
            train_set, test = split(dataset, spec.test_fraction, spec.seed)  # checks both parts
        else:  # a Dataset made in code has not been through load_csv's checks
            check_normalisable(dataset.source or "the data", dataset.feature_names,
                               dataset.features)  # fmt: skip
        n_test = 0 if test is None else test.n
        program = build_program(spec, train_set.n, train_set.f, train_set.k, n_test)
        inputs = inputs_for(program, train_set, spec, test)
        return cls(program, Layout(program), inputs, train_set, test)

    @classmethod
    def from_book(cls, book: Book) -> Run:
        """Spec, data, initial weights, learning rate and N, all as entered in the file."""
        return _read_run(book)

    @property
    def spec(self) -> Spec:
        return self.program.spec

    @cached_property
    def values(self) -> dict[Key, np.ndarray]:
        return train(self.program, self.inputs)

    def per_epoch(self, name: str) -> tuple[float, ...] | None:
        """A 1x1 tensor's value at every epoch (Loss, Accuracy, ...); None when not computed."""
        if (name, 1) not in self.values:
            return None
        return tuple(float(self.values[(name, e)][0, 0]) for e in range(1, self.spec.epochs + 1))

    def history(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...] | None]:
        """Per epoch: the loss, the accuracy and (with held-out samples) the test accuracy."""
        loss, accuracy = self.per_epoch("Loss"), self.per_epoch("Accuracy")
        assert loss is not None and accuracy is not None
        return loss, accuracy, self.per_epoch(TEST_PREFIX + "Accuracy")

    @property
    def first_loss(self) -> float:
        return float(self.values[("Loss", 1)][0, 0])

    @property
    def final_loss(self) -> float:
        return float(self.values[("Loss", self.spec.epochs)][0, 0])

    @property
    def final_accuracy(self) -> float:
        return float(self.values[("Accuracy", self.spec.epochs)][0, 0])

    @property
    def final_test_accuracy(self) -> float | None:
        test = self.per_epoch(TEST_PREFIX + "Accuracy")
        return None if test is None else test[-1]

    def overflow(self) -> tuple[str, int] | None:
        """The first (tensor, epoch) whose values leave the double range, if the run diverges
        (an unbounded relu net at a large learning rate): a spreadsheet shows them as #NUM!."""
        for e in range(1, self.spec.epochs + 1):
            for step in self.program.epoch_steps:
                if not np.isfinite(self.values[(step.out, e)]).all():
                    return step.out, e
        return None


def inputs_for(
    program: Program, dataset: Dataset, spec: Spec, test: Dataset | None = None
) -> Inputs:
    """The NumPy trainer's inputs for a spec's run on `dataset` (and its held-out samples)."""
    return Inputs(
        raw=dataset.features,
        label=dataset.labels[:, None],
        classes=np.array([dataset.classes]),
        init=initial_params(program, spec.seed),
        lr=float(spec.lr),
        n=float(dataset.n),
        test_raw=None if test is None else test.features,
        test_label=None if test is None else test.labels[:, None],
        momentum=float(spec.momentum),
        beta1=float(spec.beta1),
        beta2=float(spec.beta2),
        epsilon=float(spec.epsilon),
    )


def setting_values(program: Program, inputs: Inputs, dataset: Dataset) -> dict[str, object]:
    """The value of each row of the Settings sheet, as the writer enters it (hidden is 0 for
    the logistic regressor; one hidden layer's size is a number, several are text like "8,4");
    _read_run below reads them back."""
    spec, d = program.spec, program.dims
    hidden: object = 0
    if spec.model == "mlp":
        hidden = d.hidden[0] if len(d.hidden) == 1 else spec.hidden_text
    source = f"{dataset.source or 'wine.csv'}, class column {dataset.target_name}"
    return {
        "model": spec.model, "output": spec.output, "hidden": hidden,
        "activation": spec.activation if spec.model == "mlp" else "-", "epochs": spec.epochs,
        LR_NAME: inputs.lr, N_NAME: inputs.n, "optimizer": spec.optimizer,
        MOMENTUM_NAME: inputs.momentum, BETA1_NAME: inputs.beta1, BETA2_NAME: inputs.beta2,
        EPS_NAME: inputs.epsilon, "seed": spec.seed, "layout": spec.layout,
        "test_fraction": float(spec.test_fraction), "data": source,
        "features": d.f, "classes": d.k, "version": __version__,
    }  # fmt: skip


def setting(book: Book, key: str) -> object:
    """What a workbook's Settings row holds as entered (None when empty or no Settings sheet)."""
    if SETTINGS.upper() not in {s.upper() for s in book.sheets}:
        return None
    b = setting_block(key)
    return book.sheet(SETTINGS).values.get((b.row, b.col))


def as_whole(v: object, low: int) -> int | None:
    """`v` as a whole number >= low, as a cell holds it (never a bool or text); else None."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return int(v) if v == int(v) and v >= low else None


def as_number(v: object) -> float | None:
    """`v` as a finite number, as a cell holds it (never a bool or text); else None."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _read_run(book: Book) -> Run:
    for name in SHEETS:
        book.sheet(name)  # raises when a sheet is missing

    def entered(key: str) -> object:
        v = setting(book, key)
        if v is None:
            b = setting_block(key)
            raise BookError(f"{book.path}: Settings!{a1.cell(b.row, b.col)} ({key}) is empty")
        return v

    def whole(key: str, low: int) -> int:
        v = as_whole(entered(key), low)
        if v is None:
            raise BookError(
                f"{book.path}: Settings {key} must be a whole number >= {low}, got {entered(key)!r}"
            )
        return v

    def number(key: str) -> float:
        v = as_number(entered(key))
        if v is None:
            raise BookError(f"{book.path}: Settings {key} must be a number, got {entered(key)!r}")
        return v

    def hidden() -> tuple[int, ...]:
        v = entered("hidden")
        return parse_hidden(v) if isinstance(v, str) else (whole("hidden", 1),)

    try:
        model = str(entered("model"))
        spec = Spec(
            model=model,
            output=str(entered("output")),
            hidden=hidden() if model == "mlp" else 5,
            activation=str(entered("activation")) if model == "mlp" else "tanh",
            epochs=whole("epochs", 1),
            seed=whole("seed", 0),
            layout=str(entered("layout")),
            optimizer=str(entered("optimizer")),
        )
    except SpecError as exc:
        raise BookError(f"{book.path}: not an xlnet training workbook ({exc})") from None
    f, k = whole("features", 1), whole("classes", 2)
    lr, n_div = number(LR_NAME), number(N_NAME)
    if n_div <= 0:
        raise BookError(f"{book.path}: Settings {N_NAME} must be positive, got {n_div:g}")
    # The optimizer's hyperparameters are inputs like the learning rate: read as entered.
    hyper = {MOMENTUM_NAME: DEFAULT_MOMENTUM, BETA1_NAME: DEFAULT_BETA1,
             BETA2_NAME: DEFAULT_BETA2, EPS_NAME: DEFAULT_EPSILON}  # fmt: skip
    for key in OPTIMIZER_INPUTS[spec.optimizer]:
        hyper[key] = number(key)

    def count_samples(sheet: str) -> int:
        values = book.sheet(sheet).values
        n = 0
        while (DATA_TOP + n, LABEL_COL) in values:
            n += 1
        if n == 0:
            raise BookError(f"{book.path}: the {sheet} sheet holds no samples")
        return n

    n = count_samples(DATA)
    n_test = count_samples(TEST) if TEST.upper() in {s.upper() for s in book.sheets} else 0
    program = build_program(spec, n, f, k, n_test)
    try:
        layout = Layout(program)
    except SpecError as exc:
        raise BookError(f"{book.path}: not an xlnet training workbook ({exc})") from None

    test: dict[str, np.ndarray | None] = {"Raw": None, "Label": None}
    if n_test:
        test = {n: block_numbers(book, layout.block(TEST_PREFIX + n), "held-out " + n.lower())
                for n in test}  # fmt: skip
    inputs = Inputs(
        raw=block_numbers(book, layout.block("Raw"), "raw data"),
        label=block_numbers(book, layout.block("Label"), "label"),
        classes=block_numbers(book, layout.block("Classes"), "class value"),
        init={
            p: block_numbers(book, layout.block(program.carried(p), 0), p) for p in program.initial
        },
        lr=lr,
        n=n_div,
        test_raw=test["Raw"],
        test_label=test["Label"],
        momentum=hyper[MOMENTUM_NAME],
        beta1=hyper[BETA1_NAME],
        beta2=hyper[BETA2_NAME],
        epsilon=hyper[EPS_NAME],
    )
    return Run(program, layout, inputs)


def block_numbers(book: Book, block: Block, what: str) -> np.ndarray:
    """A block of numbers entered in `book` (inputs: data, weights, a scorer's model); a cell
    holding anything else is a BookError naming it."""
    values = book.sheet(block.sheet).values
    out = np.empty((block.nrows, block.ncols))
    for i, j, r, c in block.cells():
        v = values.get((r, c))
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise BookError(
                f"{book.path}: {block.sheet}!{a1.cell(r, c)} ({what}) should hold a number, "
                f"found {v!r}"
            )
        out[i, j] = float(v)
    return out
