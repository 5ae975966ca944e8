"""A trained model as a scorer holds it, made by training now or from a training workbook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import a1
from ..block import Block
from ..data import Dataset
from ..errors import XlnetError
from ..evaluate import EMPTY, EvalError, Result, evaluate
from ..layout import DATA, DATA_TOP
from ..run import Run, as_number
from ..sheetwriter import Progress
from ..shown import format_literal
from ..spec import Spec
from ..words import quantity
from ..xlsxedit import row_formats
from ..xlsxio import BookError, read_book


class ScorerError(XlnetError, ValueError):
    """A model that cannot be exported as a scorer, or a file that is not a scorer."""


@dataclass(frozen=True, eq=False)
class Scorer:
    """A trained model as the scorer needs it: weights, normalisation, classes and names."""

    spec: Spec
    weights: dict[str, np.ndarray]  # W1, b1, W2, ... as trained
    mean: np.ndarray  # 1 x F, of the training samples
    std: np.ndarray  # 1 x F, population std of the training samples
    classes: tuple[float, ...]  # the class values (codes 1..K for text classes)
    feature_names: tuple[str, ...]
    target_name: str
    class_names: tuple[str, ...] | None = None  # text classes, in code order
    source: str = ""  # where the weights came from, for the Model sheet
    samples: np.ndarray | None = None  # raw training samples, for example rows
    sample_labels: np.ndarray | None = None  # their classes, so examples show every class
    # The training loss of the first and the last epoch, when trained now (a run whose loss
    # rose is worth a warning); None for weights read from a workbook.
    losses: tuple[float, float] | None = None

    @property
    def f(self) -> int:
        return int(self.mean.shape[1])

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def architecture(self) -> str:
        """Its layers as the sheets describe them: "13 -> 5 (tanh) -> 3 (softmax)"."""
        hidden = "".join(f" -> {h} ({self.spec.activation})" for h in self.spec.hidden_sizes)
        return f"{self.f}{hidden} -> {self.k} ({self.spec.output})"

    @property
    def labels(self) -> tuple[str, ...]:
        """How each class is shown: its name, or the class column's name and its value, as
        in the training workbook ("Cultivar 1")."""
        return self.class_names or tuple(f"{self.target_name} {c:g}" for c in self.classes)

    def shown(self, code: float) -> str | float:
        """What the Predicted column shows for a class value: its name, or the value."""
        if self.class_names is None:
            return float(code)
        return self.class_names[self.classes.index(float(code))]


def scorer_from_training(spec: Spec, dataset: Dataset) -> Scorer:
    """Train NumPy on `dataset` (the same run `xlnet build` writes) and keep its last
    epoch's weights."""
    run = Run.from_spec(spec, dataset)
    last = spec.epochs
    weights = {p: run.values[(run.program.carried(p), last)] for p in run.program.params}
    for p, w in weights.items():
        if not np.isfinite(w).all():
            raise ScorerError(
                f"training diverged: {p} of epoch {last} is not finite (try a smaller learning "
                "rate)"
            )
    held = f", {run.test.n} held out" if run.test is not None else ""
    source = (
        f"trained on the fly on {dataset.source or 'the data'} ({run.dataset.n} samples{held}): "
        f"{quantity(last, 'epoch')} of {spec.optimizer}, learning rate {float(spec.lr):g}, "
        f"seed {spec.seed}"
    )
    return Scorer(
        spec=spec,
        weights={p: np.array(w, dtype=float) for p, w in weights.items()},
        mean=np.array(run.values[("Mean", None)], dtype=float),
        std=np.array(run.values[("Std", None)], dtype=float),
        classes=tuple(float(c) for c in run.dataset.classes),
        feature_names=tuple(run.dataset.feature_names),
        target_name=run.dataset.target_name,
        class_names=run.dataset.class_names,
        source=source,
        samples=np.array(run.dataset.features, dtype=float),
        sample_labels=np.array(run.dataset.labels, dtype=float),
        losses=(run.first_loss, run.final_loss),
    )


def scorer_from_workbook(path: str | Path, progress: Progress | None = None) -> Scorer:
    """The last epoch's weights of an xlnet training workbook, recomputed from its formulas
    (cached values are never trusted), with its training mean, std, classes and names;
    `progress(done, total)` hears how many formula cells are recomputed."""
    path = Path(path)
    try:
        book = read_book(path)
        run = Run.from_book(book)
    except BookError as exc:
        raise ScorerError(str(exc)) from None
    try:
        result = evaluate(book, progress=progress)
    except EvalError as exc:
        raise ScorerError(f"{path}: {exc}") from None
    program, layout = run.program, run.layout
    spec, last = program.spec, program.spec.epochs
    weights = {
        p: _finite(result, layout.block(program.carried(p), last), f"New {p}, epoch {last}", path)
        for p in program.params
    }
    mean = _finite(result, layout.block("Mean"), "Mean", path)
    std = _finite(result, layout.block("Std"), "Std", path)
    zero = np.flatnonzero(std[0] <= 0)
    if zero.size:
        cell = layout.block("Std").ref(0, int(zero[0]), DATA)
        raise ScorerError(f"{path}: {DATA}!{cell} (Std) is 0: a constant feature cannot be scaled")
    data = book.sheet(DATA).values
    raw = layout.block("Raw")
    header = DATA_TOP - 1
    feature_names = tuple(
        str(data.get((header, raw.col + j), f"x{j + 1}")) for j in range(program.dims.f)
    )
    classes = tuple(float(c) for c in run.inputs.classes[0])
    return Scorer(
        spec=spec,
        weights=weights,
        mean=mean,
        std=std,
        classes=classes,
        feature_names=feature_names,
        target_name=str(data.get((header, 0), "class")),
        class_names=_class_names(path, layout.block("Classes")),
        source=(
            f"{path.name}: epoch {last} of its training run ({spec.optimizer}, learning rate "
            f"{run.inputs.lr:g}), recomputed from its formulas"
        ),
        samples=run.inputs.raw,
        sample_labels=run.inputs.label[:, 0],
    )


def _finite(result: Result, block: Block, what: str, path: Path) -> np.ndarray:
    out = np.empty((block.nrows, block.ncols))
    for i, j, r, c in block.cells():
        v = result.value(block.sheet, r, c)
        number = as_number(v)
        if number is None:
            shown = "a blank" if v is EMPTY or v is None else str(v)
            raise ScorerError(
                f"{path}: {block.sheet}!{a1.cell(r, c)} ({what}) recomputes to {shown}, not a "
                "finite number; a scorer needs finite weights"
            )
        out[i, j] = number
    return out


def _class_names(path: Path, block: Block) -> tuple[str, ...] | None:
    """Text classes' names, read back from the number formats of the Data sheet's class
    cells (the cells hold the codes 1..K); None for numeric classes."""
    formats = row_formats(path, block.sheet, block.row, block.col, block.ncols)
    # A text class's name is the whole number format of its cell (workbook.py).
    names = tuple(name for name in map(format_literal, formats) if name is not None)
    return names if len(names) == block.ncols else None
