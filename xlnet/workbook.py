"""Writes the training workbook (.xlsx): sheets, formulas with cached values, names, chart."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter

from . import __version__
from .data import Dataset
from .layout import (
    ABOUT,
    DATA,
    DATA_TOP,
    EXERCISE_ROWS,
    INIT,
    LR_NAME,
    N_NAME,
    SETTING_ROWS,
    SETTINGS,
    SUMMARY,
    TRAIN,
    Block,
    Layout,
)
from .program import SUMMARY_TENSORS, Program, build_program
from .reference import Inputs, Key, initial_params, train
from .spec import Spec

# A fixed creation time makes the same command write the same bytes.
FIXED_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)
NUMBER_FORMAT = "0.000000"


@dataclass(frozen=True)
class BuildResult:
    path: Path
    formula_cells: int
    final_loss: float
    final_accuracy: float


def inputs_for(program: Program, dataset: Dataset, spec: Spec) -> Inputs:
    return Inputs(
        raw=dataset.features,
        label=dataset.labels[:, None],
        classes=np.array([dataset.classes]),
        init=initial_params(program, spec.seed),
        lr=float(spec.lr),
        n=float(dataset.n),
    )


@dataclass(frozen=True)
class Blanks:
    """What an exercise leaves to the student: the epoch steps written blank, and who it is for."""

    steps: frozenset[str]
    given: tuple[str, ...]
    student: str = ""


def build(
    spec: Spec, dataset: Dataset, out: str | Path, blanks: Blanks | None = None
) -> BuildResult:
    """Train the NumPy reference and write the workbook to `out`, atomically; with `blanks`,
    an exercise whose blank blocks the student fills."""
    program = build_program(spec, dataset.n, dataset.f, dataset.k)
    layout = Layout(program)
    inputs = inputs_for(program, dataset, spec)
    values = train(program, inputs)
    out = Path(out)
    count = atomic_write(
        out, lambda tmp: _write(tmp, program, layout, dataset, inputs, values, blanks)
    )
    e = spec.epochs
    return BuildResult(out, count, float(values[("Loss", e)][0, 0]),
                       float(values[("Accuracy", e)][0, 0]))  # fmt: skip


def atomic_write(out: Path, write):
    """Write to a temporary file beside `out` with `write(tmp_path)`, then rename it into
    place: a failed or interrupted write leaves no partial file and an existing one intact."""
    folder = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        result = write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a workbook is an ordinary file
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return result


class _Writer:
    def __init__(
        self, path: str, program: Program, layout: Layout, blanks: Blanks | None = None
    ) -> None:
        self.program, self.layout, self.blanks = program, layout, blanks
        self.wb = xlsxwriter.Workbook(path, {"strings_to_numbers": False})
        self.wb.set_properties(
            {"title": "xlnet training workbook", "creator": "xlnet", "created": FIXED_TIME}
        )
        self.sheets = {name: self.wb.add_worksheet(name) for name in
                       (ABOUT, SUMMARY, SETTINGS, DATA, INIT, TRAIN)}  # fmt: skip
        self.bold = self.wb.add_format({"bold": True})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.num = self.wb.add_format({"num_format": NUMBER_FORMAT})
        self.input = self.wb.add_format({"num_format": "General", "bg_color": "#FFF2CC"})
        self.todo = self.wb.add_format({"num_format": NUMBER_FORMAT, "bg_color": "#DDEBF7"})
        self.formulas = 0

    def text(self, sheet: str, row: int, col: int, value, fmt=None) -> None:
        self.sheets[sheet].write(row, col, value, fmt)

    def numbers(self, block: Block, array: np.ndarray) -> None:
        ws = self.sheets[block.sheet]
        for i, j, r, c in block.cells():
            ws.write_number(r, c, float(array[i, j]), self.input)

    def formula_block(self, block: Block, formula, array: np.ndarray) -> None:
        ws = self.sheets[block.sheet]
        for i, j, r, c in block.cells():
            ws.write_formula(r, c, "=" + formula(i, j), self.num, float(array[i, j]))
        self.formulas += block.nrows * block.ncols

    def array_block(self, block: Block, formula: str, array: np.ndarray) -> None:
        """One legacy (CSE) array formula over the block, each cell with its cached value."""
        ws = self.sheets[block.sheet]
        r1, c1 = block.row + block.nrows - 1, block.col + block.ncols - 1
        ws.write_array_formula(block.row, block.col, r1, c1, "{=" + formula + "}", self.num,
                               float(array[0, 0]))  # fmt: skip
        # XlsxWriter pads the rest of the range with 0; give each cell its own cached value.
        for i, j, r, c in block.cells():
            if i or j:
                ws.write_number(r, c, float(array[i, j]), self.num)
        self.formulas += block.nrows * block.ncols


def _write(
    path: str,
    program: Program,
    layout: Layout,
    dataset: Dataset,
    inputs: Inputs,
    values: dict[Key, np.ndarray],
    blanks: Blanks | None = None,
) -> int:
    w = _Writer(path, program, layout, blanks)
    spec = program.spec
    _write_settings(w, program, layout, inputs)
    _write_data(w, program, layout, dataset, values)
    _write_init(w, program, layout, values)
    _write_train(w, program, layout, values)
    _write_summary(w, program, layout, values)
    _write_about(w, program, layout, dataset, inputs)
    for p in program.params:
        w.wb.define_name(f"{p}_init", "=" + layout.block("New " + p, 0).a1)
        w.wb.define_name(f"{p}_final", "=" + layout.block("New " + p, spec.epochs).a1)
    w.wb.define_name("features_normalised", "=" + layout.block("X").a1)
    w.wb.define_name("targets_onehot", "=" + layout.block("Y").a1)
    w.sheets[ABOUT].activate()
    w.wb.close()
    return w.formulas


def _setting_values(program: Program, inputs: Inputs) -> dict[str, object]:
    """The value of each row of the Settings sheet (hidden is 0 for the logistic regressor)."""
    spec, d = program.spec, program.dims
    return {
        "model": spec.model, "output": spec.output,
        "hidden": spec.hidden if spec.model == "mlp" else 0, "epochs": spec.epochs,
        LR_NAME: inputs.lr, N_NAME: inputs.n, "seed": spec.seed, "layout": spec.layout,
        "features": d.f, "classes": d.k, "version": __version__,
    }  # fmt: skip


def _write_settings(w: _Writer, program: Program, layout: Layout, inputs: Inputs) -> None:
    value = _setting_values(program, inputs)
    ws = w.sheets[SETTINGS]
    for col, head in enumerate(("Setting", "Value", "Meaning")):
        ws.write(0, col, head, w.bold)
    for key, label, meaning in SETTING_ROWS:
        b = layout.setting(key)
        ws.write(b.row, 0, label)
        fmt = w.input if key in (LR_NAME, N_NAME) else None
        ws.write(b.row, 1, value[key], fmt)
        ws.write(b.row, 2, meaning)
    if w.blanks is not None:
        extra = {"given": ",".join(w.blanks.given) or "none", "student": w.blanks.student}
        for key, label, meaning in EXERCISE_ROWS:
            b = layout.setting(key)
            ws.write(b.row, 0, label)
            ws.write_string(b.row, 1, extra[key])
            ws.write(b.row, 2, meaning)
    for name in (LR_NAME, N_NAME):
        w.wb.define_name(name, "=" + layout.setting(name).a1)
    ws.set_column(0, 0, 16)
    ws.set_column(1, 1, 12)
    ws.set_column(2, 2, 70)


def _write_data(
    w: _Writer, program: Program, layout: Layout, dataset: Dataset, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[DATA]
    raw, label, x, y = (layout.block(n) for n in ("Raw", "Label", "X", "Y"))
    ws.write(0, 0, "Raw data (inputs)", w.bold)
    ws.write(0, y.col, "One-hot targets", w.bold)
    ws.write(0, x.col, "Normalised features: (raw - mean) / population std", w.bold)
    ws.write(1, 0, "Mean", w.bold)
    ws.write(2, 0, "Std (population)", w.bold)
    header = DATA_TOP - 1
    ws.write(header, 0, dataset.target_name, w.bold)
    for j, name in enumerate(dataset.feature_names):
        ws.write(header, raw.col + j, name, w.bold)
        ws.write(header, x.col + j, name, w.bold)
    # The class values are the one-hot headers; the format shows them as "Cultivar 1" etc.
    label_fmt = w.wb.add_format({"bold": True, "num_format": f'"{dataset.target_name} "General'})
    classes = layout.block("Classes")
    for j, c in enumerate(dataset.classes):
        ws.write_number(classes.row, classes.col + j, c, label_fmt)
    w.numbers(label, values[("Label", None)])
    w.numbers(raw, values[("Raw", None)])
    _write_steps(w, program, layout, program.data_steps, None, values)
    ws.freeze_panes(DATA_TOP, 1)


def _write_init(
    w: _Writer, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[INIT]
    ws.write(0, 0, f"Initial weights (inputs, Glorot-uniform, seed {program.spec.seed})", w.bold)
    for p in program.params:
        b = layout.block("New " + p, 0)
        ws.write(b.row - 1, b.col, p, w.bold)
        w.numbers(b, values[("New " + p, 0)])


def _write_steps(w: _Writer, program: Program, layout: Layout, steps, epoch, values) -> None:
    # Epoch blocks follow the chosen layout; the data preparation is always cell by cell.
    arrays = program.spec.layout == "arrays" and epoch is not None
    for step in steps:
        out = layout.block(step.out, epoch)
        if epoch is None:
            args = [layout.block(a.name) for a in step.args]
        else:
            args = [layout.block(*program.locate(a, epoch)) for a in step.args]
        value = values[(step.out, epoch)]
        if epoch is not None and w.blanks is not None:
            value = np.zeros_like(value)  # no answers in an exercise's cached values
        if epoch is not None and w.blanks is not None and step.out in w.blanks.steps:
            ws = w.sheets[out.sheet]
            for _, _, r, c in out.cells():
                ws.write_blank(r, c, None, w.todo)
            continue
        if arrays and step.op.array is not None and out.nrows * out.ncols > 1:
            w.array_block(out, step.op.array(out.sheet, *args), value)
            continue

        def formula(i: int, j: int, op=step.op, args=args, here=out.sheet) -> str:
            return op.cell(i, j, here, *args)

        w.formula_block(out, formula, value)


def _write_train(
    w: _Writer, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[TRAIN]
    for epoch in range(1, program.spec.epochs + 1):
        top = layout.band_top(epoch)
        ws.write(top, 0, f"Epoch {epoch}", w.title)
        for step in program.epoch_steps:
            ws.write(top + 1, layout.block(step.out, epoch).col, step.out, w.bold)
        _write_steps(w, program, layout, program.epoch_steps, epoch, values)
    ws.set_column(0, 0, 10)
    ws.set_column(1, layout.train_cols, 11)


def _write_summary(
    w: _Writer, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[SUMMARY]
    e = program.spec.epochs
    for col, head in enumerate(("Epoch", "Loss", "Accuracy")):
        ws.write(0, col, head, w.bold)
    epochs = layout.summary_epoch_block()
    for i in range(e):
        ws.write_number(epochs.row + i, epochs.col, i + 1)
    for name, per_epoch in SUMMARY_TENSORS.items():
        block = layout.block(name)

        def formula(i: int, j: int, per_epoch=per_epoch) -> str:
            return layout.block(per_epoch, i + 1).ref(0, 0, SUMMARY)

        cached = values[(name, None)] * (0 if w.blanks is not None else 1)
        w.formula_block(block, formula, cached)
    chart = w.wb.add_chart({"type": "line"})
    cats = [SUMMARY, epochs.row, epochs.col, epochs.row + e - 1, epochs.col]
    loss, acc = layout.block("Summary Loss"), layout.block("Summary Accuracy")
    chart.add_series(
        {
            "name": "Loss",
            "categories": cats,
            "values": [SUMMARY, loss.row, loss.col, loss.row + e - 1, loss.col],
        }
    )
    chart.add_series({"name": "Accuracy", "categories": cats, "y2_axis": True,
                      "values": [SUMMARY, acc.row, acc.col, acc.row + e - 1, acc.col]})  # fmt: skip
    chart.set_title({"name": "Training loss and accuracy"})
    chart.set_x_axis({"name": "Epoch"})
    chart.set_y_axis({"name": "Loss (mean over samples)"})
    chart.set_y2_axis({"name": "Accuracy", "min": 0, "max": 1})
    chart.set_size({"width": 720, "height": 400})
    ws.insert_chart(1, 4, chart)
    ws.set_column(0, 2, 12)


def _exercise_lines(w: _Writer, program: Program, layout: Layout) -> list[tuple[str, object]]:
    blanks = w.blanks
    assert blanks is not None
    who = f" for {blanks.student}" if blanks.student else ""
    lines: list[tuple[str, object]] = [
        ("head", f"Exercise{who}: fill in the blue blocks on the Train sheet"),
        ("", "Given: the data (Data), the initial weights (Init), the learning rate and N "
             f"(Settings), and these groups of blocks: {', '.join(blanks.given) or 'none'}."),
        ("", "Write formulas, not numbers: each blue block must compute from the blocks it "
             "reads, so that changing the learning rate recomputes the run. Use LN for logs."),
        ("", "Fill every epoch: epoch k+1 starts from epoch k's New weights. Grade your work "
             "with: xlnet check FILE"),
        ("", ""),
        ("head", "Blocks to fill (epoch 1; later epochs sit below, in the same columns)"),
    ]  # fmt: skip
    for step in program.epoch_steps:
        if step.out in blanks.steps:
            b = layout.block(step.out, 1)
            args = ", ".join(a.name + (" (previous epoch)" if a.prev else "") for a in step.args)
            lines.append(("", f"{step.out} at {b.a1}: {step.op.equation}   [from {args}]"))
    lines.append(("", ""))
    return lines


def _write_about(
    w: _Writer, program: Program, layout: Layout, dataset: Dataset, inputs: Inputs
) -> None:
    spec, d = program.spec, program.dims
    arch = (
        f"logistic regressor, {d.f} -> {d.k}"
        if spec.model == "logreg"
        else f"two-layer net, {d.f} -> {d.h} (tanh) -> {d.k}"
    )
    lines: list[tuple[str, object]] = [
        ("title", "xlnet: a model trained in live formulas"),
        (
            "",
            f"Model: {arch}; output {spec.output}; {spec.epochs} epochs of full-batch "
            f"gradient descent on {d.n} samples.",
        ),
        (
            "",
            "Every number computed while the model learns is a formula: change the learning "
            "rate on the Settings sheet (defined name learning_rate) and the whole run "
            "recomputes.",
        ),
        ("", ""),
        ("head", "Sheets"),
        ("", "Summary: loss and accuracy per epoch, and their chart."),
        ("", "Settings: learning rate and sample count (inputs, yellow), the settings used."),
        (
            "",
            f"Data: the raw {dataset.target_name} data (inputs), one-hot targets Y and the "
            "z-score normalised features X, as formulas.",
        ),
        ("", f"Init: the initial weights (inputs, seed {spec.seed})."),
        (
            "",
            f"Train: one band of rows per epoch, {layout.band_height} rows high, blocks left "
            "to right in the order they are computed. Epoch k+1 starts from epoch k's New "
            "weights.",
        ),
        ("", ""),
        ("head", "Blocks of each epoch, in order"),
    ]
    if w.blanks is not None:
        lines[1:1] = _exercise_lines(w, program, layout)
    for step in program.epoch_steps:
        args = ", ".join(a.name + (" (previous epoch)" if a.prev else "") for a in step.args)
        lines.append(("", f"{step.out}: {step.op.equation}   [from {args}]"))
    lines += [
        ("", ""),
        ("head", "Conventions"),
        (
            "",
            "Z = X.W + b with one bias per unit; dZ = A - Y at the output; dW = A_in'.dZ / N; "
            "db = sum(dZ) / N; New P = P - learning_rate * dP.",
        ),
        (
            "",
            "Loss is the per-sample loss averaged over the N samples; a sigmoid output sums "
            "the binary cross-entropy over the classes.",
        ),
        (
            "",
            "Guards: softmax subtracts the row maximum; sigmoid inputs are clamped to +-700 "
            "before EXP; LN gets A + 1E-300, so no cell ever shows #NUM! or #DIV/0!.",
        ),
        (
            "",
            "Layout: "
            + (
                "cells, one formula per number, as a person builds it by hand."
                if spec.layout == "cells"
                else "arrays, one legacy array formula (shown in braces, entered with "
                "Ctrl+Shift+Enter) per block of each epoch."
            ),
        ),
        ("", "Check it: xlnet verify FILE recomputes every formula and compares it with NumPy."),
        ("", ""),
        ("head", "Settings used"),
    ]
    values = _setting_values(program, inputs)
    for key, label, _ in SETTING_ROWS:
        if key == "hidden" and spec.model != "mlp":
            continue
        lines.append(("", f"{label}: {values[key]}"))
    ws = w.sheets[ABOUT]
    head = w.wb.add_format({"bold": True, "font_size": 12})
    for row, (kind, text) in enumerate(lines):
        ws.write(row, 0, text, {"title": w.title, "head": head}.get(kind))
    ws.set_column(0, 0, 120)
