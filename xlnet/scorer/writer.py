"""Writes a scorer workbook: the Score sheet's inputs and formulas, the Model sheet's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter

from ..block import Block
from ..outfile import atomic_write, writer_options
from ..sheetwriter import FIXED_TIME, INPUT_COLOR, NUMBER_FORMAT, Progress
from ..spec import DEFAULT_SCORER_ROWS, MAX_SCORER_ROWS
from ..xlsxsheet import FastSheet
from .forward import PREDICTION, forward_values
from .layout import (
    CLASS_ROW,
    INFO_ROWS,
    INFO_TOP,
    MODEL,
    NORM_HEAD,
    SCORE,
    SCORE_TOP,
    ScorerLayout,
    layout_for,
)
from .model import Scorer, ScorerError

INPUT_NAME = "scorer_inputs"
PREDICTED_NAME = "scorer_predicted"
PROBABILITIES_NAME = "scorer_probabilities"


@dataclass(frozen=True)
class ScorerResult:
    path: Path
    rows: int
    examples: int
    formula_cells: int
    inputs: str  # the input area, e.g. Score!$A$5:$M$104
    predicted: str
    probabilities: str


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
    rows: int = DEFAULT_SCORER_ROWS,
    examples: int = 0,
    progress: Progress | None = None,
) -> ScorerResult:
    """Write the scorer workbook to `out` atomically: `rows` input rows, the first
    `examples` prefilled with training samples (cached values are NumPy's);
    `progress(done, total)` hears how many formula cells are written as the writing goes."""
    if isinstance(rows, bool) or not isinstance(rows, int) or not 1 <= rows <= MAX_SCORER_ROWS:
        raise ScorerError(f"rows must be a whole number from 1 to {MAX_SCORER_ROWS}, got {rows!r}")
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
                    f"{scorer.architecture} model", fmt["title"])  # fmt: skip
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
    values = forward_values(scorer, filled) if n else {}
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
        "model": spec.model, "architecture": scorer.architecture,
        "hidden": spec.hidden_text if mlp else "-", "activation": spec.activation if mlp else "-",
        "output": spec.output, "features": scorer.f, "classes": scorer.k,
        "target": scorer.target_name, "rows": lay.rows, "source": scorer.source,
    }  # fmt: skip


def _write_model(ws, scorer: Scorer, lay: ScorerLayout, fmt) -> None:
    b = lay.blocks
    ws.write_string(0, 0, "Model: the trained weights the Score sheet computes with (inputs)",
                    fmt["title"])  # fmt: skip
    info = _info_values(scorer, lay)
    for row, (key, label) in enumerate(INFO_ROWS, start=INFO_TOP):
        ws.write_string(row, 0, label, fmt["bold"])
        v = info[key]
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
