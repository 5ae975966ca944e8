"""The Python API: what `import xlnet` offers a notebook, each command as a function.

Every function takes the command's options as keywords (the same names and defaults as the
command line's flags), returns a result whose `to_frame()` (or `history`) is a pandas
DataFrame, and raises `xlnet.XlnetError` subclasses, file-system errors included, never
SystemExit.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import FileError, XlnetError
from .spec import (
    DEFAULT_ACTIVATION,
    DEFAULT_BETA1,
    DEFAULT_BETA2,
    DEFAULT_ENGINE,
    DEFAULT_EPOCHS,
    DEFAULT_EPSILON,
    DEFAULT_EXERCISE_EPOCHS,
    DEFAULT_GIVEN,
    DEFAULT_HIDDEN,
    DEFAULT_LAYOUT,
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    DEFAULT_OPTIMIZER,
    DEFAULT_OUTPUT,
    DEFAULT_SCORER_ROWS,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    Spec,
)

if TYPE_CHECKING:
    import pandas as pd

    from .checkreport import Report
    from .data import Dataset
    from .exercises import Roster, Variant
    from .scorer import ScorerResult
    from .sweeps import SweepResult
    from .template import Template
    from .workbook import BuildResult

F = TypeVar("F", bound=Callable[..., Any])
Progress = Callable[[int, int], None]


def _xlnet_errors(func: F) -> F:
    """File-system errors leave the API as FileError, an XlnetError like every other."""

    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except XlnetError:
            raise
        except OSError as exc:
            raise FileError.wrap(exc) from exc

    return call  # type: ignore[return-value]


def _hidden(hidden: int | Iterable[int]) -> tuple[int, ...]:
    return (hidden,) if isinstance(hidden, int) else tuple(hidden)


def _spec(model: str, **options: Any) -> Spec:
    if "hidden" in options:
        options["hidden"] = _hidden(options["hidden"])
    return Spec(model=model, **options)


def _dataset(data: str | Path | None, target: str | None) -> Dataset:
    from .data import DataError, load_csv, load_wine

    if data is None:
        if target is not None:
            raise DataError("target= goes with data= (a CSV path)")
        return load_wine()
    return load_csv(data, target)


@dataclass(frozen=True)
class Training:
    """A training workbook as written: where, how many formula cells, and its run."""

    path: Path
    formula_cells: int
    spec: Spec
    result: BuildResult

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch: epoch, loss, accuracy (and test_accuracy with held-out
        samples), NumPy's values, which the workbook's formulas recompute."""
        import pandas as pd

        r = self.result
        columns: dict[str, Any] = {
            "epoch": range(1, len(r.losses) + 1),
            "loss": r.losses,
            "accuracy": r.accuracies,
        }
        if r.test_accuracies is not None:
            columns["test_accuracy"] = r.test_accuracies
        return pd.DataFrame(columns)

    @property
    def final_loss(self) -> float:
        return self.result.final_loss

    @property
    def final_accuracy(self) -> float:
        return self.result.final_accuracy


@_xlnet_errors
def build(
    model: str,
    path: str | Path,
    *,
    hidden: int | Iterable[int] = (DEFAULT_HIDDEN,),
    epochs: int = DEFAULT_EPOCHS,
    lr: float = DEFAULT_LR,
    activation: str = DEFAULT_ACTIVATION,
    output: str = DEFAULT_OUTPUT,
    optimizer: str = DEFAULT_OPTIMIZER,
    momentum: float = DEFAULT_MOMENTUM,
    beta1: float = DEFAULT_BETA1,
    beta2: float = DEFAULT_BETA2,
    epsilon: float = DEFAULT_EPSILON,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
    layout: str = DEFAULT_LAYOUT,
    data: str | Path | None = None,
    target: str | None = None,
    progress: Progress | None = None,
) -> Training:
    """Write a training workbook (`xlnet build`): `model` "logreg" or "mlp" trained on the
    wine data (or the CSV `data=`, class column `target=`), every epoch as live formulas.
    `hidden` is one size per hidden layer (an int is one layer). Returns the written file
    and its run: `xlnet.build("mlp", "net.xlsx").history` is a DataFrame of loss per epoch."""
    from .workbook import build as write

    spec = _spec(model, hidden=hidden, epochs=epochs, lr=lr, activation=activation,
                 output=output, optimizer=optimizer, momentum=momentum, beta1=beta1,
                 beta2=beta2, epsilon=epsilon, test_fraction=test_fraction, seed=seed,
                 layout=layout)  # fmt: skip
    result = write(spec, _dataset(data, target), Path(path), progress=progress)
    return Training(result.path, result.formula_cells, spec, result)


@_xlnet_errors
def verify(
    path: str | Path,
    *,
    engine: str = DEFAULT_ENGINE,
    progress: Progress | None = None,
    tick: Callable[[float], None] | None = None,
) -> Report:
    """Recompute every formula of a training workbook (`engine` "formulas" or
    "libreoffice"; cached values are never trusted) and compare each block of each epoch
    with NumPy. `report.ok` is the verdict, `report.to_frame()` one row per block.
    `progress(done, total)` hears the formulas engine's cells, `tick(seconds)` LibreOffice's
    time so far."""
    from .verification import verify as check_book

    return check_book(str(path), engine=engine, progress=progress, tick=tick)


