"""The command line's parser: every command, its flags with their types, help and examples.
Bounds and defaults come from spec.py, which the API and Spec check too."""

from __future__ import annotations

import argparse

from .exercises import DEFAULT_GIVEN, VARY_LR
from .spec import (
    ACTIVATIONS,
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPOCHS,
    DEFAULT_EPSILON,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    DEFAULT_SCORER_ROWS,
    DEFAULT_SEED,
    LAYOUTS,
    MAX_EPOCHS,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_SCORER_ROWS,
    MAX_SEED,
    MODELS,
    OPTIMIZERS,
    OUTPUTS,
    RANGES,
    SpecError,
    parse_hidden,
)
from .version import __version__


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line on stderr, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


def _int_in(lo: int, hi: int):
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


def _number_in(setting: str):
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


_positive_float = _number_in("lr")


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


BUILD_EXAMPLES = """\
examples:
  xlnet build logreg -o wine-logreg.xlsx            # the book's regressor: lr 1, 20 epochs
  xlnet build mlp --hidden 5 -o wine-net.xlsx       # 13 -> 5 (tanh) -> 3
  xlnet build mlp --output sigmoid --epochs 50 --lr 0.5 -o net.xlsx
  xlnet build mlp --hidden 8,4 --activation relu --lr 0.3 -o deep.xlsx   # two hidden layers
  xlnet build mlp --optimizer adam --lr 0.05 -o adam.xlsx       # moments M, S per epoch
  xlnet build mlp --optimizer momentum --momentum 0.8 --lr 0.3 -o mom.xlsx
  xlnet build logreg --test-fraction 0.3 -o heldout.xlsx        # test accuracy per epoch
  xlnet build logreg --data iris.csv --target species -o iris.xlsx   # your own CSV

Options that do not apply are refused: --hidden and --activation with logreg, --momentum
without --optimizer momentum, --beta1/--beta2/--epsilon without --optimizer adam. A run whose
final loss is above its first epoch's is written, with a warning on stderr.

--data: a CSV with a header row and one class column (--target, default the first column)
holding 2 to 10 classes, as numbers or text; every other column is a numeric feature, named by
the header. Text classes are coded 1..K in sorted order and shown by name.
"""

VERIFY_EXAMPLES = """\
examples:
  xlnet verify wine-net.xlsx                        # the verdict, a summary, every failure
  xlnet verify wine-net.xlsx --details              # and a row for every block of every epoch
  xlnet verify wine-net.xlsx --json > report.json
  xlnet verify wine-net.xlsx --engine libreoffice   # recalculate in headless LibreOffice

The first line is the verdict (OK or FAILED); then the blocks and epochs checked, the worst
error, the drift, and every failure in full.

exit status: 0 all blocks agree within the tolerance, 1 something differs (the report says
where), 2 bad usage or a file that is not an xlnet workbook.
"""


EXERCISE_EXAMPLES = """\
examples:
  xlnet exercise logreg -o ex1.xlsx                 # data, weights given; the rest to fill
  xlnet exercise mlp --given forward,loss -o ex2.xlsx   # forward pass given, gradients to do
  xlnet exercise mlp --roster examples/students.csv --outdir ex/ --vary-lr   # one per student
  xlnet exercise --template klaas-ch1 -o ch1.xlsx   # the book's blank chapter-1 sheet
  xlnet exercise --template klaas-ch1 --roster examples/students.csv --outdir ch1/

block groups: params (each epoch's copy of the previous New weights), forward (Z, activations),
loss (per-sample loss, loss, prediction, accuracy), backward (dZ, dW, db), update (New W, b).
"""

SWEEP_EXAMPLES = """\
examples:
  xlnet sweep --hidden 2,5,10 --lr 0.1,0.5,1        # the book's exercise 4; writes sweep.xlsx
  xlnet sweep --hidden 5,8x4 --lr 0.3,1 --activation relu -o relu-sweep.xlsx
  xlnet sweep --model logreg --lr 0.01,0.1,1,10 --test-fraction 0.3 --json

The best run is the one with the lowest final training loss (ties: the first in the grid); a
run that diverges (numbers overflow) ranks last. Every run starts from the same seed.
"""

