"""The scoring sheet: a trained model's weights and live formulas that classify new samples.

A scorer workbook has two sheets. Score: a yellow input area where a user types or pastes raw
samples, one per row; right of it the predicted class and each class's probability; further
right the working blocks (normalised X, Z and A of each layer, the softmax pieces). Model: the
training mean and std, the class values, and each W and b as numbers. Every formula is an op's
own `cell` form (ops.py), the same text the training workbook uses, laid out over other blocks
and wrapped so that a row whose inputs are not all numbers shows "" instead of an error.

`check_scorer` fills the input area of a copy, recomputes it with the formulas evaluator or
LibreOffice, and compares every block with `score_numpy`, the same steps' NumPy forms.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xlsxwriter

from . import a1
from .data import Dataset
from .errors import XlnetError
from .evaluate import EMPTY, EvalError, Result, evaluate, is_error
from .layout import DATA, DATA_TOP, Block
from .ops import Env
from .outfile import atomic_write, writer_options
from .program import Step, build_program
from .run import block_numbers, read_run
from .shown import format_literal
from .spec import Spec, SpecError, parse_hidden
from .tolerances import SCORER_TOLERANCE, scale
from .training import prepare
from .verification import ENGINES, recompute
from .words import quantity
from .workbook import FIXED_TIME, NUMBER_FORMAT, Progress
from .xlsxio import BookError, read_book
from .xlsxsheet import FastSheet

SCORE = "Score"
MODEL = "Model"
SCORE_TOP = 4  # first input row (0-based): title, instructions, block titles, headers above
DEFAULT_ROWS = 100
MAX_INPUT_ROWS = 10_000  # input rows; each holds a few dozen formulas
INPUT_NAME = "scorer_inputs"
PREDICTED_NAME = "scorer_predicted"
PROBABILITIES_NAME = "scorer_probabilities"
PREDICTION = "Prediction"  # the program's name of the predicted class
NAMES = "Class names"  # a Model row of text classes' names; the Prediction column shows them
INPUT_COLOR = "#FFF2CC"  # the training workbook's input yellow
# XlsxWriter stores numbers with 16 significant digits (%.16G): a weight read back from the Model
# sheet is the exported one within half a unit in the 16th digit.
STORED = 1e-15

# Model sheet: key and label of each row of the description table (values in column B).
INFO_ROWS: tuple[tuple[str, str], ...] = (
    ("model", "Model"),
    ("architecture", "Architecture"),
    ("hidden", "Hidden layers"),
    ("activation", "Activation"),
    ("output", "Output"),
    ("features", "Features"),
    ("classes", "Classes"),
    ("target", "Predicts"),
    ("rows", "Input rows"),
    ("source", "Weights from"),
)
INFO_TOP = 2
NORM_HEAD = INFO_TOP + len(INFO_ROWS) + 1  # header row of feature names over Mean and Std
CLASS_ROW = NORM_HEAD + 4
LAYERS_TOP = CLASS_ROW + 3


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
    def labels(self) -> tuple[str, ...]:
        """How each class is shown: its name, or the class column's name and its value, as
        in the training workbook ("Cultivar 1")."""
        return self.class_names or tuple(f"{self.target_name} {c:g}" for c in self.classes)

    def shown(self, code: float) -> str | float:
        """What the Predicted column shows for a class value: its name, or the value."""
        if self.class_names is None:
            return float(code)
        return self.class_names[self.classes.index(float(code))]


@dataclass(frozen=True)
class ScorerResult:
    path: Path
    rows: int
    examples: int
    formula_cells: int
    inputs: str  # the input area, e.g. Score!$A$5:$M$104
    predicted: str
    probabilities: str


# --- the steps and where their tensors live ---------------------------------------------------


def forward_steps(spec: Spec, f: int, k: int) -> tuple[Step, ...]:
    """The training program's own steps from raw features to the predicted class: the
    z-score, the epoch's forward steps and the prediction."""
    program = build_program(spec, 1, f, k)
    zscore = next(s for s in program.data_steps if s.out == "X")
    forward = tuple(s for s in program.epoch_steps if s.op.group == "forward")
    predict = next(s for s in program.epoch_steps if s.out == PREDICTION)
    return (zscore, *forward, predict)