class Exercises(list):
    """The files an exercise run wrote, in order (Paths); `variants` gives each student's
    seed and learning rate (with a roster), `given` the groups written as formulas,
    `template` the template whose workbook was written (else None)."""

    def __init__(
        self,
        paths: list[Path],
        variants: Sequence[Variant] = (),
        given: tuple[str, ...] = (),
        template: Template | None = None,
    ) -> None:
        super().__init__(paths)
        self.variants, self.given, self.template = tuple(variants), given, template


@_xlnet_errors
def exercise(
    model: str | None,
    path: str | Path | None = None,
    *,
    template: str | Path | None = None,
    given: str | Sequence[str] = DEFAULT_GIVEN,
    epochs: int = DEFAULT_EXERCISE_EPOCHS,
    hidden: int | Iterable[int] = (DEFAULT_HIDDEN,),
    lr: float = DEFAULT_LR,
    activation: str = DEFAULT_ACTIVATION,
    output: str = DEFAULT_OUTPUT,
    seed: int = DEFAULT_SEED,
    layout: str = DEFAULT_LAYOUT,
    roster: str | Path | None = None,
    outdir: str | Path | None = None,
    vary_lr: bool = False,
) -> Exercises:
    """Write a blank exercise (`xlnet exercise`): the blocks of the groups not `given`
    ("params", "forward", "loss", "backward", "update", "all", "none") left for the student;
    or the blank workbook of `template=` (e.g. "klaas-ch1"); with `roster=` (a CSV of
    students) and `outdir=`, one variant per student. Returns the files written."""
    from .exercises import parse_given, write_exercise, write_roster, write_template_exercise
    from .template import load_template

    tmpl = load_template(str(template)) if template is not None else None
    groups = parse_given(given if isinstance(given, str) else ",".join(given))
    spec = None
    if tmpl is None:
        if model is None:
            raise XlnetError("exercise: give a model (logreg or mlp) or template=")
        spec = _spec(model, hidden=hidden, epochs=epochs, lr=lr, activation=activation,
                     output=output, seed=seed, layout=layout)  # fmt: skip
    if roster is not None:
        if outdir is None:
            raise XlnetError("exercise: roster= needs outdir=")
        spec = spec or Spec(seed=seed, lr=lr)
        variants = write_roster(spec, _dataset(None, None), roster, outdir, groups, vary_lr,
                                tmpl)  # fmt: skip
        return Exercises([v.path for v in variants], variants, groups, tmpl)
    if path is None:
        raise XlnetError("exercise: give the path of the workbook to write")
    if tmpl is not None:
        write_template_exercise(tmpl, Path(path))
        return Exercises([Path(path)], (), groups, tmpl)
    assert spec is not None
    written = write_exercise(spec, _dataset(None, None), Path(path), groups)
    return Exercises([written.path], (), groups, None)


class Grades(list):
    """The grades of several files, in the order given (a list of FileGrade); with a roster,
    the gradebook leads with its columns."""

    roster: Roster | None = None

    @property
    def unmatched(self) -> list[str]:
        """The files whose name matches no student of the roster."""
        from .gradebook import roster_rows

        if self.roster is None:
            return []
        rows = roster_rows(list(self), self.roster)
        return [g.file for g, r in zip(self, rows, strict=True) if r is None]

    @property
    def ok(self) -> bool:
        """Every file graded, every block correct."""
        return all(g.error is None and g.score == 100.0 for g in self)

    def to_frame(self) -> pd.DataFrame:
        """One row per file: file, student, score, one column per block (its verdict), and
        the error of a file that could not be graded."""
        import pandas as pd

        from .gradebook import report_rows

        columns, rows = report_rows(list(self), self.roster)
        return pd.DataFrame(rows, columns=columns)


