"""Command line: parse, call one library function, print. Exit 0 ok, 1 mismatch, 2 bad input."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import __version__
from .data import DataError, load_wine
from .evaluate import EvalError
from .libreoffice import LibreOfficeError
from .spec import (
    DEFAULT_EPOCHS,
    DEFAULT_HIDDEN,
    DEFAULT_LR,
    DEFAULT_SEED,
    LAYOUTS,
    MAX_EPOCHS,
    MAX_HIDDEN,
    MAX_LR,
    MAX_SEED,
    MODELS,
    OUTPUTS,
    Spec,
    SpecError,
)
from .xlsxio import BookError

EXIT_OK, EXIT_DIFFERS, EXIT_USAGE = 0, 1, 2


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


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v < MAX_LR:
        raise argparse.ArgumentTypeError(f"must be a positive number below {MAX_LR:g}, got {text}")
    return v


BUILD_EXAMPLES = """\
examples:
  xlnet build logreg -o wine-logreg.xlsx            # the book's regressor: lr 1, 20 epochs
  xlnet build mlp --hidden 5 -o wine-net.xlsx       # 13 -> 5 (tanh) -> 3
  xlnet build mlp --output sigmoid --epochs 50 --lr 0.5 -o net.xlsx
"""

VERIFY_EXAMPLES = """\
examples:
  xlnet verify wine-net.xlsx                        # table of every block of every epoch
  xlnet verify wine-net.xlsx --json > report.json
  xlnet verify wine-net.xlsx --engine libreoffice   # recalculate in headless LibreOffice

exit status: 0 all blocks agree within the tolerance, 1 something differs (the report says
where), 2 bad usage or a file that is not an xlnet workbook.
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
        help="write a training workbook (.xlsx) for the wine data",
        description="Train a model on the UCI wine data in live spreadsheet formulas: each epoch "
        "holds the forward pass, the loss, the gradients and the updated weights.",
        epilog=BUILD_EXAMPLES,
        formatter_class=fmt,
    )
    b.add_argument("model", choices=MODELS, help="logreg (13 -> 3) or mlp (13 -> H -> 3)")
    b.add_argument("-o", "--out", required=True, metavar="FILE", help="output .xlsx path")
    b.add_argument(
        "--epochs",
        type=_int_in(1, MAX_EPOCHS),
        default=DEFAULT_EPOCHS,
        help=f"gradient-descent steps (default {DEFAULT_EPOCHS}, as in the book)",
    )
    b.add_argument(
        "--lr",
        type=_positive_float,
        default=DEFAULT_LR,
        help=f"learning rate (default {DEFAULT_LR:g}, as in the book)",
    )
    b.add_argument(
        "--hidden",
        type=_int_in(1, MAX_HIDDEN),
        default=DEFAULT_HIDDEN,
        help=f"hidden units of mlp (default {DEFAULT_HIDDEN}, as in the book)",
    )
    b.add_argument(
        "--seed",
        type=_int_in(0, MAX_SEED),
        default=DEFAULT_SEED,
        help=f"seed of the initial weights (default {DEFAULT_SEED})",
    )
    b.add_argument(
        "--output",
        choices=OUTPUTS,
        default="softmax",
        help="softmax + cross-entropy (default) or sigmoid per class + binary CE",
    )
    b.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="cells",
        help="cells: one formula per scalar (default, for teaching); arrays: one legacy "
        "array formula per block (fewer formulas, for long runs)",
    )
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
    v.add_argument("--engine", choices=("formulas", "libreoffice"), default="formulas",
                   help="formulas: pure-Python evaluator (default); libreoffice: headless "
                   "LibreOffice recalculation")  # fmt: skip
    return parser


def _build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UsageError(f"xlnet build: folder {str(out.parent)!r} does not exist")
    if out.suffix.lower() != ".xlsx":
        raise UsageError(f"xlnet build: output {str(out)!r} must end in .xlsx")
    if out.is_dir():
        raise UsageError(f"xlnet build: {str(out)!r} is a folder")
    spec = Spec(model=args.model, output=args.output, hidden=args.hidden, epochs=args.epochs,
                lr=args.lr, seed=args.seed, layout=args.layout)  # fmt: skip
    from .workbook import build

    start = time.perf_counter()
    res = build(spec, load_wine(), out)
    took = time.perf_counter() - start
    print(
        f"wrote {res.path}: {spec.model} ({spec.output}), {spec.epochs} epochs, lr {spec.lr:g}, "
        f"{res.formula_cells} formula cells in {took:.1f} s; final loss {res.final_loss:.6f}, "
        f"accuracy {res.final_accuracy:.4f}"
    )
    return EXIT_OK


def _progress_printer():
    if not sys.stderr.isatty():
        return None
    start = time.perf_counter()
    last = [0.0]

    def show(done: int, total: int) -> None:
        now = time.perf_counter()
        if done < total and now - last[0] < 0.1:  # redraw at most ten times a second
            return
        last[0] = now
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.perf_counter() - start, 1e-9)
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} cells, {rate:,.0f}/s"
        )
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _verify(args: argparse.Namespace) -> int:
    from .verify import verify

    progress = None if args.json else _progress_printer()
    report = verify(args.file, engine=args.engine, progress=progress)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())
    return EXIT_OK if report.ok else EXIT_DIFFERS


def _error(message: str) -> None:
    """One line on stderr, whatever the message a library wrapped."""
    print(" ".join(message.split()), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return {"build": _build, "verify": _verify}[args.command](args)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except (SpecError, DataError, BookError, EvalError, LibreOfficeError) as exc:
        _error(f"xlnet: {exc}")
        return EXIT_USAGE
    except OSError as exc:  # unreadable input, unwritable output, disk full
        _error(f"xlnet: {exc.filename or ''}: {exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xlnet: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback for a user: one line, and a bug report hint
        _error(f"xlnet: unexpected {type(exc).__name__}: {exc} (please report)")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
