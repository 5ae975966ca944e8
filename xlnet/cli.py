"""Command line: parse, call one library function, print. Exit 0 ok, 1 mismatch, 2 bad input."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from . import __version__
from .data import load_csv, load_wine
from .errors import XlnetError
from .exercises import DEFAULT_GIVEN, VARY_LR
from .scorer import DEFAULT_ROWS, MAX_INPUT_ROWS
from .spec import (
    ACTIVATIONS,
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_EPOCHS,
    DEFAULT_EPSILON,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    DEFAULT_SEED,
    LAYOUTS,
    MAX_EPOCHS,
    MAX_HIDDEN,
    MAX_LAYERS,
    MAX_SEED,
    MODELS,
    OPTIMIZERS,
    OUTPUTS,
    RANGES,
    Spec,
    SpecError,
    parse_hidden,
)
from .terminal import (
    Terminated,
    closing,
    progress_bar,
    quiet_broken_pipe,
    sigterm_raises,
    ticker,
    ticking,
)
from .words import quantity

EXIT_OK, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + 2, 128 + 15  # as a shell reports SIGINT, SIGTERM


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
        type=_int_in(1, MAX_INPUT_ROWS),
        default=DEFAULT_ROWS,
        help=f"rows of the input area (default {DEFAULT_ROWS})",
    )
    e.add_argument(
        "--examples",
        type=_int_in(0, MAX_INPUT_ROWS),
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


def _spec(args: argparse.Namespace, **over) -> Spec:
    """The Spec the parsed options describe (training options where the command has them)."""
    fields = dict(model=args.model, output=args.output, hidden=args.hidden,
                  activation=args.activation, epochs=args.epochs, lr=args.lr, seed=args.seed,
                  layout=args.layout)  # fmt: skip
    for key in ("optimizer", "momentum", "beta1", "beta2", "epsilon", "test_fraction"):
        if hasattr(args, key):
            fields[key] = getattr(args, key)
    fields.update(over)
    return Spec(**fields)


def _dataset(args: argparse.Namespace):
    """The wine data, or --data's CSV with its --target column."""
    if getattr(args, "data", None):
        return load_csv(args.data, args.target)
    if getattr(args, "target", None):
        raise UsageError("xlnet: --target goes with --data CSV")
    return load_wine()


def _out_path(cmd: str, text: str, inputs: tuple[Path, ...] = ()) -> Path:
    """An output .xlsx path whose folder exists and which is not one of the inputs."""
    out = Path(text)
    if not out.parent.is_dir():
        what = "is a file, not a folder" if out.parent.exists() else "does not exist"
        raise UsageError(f"xlnet {cmd}: folder {str(out.parent)!r} {what}")
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"xlnet {cmd}: output {str(out)!r} must end in .xlsx")
    if out.is_dir():
        raise UsageError(f"xlnet {cmd}: {str(out)!r} is a folder")
    for p in inputs:
        if p.exists() and out.exists() and out.resolve() == p.resolve():
            raise UsageError(f"xlnet {cmd}: output {str(out)!r} is also an input")
    return out


def _exercise(args: argparse.Namespace) -> int:
    from .exercises import parse_given, write_exercise, write_template_exercise
    from .template import load_template

    _refuse_in_exercise(args)
    if args.template:
        template = load_template(args.template)
        if args.roster:
            return _roster(args, None, template)
        if args.vary_lr or args.outdir:
            raise UsageError("xlnet exercise: --outdir and --vary-lr go with --roster")
        if not args.out:
            raise UsageError("xlnet exercise: -o FILE is required")
        out = _out_path("exercise", args.out, (template.source,) if template.source else ())
        write_template_exercise(template, out)
        print(f"wrote {out}: the blank workbook of template {template.name} ({template.title})")
        return EXIT_OK
    if args.model is None:
        raise UsageError("xlnet exercise: give a model (logreg or mlp) or --template NAME")
    given = parse_given(args.given)
    spec = _spec(args)
    if args.roster:
        return _roster(args, spec, None, given)
    if args.vary_lr or args.outdir:
        raise UsageError("xlnet exercise: --outdir and --vary-lr go with --roster")
    if not args.out:
        raise UsageError("xlnet exercise: -o FILE is required")
    out = _out_path("exercise", args.out)
    res = write_exercise(spec, load_wine(), out, given)
    print(
        f"wrote {res.path}: {spec.model} exercise, {quantity(spec.epochs, 'epoch')}, given: "
        f"{', '.join(given) or 'none'}"
    )
    return EXIT_OK


