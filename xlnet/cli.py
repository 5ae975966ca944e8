"""Command line: parse, call one library function, print. Exit 0 ok, 1 mismatch, 2 bad input."""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path

from . import api
from .cliparser import UsageError, make_parser
from .data import load_csv, load_wine
from .errors import XlnetError
from .spec import (
    DEFAULT_HIDDEN,
    MODELS,
    Spec,
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


def _options(args: argparse.Namespace, **over) -> dict:
    """The model's and training's options as the API's keywords (those the command has)."""
    keys = ("output", "hidden", "activation", "epochs", "lr", "seed", "layout", "optimizer",
            "momentum", "beta1", "beta2", "epsilon", "test_fraction")  # fmt: skip
    return {k: getattr(args, k) for k in keys if hasattr(args, k)} | over


def _spec(args: argparse.Namespace, **over) -> Spec:
    """The Spec the parsed options describe (training options where the command has them)."""
    return Spec(model=args.model, **_options(args, **over))


def _dataset_options(args: argparse.Namespace) -> None:
    if getattr(args, "target", None) and not getattr(args, "data", None):
        raise UsageError("xlnet: --target goes with --data CSV")


def _dataset(args: argparse.Namespace):
    """The wine data, or --data's CSV with its --target column."""
    _dataset_options(args)
    return load_csv(args.data, args.target) if getattr(args, "data", None) else load_wine()


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
    from .exercises import parse_given
    from .template import load_template

    _refuse_in_exercise(args)
    template = load_template(args.template) if args.template else None
    if template is None:
        if args.model is None:
            raise UsageError("xlnet exercise: give a model (logreg or mlp) or --template NAME")
        parse_given(args.given)
        _spec(args)  # a bad option is refused before the roster is read
    if args.roster:
        if not args.outdir:
            raise UsageError("xlnet exercise: --roster needs --outdir DIR")
        if args.out:
            raise UsageError("xlnet exercise: use --outdir, not -o, with --roster")
        written = api.exercise(args.model, template=args.template, given=args.given,
                               roster=args.roster, outdir=args.outdir, vary_lr=args.vary_lr,
                               **_options(args))  # fmt: skip
        for v in written.variants:
            print(f"wrote {v.path}: {v.student}, seed {v.seed}, lr {v.lr:g}")
        return EXIT_OK
    if args.vary_lr or args.outdir:
        raise UsageError("xlnet exercise: --outdir and --vary-lr go with --roster")
    if not args.out:
        raise UsageError("xlnet exercise: -o FILE is required")
    sources = (template.source,) if template is not None and template.source else ()
    out = _out_path("exercise", args.out, sources)
    written = api.exercise(args.model, out, template=args.template, given=args.given,
                           **_options(args))  # fmt: skip
    if template is not None:
        print(f"wrote {out}: the blank workbook of template {template.name} ({template.title})")
    else:
        print(f"wrote {out}: {args.model} exercise, {quantity(args.epochs, 'epoch')}, given: "
              f"{', '.join(written.given) or 'none'}")  # fmt: skip
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


def _check(args: argparse.Namespace) -> int:
    files = [Path(f) for f in args.files]
    report = Path(args.report) if args.report else None
    if report is not None:
        if not report.parent.is_dir():
            raise UsageError(f"xlnet check: folder {str(report.parent)!r} does not exist")
        if report.suffix.lower() != ".csv":
            raise UsageError(f"xlnet check: report {str(report)!r} must end in .csv")
        if any(f.exists() and report.exists() and f.resolve() == report.resolve() for f in files):
            raise UsageError(f"xlnet check: report {str(report)!r} is also a submission")
    progress = progress_bar("files", enabled=not args.json)
    grades = api.check(files, template=args.template, given=args.given, jobs=args.jobs,
                       report=report, progress=progress, points=args.points,
                       roster=args.roster, feedback=args.feedback,
                       reveal=args.reveal)  # fmt: skip
    if grades.unmatched:
        n = len(grades.unmatched)
        print(f"xlnet check: warning: {quantity(n, 'file')} {'matches' if n == 1 else 'match'} "
              f"no student of {args.roster}, roster columns left empty: "
              f"{', '.join(grades.unmatched)}", file=sys.stderr)  # fmt: skip
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
        if args.feedback is not None:
            print(f"feedback written to {Path(args.feedback) / 'index.html'}")
    return EXIT_OK if grades.ok else EXIT_DIFFERS


def _build(args: argparse.Namespace) -> int:
    out = _out_path("build", args.out, (Path(args.data),) if args.data else ())
    _refuse_inapplicable("build", args, args.model)
    _dataset_options(args)
    start = time.perf_counter()
    bar = progress_bar("formula cells")
    with closing(bar):
        run = api.build(args.model, out, data=args.data, target=args.target, progress=bar,
                        **_options(args))  # fmt: skip
    spec, res = run.spec, run.result
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
    out = _out_path("sweep", args.out, (Path(args.data),) if args.data else ())
    _refuse_inapplicable("sweep", args, args.model)
    hidden = args.hidden if args.model == "mlp" else []
    _spec(args, hidden=hidden[0] if hidden else (DEFAULT_HIDDEN,), lr=args.lr[0])
    _dataset_options(args)
    runs = progress_bar("runs", enabled=not args.json)
    bar = progress_bar("formula cells", enabled=not args.json)
    options = _options(args, hidden=hidden or [(DEFAULT_HIDDEN,)], lr=args.lr)
    with closing(runs, bar):
        result = api.sweep(model=args.model, data=args.data, target=args.target, path=out,
                           progress=runs, write_progress=bar, **options)  # fmt: skip
    written = result.workbook
    assert written is not None
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


def _verify(args: argparse.Namespace) -> int:
    bar = progress_bar("formula cells", enabled=not args.json and args.engine == "formulas")
    tick = ticker("LibreOffice recalculating", enabled=not args.json)
    with closing(bar, tick):
        report = api.verify(args.file, engine=args.engine, progress=bar, tick=tick)
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
    for stream in (sys.stdout, sys.stderr):
        # A file name that is not UTF-8 reaches us as surrogates: printed escaped, not a crash.
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")
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