SCORER_EXAMPLES = """\
examples:
  xlnet export-scorer wine-net.xlsx -o scorer.xlsx      # the trained weights of a workbook
  xlnet export-scorer mlp --hidden 8 --epochs 200 --lr 0.5 -o scorer.xlsx   # train now
  xlnet export-scorer logreg --examples 5 --check -o scorer.xlsx

The Score sheet's yellow rows take one sample each (the raw features, in the training data's
units: the sheet normalises them with the training mean and std); a row shows its predicted
class and one probability per class once every feature is filled, and nothing before.
"""

CHECK_EXAMPLES = """\
examples:
  xlnet check ex1.xlsx                              # an exercise written by xlnet exercise
  xlnet check --template klaas-ch1 submissions/*.xlsx --report grades.csv
  xlnet check --template klaas-ch1 --json alice.xlsx

verdicts per block: correct, wrong (first wrong cell, its formula, expected, got, how many
cells), missing (blank), not_formula (typed or pasted numbers), error (#VALUE!, #NAME? ...).
Each block is judged on the student's own upstream blocks: one mistake costs one block.
--json prints one object per file ({"file", "score", "sheets": [{"sheet", "blocks": [...]}]});
several files give a list of them.

exit status: 0 every file has full marks, 1 some block is not correct or some file could not be
graded (the report says which), 2 bad usage (unknown template, unwritable report).
"""