def _refuse_in_exercise(args: argparse.Namespace) -> None:
    """The exercise's options that the run asked for would ignore."""
    given = _given_options(args)
    if args.template:
        if args.model is not None:
            raise UsageError(f"xlnet exercise: give {args.model} or --template, not both "
                             "(the template's workbook fixes the model)")  # fmt: skip
        for dest in ("hidden", "activation", "output", "layout", "epochs", "given"):
            if dest in given:
                raise UsageError(
                    f"xlnet exercise: {given[dest]} does not apply to --template "
                    "(its workbook fixes the model and the blocks)"
                )
        for dest in ("lr", "seed"):
            if dest in given and not args.roster:
                raise UsageError(
                    f"xlnet exercise: {given[dest]} goes with --roster for a --template: the "
                    "blank workbook is written as the book has it"
                )
    elif args.model is not None:
        _refuse_inapplicable("exercise", args, args.model)
    if args.vary_lr and "lr" in given:
        raise UsageError("xlnet exercise: --lr and --vary-lr both set the learning rate; "
                         "--vary-lr draws one per student")  # fmt: skip


def _roster(args, spec: Spec | None, template, given: tuple[str, ...] = ()) -> int:
    from .exercises import write_roster

    if not args.outdir:
        raise UsageError("xlnet exercise: --roster needs --outdir DIR")
    if args.out:
        raise UsageError("xlnet exercise: use --outdir, not -o, with --roster")
    spec = spec or Spec(seed=args.seed, lr=args.lr)
    variants = write_roster(spec, load_wine(), args.roster, args.outdir, given, args.vary_lr,
                            template)  # fmt: skip
    for v in variants:
        print(f"wrote {v.path}: {v.student}, seed {v.seed}, lr {v.lr:g}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    from .exercises import parse_given
    from .gradebook import grade_files, write_report
    from .template import load_template

    template = load_template(args.template) if args.template else None
    files = [Path(f) for f in args.files]
    report = Path(args.report) if args.report else None
    if report is not None:
        if not report.parent.is_dir():
            raise UsageError(f"xlnet check: folder {str(report.parent)!r} does not exist")
        if report.suffix.lower() != ".csv":
            raise UsageError(f"xlnet check: report {str(report)!r} must end in .csv")
        if any(f.exists() and report.exists() and f.resolve() == report.resolve() for f in files):
            raise UsageError(f"xlnet check: report {str(report)!r} is also a submission")
    progress = None if args.json else _progress_printer("files")
    given = parse_given(args.given) if args.given is not None else None
    grades = grade_files(files, template, jobs=args.jobs, progress=progress, given=given)
    if report is not None:
        write_report(grades, report)
    if args.json:
        docs = [g.to_json() for g in grades]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        print("\n\n".join(g.text() for g in grades))
        if len(grades) > 1:
            print(
                f"\n{len(grades)} files; mean score "
                f"{sum(g.score for g in grades) / len(grades):.1f}%"
            )
        if report is not None:
            print(f"gradebook written to {report}")
    full = all(g.error is None and g.score == 100.0 for g in grades)
    return EXIT_OK if full else EXIT_DIFFERS


def _build(args: argparse.Namespace) -> int:
    out = _out_path("build", args.out, (Path(args.data),) if args.data else ())
    _refuse_inapplicable("build", args, args.model)
    spec = _spec(args)
    dataset = _dataset(args)
    from .workbook import build

    start = time.perf_counter()
    bar = progress_bar("formula cells")
    with closing(bar):
        res = build(spec, dataset, out, progress=bar)
    took = time.perf_counter() - start
    model = spec.model if spec.model == "logreg" else f"mlp {spec.hidden_text} {spec.activation}"
    test = "" if res.final_test_accuracy is None else f", test {res.final_test_accuracy:.4f}"
    print(
        f"wrote {res.path}: {model} ({spec.output}), {quantity(spec.epochs, 'epoch')}, "
        f"{spec.optimizer} lr {spec.lr:g}, {quantity(res.formula_cells, 'formula cell')} in "
        f"{took:.1f} s; final loss {res.final_loss:.6f}, accuracy {res.final_accuracy:.4f}{test}"
    )
    _warn_if_loss_rose("build", res.first_loss, res.final_loss, spec.epochs)
    return EXIT_OK


def _sweep(args: argparse.Namespace) -> int:
    from .sweeps import run_sweep, write_sweep

    out = _out_path("sweep", args.out, (Path(args.data),) if args.data else ())
    _refuse_inapplicable("sweep", args, args.model)
    hidden = args.hidden if args.model == "mlp" else []
    base = _spec(args, hidden=hidden[0] if hidden else (DEFAULT_HIDDEN,), lr=args.lr[0])
    dataset = _dataset(args)
    runs = progress_bar("runs", enabled=not args.json)
    with closing(runs):
        result = run_sweep(base, dataset, hidden, args.lr, progress=runs)
    bar = progress_bar("formula cells", enabled=not args.json)
    with closing(bar):
        written = write_sweep(result, dataset, out, progress=bar)
    if args.json:
        doc = result.to_json()
        doc["file"] = str(written.path)
        print(json.dumps(doc, indent=2))
    else:
        print(result.table())
        print(f"wrote {written.path}: the Sweep sheet, then the best setting's training as "
              f"{quantity(written.formula_cells, 'formula cell')}")  # fmt: skip
    best = result.best
    if best.finite:
        _warn_if_loss_rose("sweep", best.losses[0], best.losses[-1], len(best.losses),
                           "the best run's")  # fmt: skip
    return EXIT_OK


def _export_scorer(args: argparse.Namespace) -> int:
    from .scorer import check_scorer, scorer_from_training, scorer_from_workbook, write_scorer

    source = Path(args.source)
    if args.source in MODELS:
        args.model = args.source
        _refuse_inapplicable("export-scorer", args, args.model)
        spec = _spec(args)
        dataset = _dataset(args)
        out = _out_path("export-scorer", args.out, (Path(args.data),) if args.data else ())
        with ticking(f"training {spec.model}"):
            scorer = scorer_from_training(spec, dataset)
        origin = f"a {spec.model} trained now for {quantity(spec.epochs, 'epoch')}"
    else:
        if source.suffix.lower() not in (".xlsx", ".xlsm"):
            raise UsageError(f"xlnet export-scorer: {args.source!r} is neither a model "
                             f"({' or '.join(MODELS)}) nor an .xlsx workbook")  # fmt: skip
        given = _training_flags_given(args)
        if given:
            raise UsageError(f"xlnet export-scorer: {given[0]} applies when training a model, "
                             "not to a workbook's weights")  # fmt: skip
        out = _out_path("export-scorer", args.out, (source,))
        bar = progress_bar("formula cells")
        with closing(bar):
            scorer = scorer_from_workbook(source, progress=bar)
        origin = f"the last epoch of {source}"
    bar = progress_bar("formula cells")
    with closing(bar):
        res = write_scorer(scorer, out, rows=args.rows, examples=args.examples, progress=bar)
    rows = quantity(res.rows, "input row")
    print(f"wrote {res.path}: {rows} at {res.inputs} (Score sheet), weights from {origin}; "
          f"predicted class in {res.predicted}")  # fmt: skip
    if scorer.losses is not None:
        _warn_if_loss_rose("export-scorer", *scorer.losses, scorer.spec.epochs)
    if not args.check:
        return EXIT_OK
    samples = scorer.samples[: args.rows]
    with ticking("checking the scorer's formulas"):
        report = check_scorer(res.path, samples, scorer)
    print(
        f"check: {quantity(len(samples), 'training sample')} scored by the formulas engine "
        + ("match NumPy's predictions and probabilities" if report.ok else "differ from NumPy:")
    )
    if not report.ok:
        print(report.describe())
    return EXIT_OK if report.ok else EXIT_DIFFERS


def _warn_if_loss_rose(
    cmd: str, first: float, final: float, epochs: int, whose: str = "the"
) -> None:
    """One line on stderr when a run ends worse than it began: the file is right (the
    formulas do what was asked), but the learning rate is likely too high for the net."""
    if epochs > 1 and math.isfinite(first) and math.isfinite(final) and final > first:
        print(f"xlnet {cmd}: warning: {whose} training loss rose from {first:.6g} (epoch 1) to "
              f"{final:.6g} (epoch {epochs}); the learning rate is probably too high",
              file=sys.stderr)  # fmt: skip


def _refuse_inapplicable(cmd: str, args: argparse.Namespace, model: str) -> None:
    """Options given that the run would ignore: one line naming what they go with, rather
    than a workbook that silently differs from what was asked."""
    given = _given_options(args)
    with_model = "--model mlp" if cmd == "sweep" else "mlp"
    rules = [
        ("hidden", model == "mlp", f"goes with {with_model}; logreg has no hidden layer"),
        ("activation", model == "mlp", f"goes with {with_model}; logreg has no hidden layer"),
        ("momentum", getattr(args, "optimizer", None) == "momentum",
         "goes with --optimizer momentum"),
        ("beta1", getattr(args, "optimizer", None) == "adam", "goes with --optimizer adam"),
        ("beta2", getattr(args, "optimizer", None) == "adam", "goes with --optimizer adam"),
        ("epsilon", getattr(args, "optimizer", None) == "adam", "goes with --optimizer adam"),
    ]  # fmt: skip
    for dest, applies, why in rules:
        if dest in given and not applies:
            raise UsageError(f"xlnet {cmd}: {given[dest]} {why}")


def _given_options(args: argparse.Namespace) -> dict[str, str]:
    """The options given on the command line (whatever their value), by dest: the command's
    parser parses the arguments again with every default suppressed."""
    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[args.command]._actions:
        if action.option_strings:  # a positional's default must stay one of its choices
            action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(args.argv))
    flags = {a.dest: a.option_strings[-1] for a in sub.choices[args.command]._actions
             if a.option_strings}  # fmt: skip
    return {dest: flags[dest] for dest in given if dest in flags}


