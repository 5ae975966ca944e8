"""The command line's option types (bounded integers and numbers, hidden sizes, a sweep's
grids) and the option groups several commands share. Bounds and defaults come from spec.py,
which the API and Spec check too."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from .spec import (
    ACTIVATIONS,
    DEFAULT_ACTIVATION,
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPSILON,
    DEFAULT_HIDDEN,
    DEFAULT_LAYOUT,
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    DEFAULT_OPTIMIZER,
    DEFAULT_OUTPUT,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    LAYOUTS,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_SEED,
    OPTIMIZERS,
    OUTPUTS,
    RANGES,
    SpecError,
    parse_hidden,
)


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer from lo to hi."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo} to {hi}, got {v}")
        return v

    return parse


def number_in(setting: str) -> Callable[[str], float]:
    """An argparse type: a number in the range Spec allows for `setting` (spec.RANGES)."""
    allowed = RANGES[setting]

    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not allowed.holds(v):
            raise argparse.ArgumentTypeError(allowed.refusal(text))
        return v

    return parse


_positive_float = number_in("lr")


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = parse_hidden(text)
    except SpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 1 <= len(sizes) <= MAX_LAYERS or not all(1 <= h <= MAX_HIDDEN for h in sizes):
        raise argparse.ArgumentTypeError(
            f"1 to {MAX_LAYERS} hidden layers of 1 to {MAX_HIDDEN} units each, got {text!r}"
        )
    return sizes


def hidden_grid(text: str) -> list[tuple[int, ...]]:
    """Sweep candidates: "2,5,10" is three one-layer nets; "8x4" one net of two layers."""
    return [_hidden(part) for part in text.split(",")]


def lr_grid(text: str) -> list[float]:
    return [_positive_float(part.strip()) for part in text.split(",")]


def model_options(p: argparse.ArgumentParser, grid: bool = False) -> None:
    """The model's options; a sweep (`grid`) takes --lr and --hidden as lists of its own."""
    if not grid:
        _lr_and_hidden(p)
    p.add_argument(
        "--seed",
        type=int_in(0, MAX_SEED),
        default=DEFAULT_SEED,
        help=f"seed of the initial weights (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--output",
        choices=OUTPUTS,
        default=DEFAULT_OUTPUT,
        help="softmax + cross-entropy (default) or sigmoid per class + binary CE",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default=DEFAULT_LAYOUT,
        help="cells: one formula per scalar (default); arrays: one legacy array formula per block",
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=DEFAULT_ACTIVATION,
        help="activation of mlp's hidden layers (default tanh, as in the book); relu's "
        "derivative at 0 is 0",
    )


def _lr_and_hidden(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lr",
        type=_positive_float,
        default=DEFAULT_LR,
        help=f"learning rate (default {DEFAULT_LR:g}, as in the book)",
    )
    p.add_argument(
        "--hidden",
        type=_hidden,
        default=(DEFAULT_HIDDEN,),
        metavar="SIZES",
        help=f"hidden units of mlp, one size per hidden layer: 5, or 8,4 (also written 8x4, "
        f"as in sweep) for two layers (default {DEFAULT_HIDDEN}, as in the book)",
    )


def training_options(p: argparse.ArgumentParser) -> None:
    """Options of a training run beyond the book's: optimizer, held-out samples, own data."""
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default=DEFAULT_OPTIMIZER,
        help="sgd (default, as in the book), momentum (velocity V per epoch) or adam "
        "(moments M, S and beta^t per epoch, bias-corrected)",
    )
    p.add_argument(
        "--momentum",
        type=number_in("momentum"),
        default=DEFAULT_MOMENTUM,
        help=f"momentum's decay, the named cell momentum (default {DEFAULT_MOMENTUM:g})",
    )
    p.add_argument(
        "--beta1",
        type=number_in("beta1"),
        default=DEFAULT_BETA1,
        help=f"Adam's first-moment decay, the cell adam_beta1 (default {DEFAULT_BETA1:g})",
    )
    p.add_argument(
        "--beta2",
        type=number_in("beta2"),
        default=DEFAULT_BETA2,
        help=f"Adam's second-moment decay, the cell adam_beta2 (default {DEFAULT_BETA2:g})",
    )
    p.add_argument(
        "--epsilon",
        type=number_in("epsilon"),
        default=DEFAULT_EPSILON,
        help=f"Adam's epsilon, the cell adam_epsilon (default {DEFAULT_EPSILON:g})",
    )
    p.add_argument(
        "--test-fraction",
        type=number_in("test_fraction"),
        default=DEFAULT_TEST_FRACTION,
        metavar="F",
        help="hold out this share of each class (seeded, stratified) on a Test sheet; the "
        "summary shows test accuracy per epoch and the confusion matrix is on held-out "
        "samples (default 0: none)",
    )
    p.add_argument(
        "--data",
        metavar="CSV",
        help="train on this CSV instead of the wine data: a header row, numeric feature "
        "columns and one class column (numbers or text)",
    )
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="the class column of --data (default its first column); 2 to 10 classes",
    )