def _widths(spec: Spec, f: int, k: int) -> dict[str, int]:
    program = build_program(spec, 1, f, k)
    return {name: shape[1] for name, shape in program.tensors.items()}


class ScorerLayout:
    """Where every block of a scorer sits: inputs and formulas on Score, numbers on Model."""

    def __init__(self, spec: Spec, f: int, k: int, rows: int, named: bool) -> None:
        self.spec, self.f, self.k, self.rows, self.named = spec, f, k, rows, named
        self.steps = forward_steps(spec, f, k)
        self.output = f"A{spec.layers}"
        width = _widths(spec, f, k)
        b: dict[str, Block] = {
            "Raw": Block(SCORE, SCORE_TOP, 0, rows, f),
            PREDICTION: Block(SCORE, SCORE_TOP, f + 1, rows, 1),
            self.output: Block(SCORE, SCORE_TOP, f + 2, rows, k),
        }
        col = f + 2 + k + 1
        for step in self.steps:
            if step.out not in b:
                b[step.out] = Block(SCORE, SCORE_TOP, col, rows, width[step.out])
                col += width[step.out] + 1
        self.score_cols = col
        b["Mean"] = Block(MODEL, NORM_HEAD + 1, 1, 1, f)
        b["Std"] = Block(MODEL, NORM_HEAD + 2, 1, 1, f)
        b["Classes"] = Block(MODEL, CLASS_ROW, 1, 1, k)
        if named:
            b[NAMES] = Block(MODEL, CLASS_ROW + 1, 1, 1, k)
        row = LAYERS_TOP
        widths = (f, *spec.hidden_sizes, k)
        for layer in range(1, spec.layers + 1):
            rows_in = widths[layer - 1]
            # A title row and a header row above W, b on the row below it.
            b[f"W{layer}"] = Block(MODEL, row + 2, 1, rows_in, widths[layer])
            b[f"b{layer}"] = Block(MODEL, row + 2 + rows_in, 1, 1, widths[layer])
            row += rows_in + 4
        self.about_top = row
        self.blocks = b
        self.params = tuple(f"{p}{layer}" for layer in range(1, spec.layers + 1) for p in "Wb")

    def block(self, name: str) -> Block:
        return self.blocks[name]

    def args(self, step: Step) -> list[Block]:
        """The blocks a step's formula reads; the prediction of text classes reads their
        names, so that the Predicted column shows a name."""
        names = [a.name for a in step.args]
        if step.out == PREDICTION and self.named:
            names[-1] = NAMES
        return [self.blocks[n] for n in names]

    def guard(self, i: int, body: str) -> str:
        """Row i's formula, blank ("") unless every input of the row is a number: a blank or
        half-typed row shows nothing rather than errors."""
        return f'IF(COUNT({self.blocks["Raw"].row_range(i, SCORE)})<{self.f},"",{body})'

    def formula(self, step: Step, i: int, j: int) -> str:
        return self.guard(i, step.op.cell(i, j, SCORE, *self.args(step)))


def layout_for(scorer: Scorer, rows: int) -> ScorerLayout:
    return ScorerLayout(scorer.spec, scorer.f, scorer.k, rows, scorer.class_names is not None)


# --- building a scorer ----------------------------------------------------------------------


def scorer_from_training(spec: Spec, dataset: Dataset) -> Scorer:
    """Train NumPy on `dataset` (the same run `xlnet build` writes) and keep its last
    epoch's weights."""
    run = prepare(spec, dataset)
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
        run = read_run(book)
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
        number = isinstance(v, int | float) and not isinstance(v, bool)
        if not number or not math.isfinite(float(v)):
            shown = "a blank" if v is EMPTY or v is None else str(v)
            raise ScorerError(
                f"{path}: {block.sheet}!{a1.cell(r, c)} ({what}) recomputes to {shown}, not a "
                "finite number; a scorer needs finite weights"
            )
        out[i, j] = float(v)
    return out