def make_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog="xlnet",
        description="Write machine-learning training into spreadsheets as live formulas, "
        "and check every formula against NumPy.",
        epilog="run 'xlnet COMMAND --help' for a command's options and examples",
    )
    parser.add_argument("--version", action="version", version=f"xlnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    b = sub.add_parser(
        "build",
        help="write a training workbook (.xlsx): the wine data or your own CSV",
        description="Train a model on the UCI wine data (or --data CSV) in live spreadsheet "
        "formulas: each epoch holds the forward pass, the loss, the gradients, the optimizer's "
        "state and the updated weights.",
        epilog=BUILD_EXAMPLES,
        formatter_class=fmt,
    )
    b.add_argument("model", choices=MODELS, help="logreg (13 -> 3) or mlp (13 -> H -> ... -> 3)")
    b.add_argument("-o", "--out", required=True, metavar="FILE", help="output .xlsx path")
    b.add_argument(
        "--epochs",
        type=_int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"gradient-descent steps (default {DEFAULT_EPOCHS}, as in the book)",
    )
    _model_options(b)
    _training_options(b)
    v = sub.add_parser(
        "verify",
        help="recompute every formula of a workbook and compare with NumPy",
        description="Recompute every formula of an xlnet workbook (never trusting cached values), "
        "train the NumPy reference from the file's own inputs (data, initial weights, learning "
        "rate) and compare every block of every epoch.",
        epilog=VERIFY_EXAMPLES,
        formatter_class=fmt,
    )
    v.add_argument("file", help="an .xlsx written by xlnet build")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.add_argument("--details", action="store_true",
                   help="after the summary, a row for every block of every epoch")  # fmt: skip
    v.add_argument("--engine", choices=("formulas", "libreoffice"), default="formulas",
                   help="formulas: pure-Python evaluator (default); libreoffice: headless "
                   "LibreOffice recalculation")  # fmt: skip
    x = sub.add_parser(
        "exercise",
        help="write a blank exercise workbook (or one per student) to fill in",
        description="Write an exercise: the data, settings and initial weights given, the blocks "
        "a student must fill left blank (blue) under their headers, with instructions on the "
        "About sheet. Grade the filled-in files with xlnet check.",
        epilog=EXERCISE_EXAMPLES,
        formatter_class=fmt,
    )
    x.add_argument(
        "model", nargs="?", choices=MODELS, help="logreg or mlp (not needed with --template)"
    )
    x.add_argument("-o", "--out", metavar="FILE", help="output .xlsx path")
    x.add_argument(
        "--template",
        metavar="NAME|PATH",
        help="write the blank workbook of a template (e.g. klaas-ch1) instead",
    )
    x.add_argument(
        "--given",
        default=",".join(DEFAULT_GIVEN),
        metavar="GROUPS",
        help="block groups given as formulas: params, forward, loss, backward, "
        f"update, all or none (default {','.join(DEFAULT_GIVEN)})",
    )
    x.add_argument(
        "--epochs",
        type=_int_in(1, MAX_EPOCHS),
        default=1,
        help="epochs to fill (default 1, as in the book's sheet)",
    )
    _model_options(x)
    x.add_argument(
        "--roster",
        metavar="CSV",
        help="one workbook per student, DIR/NAME.xlsx (column student, name or id, else the "
        "first column), each with its own seed; needs --outdir",
    )
    x.add_argument("--outdir", metavar="DIR",
                   help="folder for the per-student workbooks (created if missing)")  # fmt: skip
    x.add_argument(
        "--vary-lr",
        action="store_true",
        help="with --roster: each student also gets a learning rate of their own "
        f"(from {VARY_LR[0]:g} to {VARY_LR[1]:g})",
    )
    c = sub.add_parser(
        "check",
        help="grade filled-in exercise workbooks, block by block",
        description="Grade workbooks students filled in: recompute their formulas (never "
        "trusting cached values), judge every block against NumPy applied to the student's own "
        "upstream blocks, and report a verdict per block with hints for common mistakes.",
        epilog=CHECK_EXAMPLES,
        formatter_class=fmt,
    )
    c.add_argument("files", nargs="+", metavar="SUBMISSION", help="filled-in .xlsx files")
    c.add_argument(
        "--template",
        metavar="NAME|PATH",
        help="the layout the files follow (e.g. klaas-ch1, or a .toml file); "
        "without it, each file must be an exercise written by xlnet exercise",
    )
    c.add_argument(
        "--given",
        metavar="GROUPS",
        help="for exercises: the block groups that were given, overriding the file's own "
        "Settings (which a student can edit); e.g. params",
    )
    c.add_argument("--json", action="store_true", help="print the grades as JSON")
    c.add_argument(
        "--report",
        metavar="CSV",
        help="write a gradebook: one row per file, one column per block, the score",
    )
    c.add_argument(
        "--jobs",
        type=_int_in(1, 256),
        default=None,
        help="files graded at once (default: one per CPU core)",
    )
    w = sub.add_parser(
        "sweep",
        help="train a grid of hidden sizes and learning rates; write the best as formulas",
        description="Train every (hidden size, learning rate) of a grid with the NumPy "
        "reference, print the results, and write a workbook: a Sweep sheet with the results "
        "table and every run's loss curve (chart), then the best setting's full training as "
        "live formulas (verify it like any build).",
        epilog=SWEEP_EXAMPLES,
        formatter_class=fmt,
    )
    w.add_argument(
        "--hidden",
        type=_hidden_grid,
        default=[(DEFAULT_HIDDEN,)],
        metavar="H[,H...]",
        help=f"hidden sizes to try, comma-separated; 8x4 is one candidate with two hidden "
        f"layers (default {DEFAULT_HIDDEN})",
    )
    w.add_argument(
        "--lr",
        type=_lr_grid,
        default=[DEFAULT_LR],
        metavar="LR[,LR...]",
        help=f"learning rates to try, comma-separated (default {DEFAULT_LR:g})",
    )
    w.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="mlp (default) sweeps hidden sizes and learning rates; logreg learning rates only",
    )
    w.add_argument(
        "-o",
        "--out",
        default="sweep.xlsx",
        metavar="FILE",
        help="the workbook to write (default sweep.xlsx)",
    )
    w.add_argument(
        "--epochs",
        type=_int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"epochs of every run (default {DEFAULT_EPOCHS})",
    )
    w.add_argument("--json", action="store_true", help="print the results as JSON")
    _model_options(w, grid=True)
    _training_options(w)
    e = sub.add_parser(
        "export-scorer",
        help="write a scoring sheet: trained weights and an input area that predicts",
        description="Write a small workbook holding a trained model's weights (from a "
        "training workbook, recomputed and never taken from cached values, or trained now) and "
        "an input area: type or paste samples and see the predicted class and the class "
        "probabilities, as formulas.",
        epilog=SCORER_EXAMPLES,
        formatter_class=fmt,
    )
    e.add_argument(
        "source",
        metavar="WORKBOOK|MODEL",
        help="a training workbook (.xlsx) whose last epoch's weights to use, or logreg/mlp to "
        "train one now with the build options below",
    )
    e.add_argument("-o", "--out", required=True, metavar="FILE", help="output .xlsx path")
    e.add_argument(
        "--rows",
        type=_int_in(1, MAX_SCORER_ROWS),
        default=DEFAULT_SCORER_ROWS,
        help=f"rows of the input area (default {DEFAULT_SCORER_ROWS})",
    )
    e.add_argument(
        "--examples",
        type=_int_in(0, MAX_SCORER_ROWS),
        default=0,
        help="prefill this many rows with training samples, every class in turn (default 0)",
    )
    e.add_argument(
        "--check",
        action="store_true",
        help="score the training samples in a copy with the formula evaluator and compare "
        "with NumPy's predictions (exit 1 if any differs)",
    )
    e.add_argument(
        "--epochs",
        type=_int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"epochs when training now (default {DEFAULT_EPOCHS})",
    )
    _model_options(e)
    _training_options(e)
    return parser