@_xlnet_errors
def check(
    files: str | Path | Iterable[str | Path],
    *,
    template: str | Path | None = None,
    given: str | Sequence[str] | None = None,
    jobs: int | None = None,
    report: str | Path | None = None,
    progress: Progress | None = None,
    points: str | Path | None = None,
    roster: str | Path | None = None,
    feedback: str | Path | None = None,
    reveal: bool = False,
) -> Grades:
    """Grade filled-in workbooks (`xlnet check`): exercises written by xlnet, or files that
    follow `template=` (e.g. "klaas-ch1"). Each block is judged on the student's own upstream
    blocks. `points=` a TOML file weighting blocks (sheet, block, points); `roster=` the
    students' CSV whose columns lead the gradebook. `grades.to_frame()` is the gradebook;
    `report=` also writes it as a CSV; `feedback=DIR` writes an annotated copy and an HTML page
    per file, and DIR/index.html; `reveal=True` gives each graded block the formula it should
    hold (the template's, in the form the student chose) in the grades, notes and pages."""
    from .exercises import load_roster, parse_given
    from .gradebook import grade_files, roster_names, write_report
    from .points import apply_points, read_points
    from .template import load_template

    paths = [Path(files)] if isinstance(files, str | Path) else [Path(f) for f in files]
    tmpl = load_template(str(template)) if template is not None else None
    groups = None
    if given is not None:
        groups = parse_given(given if isinstance(given, str) else ",".join(given))
    weights = read_points(points, tmpl) if points is not None else None
    people = load_roster(roster) if roster is not None else None
    if feedback is not None:
        from .feedback import feedback_paths, open_folder

        if not str(feedback):
            raise XlnetError("the feedback folder's name is empty")
        inputs = (tmpl.path, tmpl.source) if tmpl is not None else ()
        inputs += tuple(Path(p) for p in (points, roster, report) if p is not None)
        feedback_paths(paths, Path(feedback), inputs)  # refused before any grading
        open_folder(Path(feedback))
    grades = Grades(
        grade_files(paths, tmpl, jobs=jobs, progress=progress, given=groups, reveal=reveal)
    )
    if weights is not None:
        apply_points(list(grades), weights, points)
    grades.roster = people
    if report is not None:
        write_report(list(grades), Path(report), people)
    if feedback is not None:
        from .feedback import write_feedback

        names = roster_names(list(grades), people) if people is not None else None
        write_feedback(paths, list(grades), Path(feedback), tmpl, groups, names)
    return grades


@_xlnet_errors
def sweep(
    *,
    hidden: Iterable[int | Iterable[int]] = (DEFAULT_HIDDEN,),
    lr: Iterable[float] = (DEFAULT_LR,),
    model: str = "mlp",
    epochs: int = DEFAULT_EPOCHS,
    activation: str = DEFAULT_ACTIVATION,
    output: str = DEFAULT_OUTPUT,
    optimizer: str = DEFAULT_OPTIMIZER,
    momentum: float = DEFAULT_MOMENTUM,
    beta1: float = DEFAULT_BETA1,
    beta2: float = DEFAULT_BETA2,
    epsilon: float = DEFAULT_EPSILON,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    seed: int = DEFAULT_SEED,
    layout: str = DEFAULT_LAYOUT,
    data: str | Path | None = None,
    target: str | None = None,
    path: str | Path | None = None,
    progress: Progress | None = None,
    write_progress: Progress | None = None,
) -> SweepResult:
    """Train every (hidden, lr) of a grid with NumPy (`xlnet sweep`); a candidate in `hidden`
    is an int (one layer) or a tuple of sizes. `.to_frame()` is the results table; with
    `path=` the workbook (Sweep sheet, then the best run in live formulas) is written too
    (its `workbook`). `progress` hears the runs trained, `write_progress` the formula cells
    written."""
    from .sweeps import run_sweep, write_sweep

    sizes = [_hidden(h) for h in hidden] if model == "mlp" else []
    lrs = [float(x) for x in lr]
    if not lrs:
        raise XlnetError("sweep: give at least one learning rate")
    base = _spec(model, hidden=sizes[0] if sizes else (DEFAULT_HIDDEN,), lr=lrs[0],
                 epochs=epochs, activation=activation, output=output, optimizer=optimizer,
                 momentum=momentum, beta1=beta1, beta2=beta2, epsilon=epsilon,
                 test_fraction=test_fraction, seed=seed, layout=layout)  # fmt: skip
    dataset = _dataset(data, target)
    result = run_sweep(base, dataset, sizes, lrs, progress=progress)
    if path is None:
        return result
    written = write_sweep(result, dataset, Path(path), progress=write_progress)
    return dataclasses.replace(result, workbook=written)


@_xlnet_errors
def export_scorer(
    source: str | Path,
    path: str | Path,
    *,
    rows: int = DEFAULT_SCORER_ROWS,
    examples: int = 0,
    check: bool = False,
    **training: Any,
) -> ScorerResult:
    """Write a scoring workbook (`xlnet export-scorer`): the last epoch's weights of a
    training workbook `source` (recomputed, never cached values), or of a model trained now
    when `source` is "logreg" or "mlp" (then `training` takes build's keywords). With
    `check=True` the scorer's formulas are recomputed and compared with NumPy; a mismatch
    raises ScorerError."""
    from .scorer import (
        ScorerError,
        check_scorer,
        scorer_from_training,
        scorer_from_workbook,
        write_scorer,
    )

    if str(source) in ("logreg", "mlp"):
        data, target = training.pop("data", None), training.pop("target", None)
        scorer = scorer_from_training(_spec(str(source), **training), _dataset(data, target))
    else:
        if training:
            raise XlnetError(f"export_scorer: {sorted(training)[0]}= applies when training a "
                             "model, not to a workbook's weights")  # fmt: skip
        scorer = scorer_from_workbook(Path(source))
    result = write_scorer(scorer, Path(path), rows=rows, examples=examples)
    if check:
        report = check_scorer(result.path, scorer.samples[:rows], scorer)
        if not report.ok:
            raise ScorerError(f"{result.path}: {report.describe()}")
    return result