def _class_names(path: Path, block: Block) -> tuple[str, ...] | None:
    """Text classes' names, read back from the number formats of the Data sheet's class
    cells (the cells hold the codes 1..K); None for numeric classes."""
    import openpyxl  # only for the formats, which xlsxio does not read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True)
    try:
        ws = wb[block.sheet]
        names = []
        first, last = block.col + 1, block.col + block.ncols
        for row in ws.iter_rows(block.row + 1, block.row + 1, first, last):
            for c in row:
                # A text class's name is the whole number format of its cell (workbook.py).
                name = format_literal(getattr(c, "number_format", "") or "")
                if name is None:
                    return None
                names.append(name)
        return tuple(names) if len(names) == block.ncols else None
    finally:
        wb.close()


# --- NumPy ------------------------------------------------------------------------------------


def _values(scorer: Scorer, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of the forward pass for `raw` (N x F), by the ops' NumPy forms."""
    raw = np.asarray(raw, dtype=float)
    if raw.ndim != 2 or raw.shape[1] != scorer.f:
        raise ScorerError(f"samples must have {scorer.f} columns, got shape {raw.shape}")
    values: dict[str, np.ndarray] = {
        "Raw": raw,
        "Mean": scorer.mean,
        "Std": scorer.std,
        "Classes": np.array([scorer.classes], dtype=float),
        **scorer.weights,
    }
    env = Env(lr=0.0, n=float(max(raw.shape[0], 1)))  # forward ops read neither
    with np.errstate(all="ignore"):
        for step in forward_steps(scorer.spec, scorer.f, scorer.k):
            values[step.out] = step.op.numpy(env, *(values[a.name] for a in step.args))
    return values


def score_numpy(scorer: Scorer, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N x K) and predicted class values (N,) of raw samples."""
    values = _values(scorer, raw)
    return values[f"A{scorer.spec.layers}"], values[PREDICTION][:, 0]


# --- writing ----------------------------------------------------------------------------------


def _architecture(spec: Spec, f: int, k: int) -> str:
    hidden = "".join(f" -> {h} ({spec.activation})" for h in spec.hidden_sizes)
    return f"{f}{hidden} -> {k} ({spec.output})"


def _example_rows(scorer: Scorer, examples: int) -> np.ndarray:
    """`examples` training samples taken from each class in turn (the first of each class,
    then the second...), so that the rows show every class."""
    if examples == 0:
        return np.empty((0, scorer.f))
    samples = scorer.samples
    if samples is None or samples.shape[0] < examples:
        have = 0 if samples is None else samples.shape[0]
        raise ScorerError(f"{examples} example rows asked for, {have} samples available")
    labels = scorer.sample_labels
    if labels is None:
        return samples[:examples]
    per_class = [np.flatnonzero(labels == c) for c in scorer.classes]
    order = [rows[r] for r in range(samples.shape[0]) for rows in per_class if r < len(rows)]
    return samples[order[:examples]]


def write_scorer(
    scorer: Scorer,
    out: str | Path,
    rows: int = DEFAULT_ROWS,
    examples: int = 0,
    progress: Progress | None = None,
) -> ScorerResult:
    """Write the scorer workbook to `out` atomically: `rows` input rows, the first
    `examples` prefilled with training samples (cached values are NumPy's);
    `progress(done, total)` hears how many formula cells are written as the writing goes."""
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_INPUT_ROWS:
        raise ScorerError(f"rows must be a whole number from 1 to {MAX_INPUT_ROWS}, got {rows!r}")
    if isinstance(examples, bool) or not isinstance(examples, int) or not 0 <= examples <= rows:
        raise ScorerError(f"examples must be a whole number from 0 to rows ({rows}), got "
                          f"{examples!r}")  # fmt: skip
    lay = layout_for(scorer, rows)
    filled = _example_rows(scorer, examples)
    out = Path(out)
    count = atomic_write(out, lambda tmp: _write(tmp, scorer, lay, filled, progress))
    b = lay.blocks
    return ScorerResult(out, rows, len(filled), count, b["Raw"].a1, b[PREDICTION].a1,
                        b[lay.output].a1)  # fmt: skip


def _write(path: str, scorer: Scorer, lay: ScorerLayout, filled: np.ndarray, progress=None) -> int:
    wb = xlsxwriter.Workbook(path, writer_options(path))
    wb.set_properties({"title": "xlnet scorer", "creator": "xlnet", "created": FIXED_TIME})
    fmt = {
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "bold": wb.add_format({"bold": True}),
        "input": wb.add_format({"bg_color": INPUT_COLOR, "border": 1, "border_color": "#BFBFBF"}),
        "num": wb.add_format({"num_format": NUMBER_FORMAT}),
        "prob": wb.add_format({"num_format": "0.00%", "bold": True}),
        "pred": wb.add_format({"bold": True, "bg_color": "#E2EFDA"}),
    }
    score = wb.add_worksheet(SCORE, FastSheet)
    model = wb.add_worksheet(MODEL, FastSheet)
    count = _write_score(score, scorer, lay, filled, fmt, progress)
    _write_model(model, scorer, lay, fmt)
    b = lay.blocks
    wb.define_name(INPUT_NAME, "=" + b["Raw"].a1)
    wb.define_name(PREDICTED_NAME, "=" + b[PREDICTION].a1)
    wb.define_name(PROBABILITIES_NAME, "=" + b[lay.output].a1)
    for name in ("Mean", "Std", "Classes", *lay.params):
        wb.define_name(f"scorer_{name.lower()}", "=" + b[name].a1)
    score.activate()
    wb.close()
    return count


def _write_score(
    ws, scorer: Scorer, lay: ScorerLayout, filled: np.ndarray, fmt, progress=None
) -> int:
    b, f, n = lay.blocks, scorer.f, filled.shape[0]
    target = scorer.target_name
    ws.write_string(0, 0, f"Score new samples: {target}, predicted by a trained "
                    f"{_architecture(scorer.spec, f, scorer.k)} model", fmt["title"])  # fmt: skip
    ws.write_string(
        1,
        0,
        "Type or paste one sample per row into the yellow cells (raw values, in the units of "
        "the training data); its predicted class and class probabilities appear on the right. "
        "A row stays blank until all of its features are numbers. The weights are on the "
        "Model sheet."
        + (f" The first {n} rows hold training samples as examples: overwrite them." if n else ""),
    )
    head = SCORE_TOP - 1
    ws.write_string(head - 1, 0, "Inputs: raw features (type or paste here)", fmt["bold"])
    raw = b["Raw"]
    for j, name in enumerate(scorer.feature_names):
        ws.write_string(head, raw.col + j, name, fmt["bold"])
    for i in range(lay.rows):
        for j in range(f):
            if i < n:
                ws.write_number(raw.row + i, raw.col + j, float(filled[i, j]), fmt["input"])
            else:
                ws.write_blank(raw.row + i, raw.col + j, None, fmt["input"])
    values = _values(scorer, filled) if n else {}
    pred = b[PREDICTION]
    ws.write_string(head - 1, pred.col, "Prediction", fmt["bold"])
    ws.write_string(head, pred.col, f"Predicted {target}", fmt["bold"])
    out = b[lay.output]
    kind = "softmax" if scorer.spec.output == "softmax" else "one sigmoid per class"
    ws.write_string(head - 1, out.col, f"Probability of each {target} ({kind})", fmt["bold"])
    for j, label in enumerate(scorer.labels):
        ws.write_string(head, out.col + j, label, fmt["bold"])
    count, total = 0, sum(b[step.out].nrows * b[step.out].ncols for step in lay.steps)
    for step in lay.steps:
        block = b[step.out]
        if step.out not in (PREDICTION, lay.output):
            ws.write_string(head - 1, block.col, f"{step.out}: {step.op.equation}", fmt["bold"])
            for j, label in enumerate(_column_labels(scorer, lay, step.out)):
                ws.write_string(head, block.col + j, label, fmt["bold"])
        style = {PREDICTION: fmt["pred"], lay.output: fmt["prob"]}.get(step.out, fmt["num"])
        for i, j, r, c in block.cells():
            cached: object = ""
            if i < n:
                v = values[step.out][i, j]
                cached = scorer.shown(v) if step.out == PREDICTION else float(v)
            ws.write_formula(r, c, "=" + lay.formula(step, i, j), style, cached)
            count += 1
        if progress is not None:
            progress(count, total)
    ws.freeze_panes(SCORE_TOP, 0)
    return count


def _column_labels(scorer: Scorer, lay: ScorerLayout, name: str) -> list[str]:
    last = scorer.spec.layers
    if name == "X":
        return list(scorer.feature_names)
    if name.endswith(" max"):
        return ["row max"]
    if name in (f"Z{last}", f"E{last}", f"A{last}"):  # the output layer: one per class
        return list(scorer.labels)
    return [f"unit {u + 1}" for u in range(lay.blocks[name].ncols)]


def _info_values(scorer: Scorer, lay: ScorerLayout) -> dict[str, object]:
    spec = scorer.spec
    mlp = spec.model == "mlp"
    return {
        "model": spec.model, "architecture": _architecture(spec, scorer.f, scorer.k),
        "hidden": spec.hidden_text if mlp else "-", "activation": spec.activation if mlp else "-",
        "output": spec.output, "features": scorer.f, "classes": scorer.k,
        "target": scorer.target_name, "rows": lay.rows, "source": scorer.source,
    }  # fmt: skip


def _write_model(ws, scorer: Scorer, lay: ScorerLayout, fmt) -> None:
    b = lay.blocks
    ws.write_string(0, 0, "Model: the trained weights the Score sheet computes with (inputs)",
                    fmt["title"])  # fmt: skip
    for row, (key, label) in enumerate(INFO_ROWS, start=INFO_TOP):
        ws.write_string(row, 0, label, fmt["bold"])
        v = _info_values(scorer, lay)[key]
        if isinstance(v, str):
            ws.write_string(row, 1, v)
        else:
            ws.write_number(row, 1, float(v))
    ws.write_string(NORM_HEAD, 0, "Normalisation (training samples)", fmt["bold"])
    for j, name in enumerate(scorer.feature_names):
        ws.write_string(NORM_HEAD, 1 + j, name, fmt["bold"])
    ws.write_string(b["Mean"].row, 0, "Mean", fmt["bold"])
    ws.write_string(b["Std"].row, 0, "Std (population)", fmt["bold"])
    _numbers(ws, b["Mean"], scorer.mean, fmt["input"])
    _numbers(ws, b["Std"], scorer.std, fmt["input"])
    ws.write_string(CLASS_ROW, 0, f"{scorer.target_name} values", fmt["bold"])
    _numbers(ws, b["Classes"], np.array([scorer.classes]), fmt["input"])
    if scorer.class_names is not None:
        ws.write_string(CLASS_ROW + 1, 0, f"{scorer.target_name} names", fmt["bold"])
        for j, name in enumerate(scorer.class_names):
            ws.write_string(CLASS_ROW + 1, 1 + j, name, fmt["input"])
    widths = (scorer.f, *scorer.spec.hidden_sizes, scorer.k)
    for layer in range(1, scorer.spec.layers + 1):
        w, bias = b[f"W{layer}"], b[f"b{layer}"]
        what = "features" if layer == 1 else f"units of layer {layer - 1}"
        ws.write_string(w.row - 2, 0, f"W{layer} ({widths[layer - 1]} x {widths[layer]}): "
                        f"rows are the {what}, columns the units of layer {layer}",
                        fmt["bold"])  # fmt: skip
        out_labels = _column_labels(scorer, lay, f"Z{layer}")
        for j, label in enumerate(out_labels):
            ws.write_string(w.row - 1, w.col + j, label, fmt["bold"])
        for i in range(w.nrows):
            label = scorer.feature_names[i] if layer == 1 else f"unit {i + 1}"
            ws.write_string(w.row + i, 0, label)
        ws.write_string(bias.row, 0, f"b{layer}", fmt["bold"])
        _numbers(ws, w, scorer.weights[f"W{layer}"], fmt["input"])
        _numbers(ws, bias, scorer.weights[f"b{layer}"], fmt["input"])
    about = [
        "How the Score sheet computes each row: one formula per cell, the same formulas as the "
        "training workbook's forward pass.",
        *(f"{s.out} ({b[s.out].a1}): {s.op.equation}" for s in lay.steps),
        "Guards: the softmax subtracts each row's largest Z before EXP; a sigmoid's input is "
        "clamped to +-700, so no cell overflows.",
        f'Each formula is IF(COUNT(the row\'s {scorer.f} inputs)<{scorer.f},"",...): a row '
        "shows nothing until every feature is a number.",
        "New samples are scaled with the training Mean and Std above, as the model was trained.",
    ]
    ws.write_string(lay.about_top, 0, "About", fmt["bold"])
    for r, line in enumerate(about, start=lay.about_top + 1):
        ws.write_string(r, 0, line)
    ws.freeze_panes(1, 1)


def _numbers(ws, block: Block, array: np.ndarray, style) -> None:
    for i, j, r, c in block.cells():
        ws.write_number(r, c, float(array[i, j]), style)


# --- reading a scorer back and checking it ----------------------------------------------------


def read_scorer(path: str | Path) -> Scorer:
    """The model a scorer workbook holds: its Model sheet's numbers, as entered."""
    return _open_scorer(path)[0]


def _open_scorer(path: str | Path) -> tuple[Scorer, ScorerLayout]:
    path = Path(path)
    try:
        book = read_book(path)
        model, score = book.sheet(MODEL).values, book.sheet(SCORE).values
    except BookError as exc:
        raise ScorerError(str(exc)) from None
    info = {key: model.get((INFO_TOP + i, 1)) for i, (key, _) in enumerate(INFO_ROWS)}

    def whole(key: str) -> int:
        v = info[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v) or v < 1:
            raise ScorerError(f"{path}: not an xlnet scorer ({MODEL} {key} is {v!r})")
        return int(v)

    try:
        mlp = info["model"] == "mlp"
        spec = Spec(
            model=str(info["model"]),
            output=str(info["output"]),
            hidden=parse_hidden(str(info["hidden"])) if mlp else 5,
            activation=str(info["activation"]) if mlp else "tanh",
        )
    except SpecError as exc:
        raise ScorerError(f"{path}: not an xlnet scorer ({exc})") from None
    f, k, rows = whole("features"), whole("classes"), whole("rows")
    if rows > MAX_INPUT_ROWS:
        raise ScorerError(f"{path}: not an xlnet scorer ({rows} input rows)")
    named = any(isinstance(model.get((CLASS_ROW + 1, 1 + j)), str) for j in range(k))
    lay = ScorerLayout(spec, f, k, rows, named)

    def numbers(name: str) -> np.ndarray:
        try:
            return block_numbers(book, lay.blocks[name], name)
        except BookError as exc:
            raise ScorerError(str(exc)) from None

    head = SCORE_TOP - 1
    names = tuple(str(model.get((CLASS_ROW + 1, 1 + j))) for j in range(k))
    scorer = Scorer(
        spec=spec,
        weights={p: numbers(p) for p in lay.params},
        mean=numbers("Mean"),
        std=numbers("Std"),
        classes=tuple(float(c) for c in numbers("Classes")[0]),
        feature_names=tuple(str(score.get((head, j), f"x{j + 1}")) for j in range(f)),
        target_name=str(info["target"]),
        class_names=names if named else None,
        source=str(info["source"]),
    )
    return scorer, lay


@dataclass
class Mismatch:
    block: str
    sample: int | None  # 1-based input row; None for a Model sheet number
    cell: str
    formula: str | None
    expected: object
    got: object
    problem: str

    def line(self) -> str:
        where = self.block if self.sample is None else f"{self.block}, input row {self.sample}"
        formula = "" if self.formula is None else f"; formula {self.formula}"
        return (f"{self.cell} ({where}) {self.problem}: expected {self.expected!r}, got "
                f"{self.got!r}{formula}")  # fmt: skip


@dataclass
class ScorerCheck:
    """A scorer workbook recomputed on given samples, against NumPy: a report."""

    file: str
    engine: str
    samples: int  # input rows filled with complete samples
    blank_rows: int  # rows left blank or incomplete: every formula must show ""
    formula_cells: int = 0
    checked_cells: int = 0
    max_rel_error: float = 0.0
    mismatch_count: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)  # the first of each block
    counts: dict[str, int] = field(default_factory=dict)  # cells wrong, per block
    error_cells: list[str] = field(default_factory=list)
    probabilities: np.ndarray | None = None  # the engine's, complete rows only (NaN: not a number)
    predicted: list[object] = field(default_factory=list)  # what the engine shows, complete rows

    @property
    def ok(self) -> bool:
        return self.mismatch_count == 0 and not self.error_cells

    def describe(self) -> str:
        """The first wrong cell of each block that has any, then a verdict line."""
        lines = [f"{m.block}: {quantity(self.counts[m.block], 'cell')} wrong; first {m.line()}"
                 for m in self.mismatches]  # fmt: skip
        if self.error_cells:
            lines.append(f"{len(self.error_cells)} error cells, first {self.error_cells[0]}")
        head = f"{self.samples} samples scored and {self.blank_rows} blank rows, " + (
            f"{self.formula_cells} formula cells recomputed with {self.engine}"
        )
        if self.ok:
            lines.append(
                f"OK: {head}; every block within {SCORER_TOLERANCE:g} of NumPy (max rel err "
                f"{self.max_rel_error:.3g}), predicted classes exact, blank rows blank, no "
                "error cells"
            )
        else:
            wrong = (f"{quantity(self.mismatch_count, 'cell')} wrong in "
                     f"{quantity(len(self.counts), 'block')}")  # fmt: skip
            lines.append(f"FAILED: {head}; {wrong}, {len(self.error_cells)} error cells")
        return "\n".join(lines)


def fill_inputs(src: str | Path, dst: str | Path, raw: np.ndarray) -> None:
    """Copy scorer `src` to `dst` with its input area holding `raw` (N x F, N <= rows; a NaN
    leaves its cell blank) and every other input row blank."""
    _fill(src, dst, raw, _open_scorer(src)[1])


def _fill(src: str | Path, dst: str | Path, raw: np.ndarray, lay: ScorerLayout) -> None:
    import openpyxl  # writes values into a copy; XlsxWriter cannot edit a file

    raw = np.asarray(raw, dtype=float)
    if raw.ndim != 2 or raw.shape[1] != lay.f or raw.shape[0] > lay.rows:
        raise ScorerError(f"{src}: its input area holds up to {lay.rows} samples of {lay.f} "
                          f"features; got shape {raw.shape}")  # fmt: skip
    shutil.copyfile(src, dst)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(dst)
        ws = wb[SCORE]
        for i, j, r, c in lay.blocks["Raw"].cells():
            v = raw[i, j] if i < raw.shape[0] else math.nan
            ws.cell(row=r + 1, column=c + 1).value = float(v) if math.isfinite(v) else None
        wb.save(dst)


def check_scorer(
    path: str | Path,
    raw: np.ndarray,
    scorer: Scorer | None = None,
    engine: str = "formulas",
) -> ScorerCheck:
    """Fill a copy of scorer `path` with `raw`, recompute it with `engine` and compare every
    block with NumPy's forward pass of `scorer` (default: the model the file's Model sheet
    holds, which checks the formulas only; pass the exported Scorer to check the weights too).
    Rows with a NaN, and rows beyond `raw`, must show "" in every formula cell."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    path = Path(path)
    own, lay = _open_scorer(path)
    model = own if scorer is None else scorer
    if (model.spec.model, model.spec.output, model.spec.hidden_sizes, model.f, model.k) != (
        own.spec.model, own.spec.output, own.spec.hidden_sizes, own.f, own.k
    ):  # fmt: skip
        raise ScorerError(f"{path}: holds a {_architecture(own.spec, own.f, own.k)} model, not "
                          f"{_architecture(model.spec, model.f, model.k)}")  # fmt: skip
    raw = np.asarray(raw, dtype=float)
    with tempfile.TemporaryDirectory(prefix="xlnet-scorer-") as tmp:
        filled = Path(tmp) / path.name
        _fill(path, filled, raw, lay)
        try:
            result = recompute(read_book(filled), filled, engine)
        except EvalError as exc:
            raise ScorerError(f"{path}: {str(exc).removeprefix(f'{filled}: ')}") from None
    complete = np.array([i < raw.shape[0] and bool(np.isfinite(raw[i]).all())
                         for i in range(lay.rows)])  # fmt: skip
    rows_in = np.flatnonzero(complete)
    expected = _values(model, raw[rows_in]) if rows_in.size else {}
    report = ScorerCheck(str(path), engine, int(rows_in.size), int(lay.rows - rows_in.size))
    report.formula_cells = len(result.formulas)
    report.error_cells = result.error_cells()
    _compare_model(report, own, model, lay)
    position = {int(i): n for n, i in enumerate(rows_in)}
    for step in lay.steps:
        _compare_block(report, result, model, lay, step.out, expected, position)
    out = lay.blocks[lay.output]
    grid = np.full((rows_in.size, out.ncols), np.nan)
    for n, i in enumerate(rows_in):
        for j in range(out.ncols):
            v = result.value(SCORE, out.row + int(i), out.col + j)
            if _number(v):
                grid[n, j] = float(v)
    report.probabilities = grid
    pred = lay.blocks[PREDICTION]
    report.predicted = [result.value(SCORE, pred.row + int(i), pred.col) for i in rows_in]
    return report


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and not is_error(v)


def _blank(v) -> bool:
    return v is None or v is EMPTY or v == ""


def _record(report: ScorerCheck, m: Mismatch) -> None:
    report.mismatch_count += 1
    if m.block not in report.counts:
        report.mismatches.append(m)
    report.counts[m.block] = report.counts.get(m.block, 0) + 1


def _compare_model(report: ScorerCheck, own: Scorer, model: Scorer, lay: ScorerLayout) -> None:
    """The Model sheet's numbers against the scorer they should hold."""
    if own is model:
        return
    pairs = [("Mean", own.mean, model.mean), ("Std", own.std, model.std)]
    pairs += [(p, own.weights[p], model.weights[p]) for p in lay.params]
    pairs.append(("Classes", np.array([own.classes]), np.array([model.classes])))
    for name, got, exp in pairs:
        block = lay.blocks[name]
        for i, j, r, c in block.cells():
            if abs(got[i, j] - exp[i, j]) > STORED * abs(exp[i, j]):
                _record(report, Mismatch(name, None, f"{MODEL}!{a1.cell(r, c)}", None,
                                         float(exp[i, j]), float(got[i, j]),
                                         "holds another number than the model's"))  # fmt: skip
    if own.class_names != model.class_names:
        _record(report, Mismatch(NAMES, None, f"{MODEL}!{a1.cell(CLASS_ROW + 1, 1)}", None,
                                 model.class_names, own.class_names,
                                 "holds other class names"))  # fmt: skip


def _compare_block(report, result: Result, model: Scorer, lay: ScorerLayout, name: str,
                   expected: dict[str, np.ndarray], position: dict[int, int]) -> None:  # fmt: skip
    block = lay.blocks[name]
    s = result.index(SCORE)
    # Norm-wise, as verify judges a block (tolerances.py): against the block's largest value.
    block_scale = scale(expected[name]) if name != PREDICTION else 1.0
    for i, j, r, c in block.cells():
        got = result.value(SCORE, r, c)
        formula = result.formulas.get((s, r, c))
        cell = f"{SCORE}!{a1.cell(r, c)}"
        n = position.get(i)
        problem, exp = None, None
        if formula is None:
            problem = "is not a formula"
        elif n is None:
            exp = ""
            if not _blank(got):
                problem = "should be blank: its row is not a complete sample"
        elif name == PREDICTION:
            exp = model.shown(expected[name][n, 0])
            if isinstance(exp, str):
                same = isinstance(got, str) and got == exp
            else:
                same = _number(got) and float(got) == exp
            if not same:
                problem = "is not NumPy's predicted class"
        else:
            exp = float(expected[name][n, j])
            if not _number(got):
                problem = "is not a number"
            else:
                rel = abs(float(got) - exp) / block_scale
                if not math.isfinite(rel) or rel > SCORER_TOLERANCE:
                    problem = "differs from NumPy"
                elif rel > report.max_rel_error:
                    report.max_rel_error = rel
        report.checked_cells += 1
        if problem:
            _record(report, Mismatch(name, i + 1, cell, formula, exp, got, problem))