def _training_flags_given(args: argparse.Namespace) -> list[str]:
    """The model and training options given on the command line (whatever their value)."""
    skip = {"command", "source", "out", "rows", "examples", "check"}
    return [flag for dest, flag in _given_options(args).items() if dest not in skip]


def _progress_printer(unit: str = "cells"):
    """A progress bar on stderr; None off a terminal (kept for callers of the old name)."""
    return progress_bar(unit)


def _verify(args: argparse.Namespace) -> int:
    from .verification import verify

    bar = progress_bar("formula cells", enabled=not args.json and args.engine == "formulas")
    tick = ticker("LibreOffice recalculating", enabled=not args.json)
    with closing(bar, tick):
        report = verify(args.file, engine=args.engine, progress=bar, tick=tick)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary())
        if args.details:
            print()
            print(report.rows())
        else:
            print(f"every block of every epoch: xlnet verify {args.file} --details")
    return EXIT_OK if report.ok else EXIT_DIFFERS


def _error(message: str) -> None:
    """One line on stderr, whatever the message a library wrapped."""
    print(" ".join(message.split()), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    try:
        with sigterm_raises():
            code = _main(parser, argv)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
            return code
    except BrokenPipeError:  # `xlnet ... | head`: the reader has what it wanted
        return quiet_broken_pipe()
    except SystemExit:  # --help, --version: printed by argparse, which exits at once
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            quiet_broken_pipe()
        raise


def _main(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    try:
        args = parser.parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        commands = {"build": _build, "verify": _verify, "exercise": _exercise, "check": _check,
                    "sweep": _sweep, "export-scorer": _export_scorer}  # fmt: skip
        return commands[args.command](args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except BrokenPipeError:
        raise
    except XlnetError as exc:  # FileError included: the same one line as OSError's below
        _error(f"xlnet: {exc}")
        return EXIT_USAGE
    except OSError as exc:  # unreadable input, unwritable output, disk full
        name = f"{exc.filename}: " if exc.filename else ""
        _error(f"xlnet: {name}{exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xlnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Terminated:
        print("xlnet: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except Exception as exc:  # never a traceback for a user: one line, and a bug report hint
        _error(f"xlnet: unexpected {type(exc).__name__}: {exc} (please report)")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
