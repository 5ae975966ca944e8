"""What a workbook says about its own training run: its structure and its inputs (data, initial
weights, learning rate, sample count), all as entered in the file."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import __version__, a1
from .data import Dataset
from .layout import (
    BETA1_NAME,
    BETA2_NAME,
    DATA,
    DATA_TOP,
    EPS_NAME,
    LABEL_COL,
    LR_NAME,
    MOMENTUM_NAME,
    N_NAME,
    OPTIMIZER_INPUTS,
    SETTINGS,
    SHEETS,
    TEST,
    Block,
    Layout,
    setting_block,
)
from .program import TEST_PREFIX, Program, build_program
from .reference import Inputs
from .spec import (
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPSILON,
    DEFAULT_MOMENTUM,
    Spec,
    SpecError,
    parse_hidden,
)
from .xlsxio import Book, BookError


@dataclass(frozen=True)
class Run:
    """What a file says about its own training run: structure and inputs."""

    program: Program
    layout: Layout
    inputs: Inputs


def read_run(book: Book) -> Run:
    """Spec, data, initial weights, learning rate and N, all as entered in the file."""
    for name in SHEETS:
        book.sheet(name)  # raises when a sheet is missing
    settings = book.sheet(SETTINGS).values

    def setting(key: str):
        b = setting_block(key)
        v = settings.get((b.row, b.col))
        if v is None:
            raise BookError(f"{book.path}: Settings!{a1.cell(b.row, b.col)} ({key}) is empty")
        return v

    def whole(key: str, low: int) -> int:
        v = setting(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < low:
            raise BookError(
                f"{book.path}: Settings {key} must be a whole number >= {low}, got {v!r}"
            )
        return int(v)

    def number(key: str) -> float:
        v = setting(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise BookError(f"{book.path}: Settings {key} must be a number, got {v!r}")
        return float(v)

    def hidden() -> tuple[int, ...]:
        v = setting("hidden")
        if isinstance(v, str):
            return parse_hidden(v)
        return (whole("hidden", 1),)

    try:
        model = str(setting("model"))
        optimizer = str(setting("optimizer"))
        spec = Spec(
            model=model,
            output=str(setting("output")),
            hidden=hidden() if model == "mlp" else 5,
            activation=str(setting("activation")) if model == "mlp" else "tanh",
            epochs=whole("epochs", 1),
            seed=whole("seed", 0),
            layout=str(setting("layout")),
            optimizer=optimizer,
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


def setting_values(program: Program, inputs: Inputs, dataset: Dataset) -> dict[str, object]:
    """The value of each row of the Settings sheet, as the writer enters it (hidden is 0 for
    the logistic regressor; one hidden layer's size is a number, several are text like "8,4");
    read_run above reads them back."""
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