def _hidden_grid(text: str) -> list[tuple[int, ...]]:
    """Sweep candidates: "2,5,10" is three one-layer nets; "8x4" one net of two layers."""
    return [_hidden(part) for part in text.split(",")]


def _lr_grid(text: str) -> list[float]:
    return [_positive_float(part.strip()) for part in text.split(",")]


def _model_options(p: argparse.ArgumentParser, grid: bool = False) -> None:
    """The model's options; a sweep (`grid`) takes --lr and --hidden as lists of its own."""
    if not grid:
        _lr_and_hidden(p)
    p.add_argument(
        "--seed",
        type=_int_in(0, MAX_SEED),
        default=DEFAULT_SEED,
        help=f"seed of the initial weights (default {DEFAULT_SEED})",
    )
    p.add_argument(
        "--output",
        choices=OUTPUTS,
        default="softmax",
        help="softmax + cross-entropy (default) or sigmoid per class + binary CE",
    )
    p.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="cells",
        help="cells: one formula per scalar (default); arrays: one legacy array formula per block",
    )
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default="tanh",
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


def _training_options(p: argparse.ArgumentParser) -> None:
    """Options of a training run beyond the book's: optimizer, held-out samples, own data."""
    p.add_argument(
        "--optimizer",
        choices=OPTIMIZERS,
        default="sgd",
        help="sgd (default, as in the book), momentum (velocity V per epoch) or adam "
        "(moments M, S and beta^t per epoch, bias-corrected)",
    )
    p.add_argument(
        "--momentum",
        type=_number_in("momentum"),
        default=DEFAULT_MOMENTUM,
        help=f"momentum's decay, the named cell momentum (default {DEFAULT_MOMENTUM:g})",
    )
    p.add_argument(
        "--beta1",
        type=_number_in("beta1"),
        default=DEFAULT_BETA1,
        help=f"Adam's first-moment decay, the cell adam_beta1 (default {DEFAULT_BETA1:g})",
    )
    p.add_argument(
        "--beta2",
        type=_number_in("beta2"),
        default=DEFAULT_BETA2,
        help=f"Adam's second-moment decay, the cell adam_beta2 (default {DEFAULT_BETA2:g})",
    )
    p.add_argument(
        "--epsilon",
        type=_number_in("epsilon"),
        default=DEFAULT_EPSILON,
        help=f"Adam's epsilon, the cell adam_epsilon (default {DEFAULT_EPSILON:g})",
    )
    p.add_argument(
        "--test-fraction",
        type=_number_in("test_fraction"),
        default=0.0,
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
