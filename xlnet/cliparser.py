"""The command line's parser: every command with its flags and help; the flags' types and
shared groups are in clioptions.py, the help's examples in cliexamples.py."""

from __future__ import annotations

import argparse

from .cliexamples import (
    BUILD_EXAMPLES,
    CHECK_EXAMPLES,
    EXERCISE_EXAMPLES,
    SCORER_EXAMPLES,
    SWEEP_EXAMPLES,
    VERIFY_EXAMPLES,
)
from .clioptions import hidden_grid, int_in, lr_grid, model_options, training_options
from .exercises import VARY_LR
from .spec import (
    DEFAULT_ENGINE,
    DEFAULT_EPOCHS,
    DEFAULT_EXERCISE_EPOCHS,
    DEFAULT_GIVEN,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_SCORER_ROWS,
    ENGINES,
    MAX_EPOCHS,
    MAX_SCORER_ROWS,
    MODELS,
)
from .version import __version__


class UsageError(Exception):
    """A command line that cannot run as given: its message is the one line printed, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line on stderr, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message}")


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
        type=int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"gradient-descent steps (default {DEFAULT_EPOCHS}, as in the book)",
    )
    model_options(b)
    training_options(b)
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
    v.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
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
        type=int_in(1, MAX_EPOCHS),
        default=DEFAULT_EXERCISE_EPOCHS,
        help=f"epochs to fill (default {DEFAULT_EXERCISE_EPOCHS}, as in the book's sheet)",
    )
    model_options(x)
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
        "--points",
        metavar="TOML",
        help="points per block ([[sheet]] name, blocks = [{name, points}]), overriding the "
        "template's; the score is the share of points (default: a point per block)",
    )
    c.add_argument(
        "--roster",
        metavar="CSV",
        help="the students' CSV (as for xlnet exercise --roster): its columns lead the "
        "gradebook, matched to the files by name",
    )
    c.add_argument(
        "--feedback",
        metavar="DIR",
        help="write DIR/<file>.xlsx (the submission with its blocks marked and notes on the "
        "wrong ones), DIR/<file>.html per file and DIR/index.html (the class at a glance)",
    )
    c.add_argument(
        "--reveal",
        action="store_true",
        help="show each block's expected formula (the template's, in the form the student "
        "chose) in the report, the JSON and the feedback; hidden unless asked",
    )
    c.add_argument(
        "--jobs",
        type=int_in(1, 256),
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
        type=hidden_grid,
        default=[(DEFAULT_HIDDEN,)],
        metavar="H[,H...]",
        help=f"hidden sizes to try, comma-separated; 8x4 is one candidate with two hidden "
        f"layers (default {DEFAULT_HIDDEN})",
    )
    w.add_argument(
        "--lr",
        type=lr_grid,
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
        type=int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"epochs of every run (default {DEFAULT_EPOCHS})",
    )
    w.add_argument("--json", action="store_true", help="print the results as JSON")
    model_options(w, grid=True)
    training_options(w)
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
        type=int_in(1, MAX_SCORER_ROWS),
        default=DEFAULT_SCORER_ROWS,
        help=f"rows of the input area (default {DEFAULT_SCORER_ROWS})",
    )
    e.add_argument(
        "--examples",
        type=int_in(0, MAX_SCORER_ROWS),
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
        type=int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"epochs when training now (default {DEFAULT_EPOCHS})",
    )
    model_options(e)
    training_options(e)
    return parser
