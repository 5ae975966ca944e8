"""Writes the training workbook (.xlsx): trains NumPy, then each sheet's formulas with cached
values, the defined names and the chart, atomically."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xlsxwriter

from .about import write_about
from .block import Block
from .data import Dataset
from .labels import column_labels, row_labels
from .layout import (
    ABOUT,
    BAND_HEADER,
    DATA,
    DATA_TOP,
    EXERCISE_ROWS,
    HYPER_NAMES,
    INIT,
    OPTIMIZER_INPUTS,
    SETTING_ROWS,
    SETTINGS,
    TEST,
    TRAIN,
    Layout,
)
from .outfile import atomic_write
from .program import TEST_PREFIX, Program
from .reference import Inputs, Key
from .run import Run, setting_values
from .scalars import LR_NAME, N_NAME
from .sheetwriter import NO_BLANKS, Blanks, Progress, SheetWriter
from .spec import Spec, SpecError
from .summarysheet import write_summary


@dataclass(frozen=True)
class BuildResult:
    path: Path
    formula_cells: int
    final_loss: float
    final_accuracy: float
    final_test_accuracy: float | None = None
    first_loss: float = float("nan")  # the first epoch's loss: a run whose loss rose ends above it
    # Per epoch, NumPy's values of what the Summary sheet lists (the formulas recompute them).
    losses: tuple[float, ...] = ()
    accuracies: tuple[float, ...] = ()
    test_accuracies: tuple[float, ...] | None = None


def build(
    spec: Spec,
    dataset: Dataset,
    out: str | Path,
    blanks: Blanks = NO_BLANKS,
    extra: Callable[[xlsxwriter.Workbook, dict], None] | None = None,
    about: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> BuildResult:
    """Train the NumPy reference and write the workbook to `out`, atomically; with `blanks`,
    an exercise whose blank blocks the student fills; `extra(workbook, formats)` adds sheets
    of its own (a sweep's results) after About, which lists them with the lines `about`;
    `progress(done, total)` hears how many formula cells are written as the writing goes."""
    run = Run.from_spec(spec, dataset)
    diverged = run.overflow()
    if diverged is not None:
        tensor, epoch = diverged
        raise SpecError(
            f"at learning rate {spec.lr:g} this net diverges: {tensor} overflows at epoch "
            f"{epoch}, which a spreadsheet shows as #NUM!; lower the learning rate or train "
            f"fewer than {epoch} epochs"
        )
    out = Path(out)
    cells = atomic_write(out, lambda tmp: _write(tmp, run, blanks, extra, about, progress))
    return BuildResult(out, cells, run.final_loss, run.final_accuracy, run.final_test_accuracy,
                       run.first_loss, *run.history())  # fmt: skip


def _write(
    path: str, run: Run, blanks: Blanks = NO_BLANKS, extra=None, about=(), progress=None
) -> int:
    program, layout, dataset, inputs, values = (
        run.program,
        run.layout,
        run.dataset,
        run.inputs,
        run.values,
    )
    w = SheetWriter(path, program, layout, dataset, blanks, extra, progress)
    spec = program.spec
    _write_settings(w, program, layout, inputs, dataset)
    _write_data(w, program, layout, dataset, values)
    if run.test is not None:
        _write_test(w, program, layout, run.test, values)
    _write_init(w, program, layout, values)
    _write_train(w, program, layout, values)
    write_summary(w, program, layout, values)
    write_about(w, program, layout, dataset, inputs, about)
    for p in program.params:
        w.wb.define_name(f"{p}_init", "=" + layout.block("New " + p, 0).a1)
        w.wb.define_name(f"{p}_final", "=" + layout.block("New " + p, spec.epochs).a1)
    w.wb.define_name("features_normalised", "=" + layout.block("X").a1)
    w.wb.define_name("targets_onehot", "=" + layout.block("Y").a1)
    w.sheets[ABOUT].activate()
    w.wb.close()
    assert progress is None or w.formulas == w.total, (w.formulas, w.total)
    return w.formulas


def _write_settings(
    w: SheetWriter, program: Program, layout: Layout, inputs: Inputs, dataset: Dataset
) -> None:
    value = setting_values(program, inputs, dataset)
    inputs_here = (LR_NAME, N_NAME, *OPTIMIZER_INPUTS[program.spec.optimizer])
    ws = w.sheets[SETTINGS]
    for col, head in enumerate(("Setting", "Value", "Meaning")):
        ws.write(0, col, head, w.bold)
    for key, label, meaning in SETTING_ROWS:
        b = layout.setting(key)
        ws.write(b.row, 0, label)
        ws.write(b.row, 1, value[key], w.input if key in inputs_here else None)
        ws.write(b.row, 2, meaning)
    extra = w.blanks.settings()
    for key, label, meaning in EXERCISE_ROWS if extra else ():
        b = layout.setting(key)
        ws.write(b.row, 0, label)
        ws.write_string(b.row, 1, extra[key])
        ws.write(b.row, 2, meaning)
    for name in (LR_NAME, N_NAME, *HYPER_NAMES):
        w.wb.define_name(name, "=" + layout.setting(name).a1)
    ws.freeze_panes(1, 0)


def _write_data(
    w: SheetWriter,
    program: Program,
    layout: Layout,
    dataset: Dataset,
    values: dict[Key, np.ndarray],
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
    # The class values are the one-hot headers; the format shows them as "Cultivar 1" etc.,
    # or, for text classes (coded 1..K), as their names.
    classes = layout.block("Classes")
    for j, c in enumerate(dataset.classes):
        ws.write_number(classes.row, classes.col + j, c, w.class_format(dataset, j, bold=True))
    _write_labels(w, label, values[("Label", None)], dataset)
    w.numbers(raw, values[("Raw", None)])
    steps = [s for s in program.data_steps if not s.out.startswith(TEST_PREFIX)]
    _write_steps(w, program, layout, steps, None, values)
    ws.freeze_panes(DATA_TOP, 1)


def _write_labels(w: SheetWriter, block: Block, labels: np.ndarray, dataset: Dataset) -> None:
    """The class column (inputs); text classes show their names over the codes they hold."""
    if not dataset.class_names:
        w.numbers(block, labels)
        return
    ws = w.sheets[block.sheet]
    for i, _, r, c in block.cells():
        v = float(labels[i, 0])
        ws.write_number(r, c, v, w.class_format(dataset, dataset.classes.index(v)))


def _write_test(
    w: SheetWriter, program: Program, layout: Layout, test: Dataset, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[TEST]
    raw, label, x = (layout.block(TEST_PREFIX + n) for n in ("Raw", "Label", "X"))
    ws.write(0, 0, "Held-out samples (inputs): never trained on", w.bold)
    ws.write(0, x.col, "Normalised with the training set's mean and std (Data sheet)", w.bold)
    header = DATA_TOP - 1
    ws.write(header, 0, test.target_name, w.bold)
    for j, name in enumerate(test.feature_names):
        ws.write(header, raw.col + j, name, w.bold)
        ws.write(header, x.col + j, name, w.bold)
    _write_labels(w, label, values[(TEST_PREFIX + "Label", None)], test)
    w.numbers(raw, values[(TEST_PREFIX + "Raw", None)])
    steps = [s for s in program.data_steps if s.out.startswith(TEST_PREFIX)]
    _write_steps(w, program, layout, steps, None, values)
    ws.freeze_panes(DATA_TOP, 1)


def _write_init(
    w: SheetWriter, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[INIT]
    title = "Initial state" if program.state else "Initial weights"
    ws.write(0, 0, title, w.title)
    ws.write(1, 0, f"Glorot-uniform, seed {program.spec.seed}", w.row_label)
    for p in program.initial:
        b = layout.block(program.carried(p), 0)
        _write_headers(w, program, b, p, b.row - 2)
        w.numbers(b, values[(program.carried(p), 0)])
    ws.freeze_panes(2, 1)


def _write_headers(
    w: SheetWriter, program: Program, block: Block, name: str, title_row: int
) -> None:
    """A block's name in the title row over its first column; in the row below, what each of
    its columns is (a feature, a unit, a class); beside the first weight matrix's rows (column
    A), the features those rows weigh."""
    ws = w.sheets[block.sheet]
    ws.write(title_row, block.col, name, w.bold)
    columns = column_labels(program, w.dataset, name)
    if columns is not None and block.ncols > 1:
        for j, text in enumerate(columns):
            ws.write_string(title_row + 1, block.col + j, text, w.label)
    rows = row_labels(program, w.dataset, name)
    if rows is not None and block.col == 1:
        for i, text in enumerate(rows):
            # Named for the block: the same rows are samples of Z, A and dZ, units of W2.
            ws.write_string(block.row + i, 0, f"{name}: {text}", w.row_label)


def _write_steps(w: SheetWriter, program: Program, layout: Layout, steps, epoch, values) -> None:
    for step in steps:
        out, array, cell = layout.step_formula(step, epoch)
        value = values[(step.out, epoch)]
        if epoch is not None:
            value = w.blanks.cached(value)
        if epoch is not None and step.out in w.blanks.steps:
            ws = w.sheets[out.sheet]
            for _, _, r, c in out.cells():
                ws.write_blank(r, c, None, w.todo)
            continue
        fmt = w.count if step.op.whole else None
        if array is not None:
            w.array_block(out, array, value, fmt)
        else:
            w.formula_block(out, cell, value, fmt)


def _write_train(
    w: SheetWriter, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[TRAIN]
    for epoch in range(1, program.spec.epochs + 1):
        top = layout.band_top(epoch)
        ws.write(top, 0, f"Epoch {epoch}", w.title)
        for step in program.epoch_steps:
            _write_headers(w, program, layout.block(step.out, epoch), step.out, top)
        _write_steps(w, program, layout, program.epoch_steps, epoch, values)
    # The first band's names and labels head every band: all bands share their columns.
    ws.freeze_panes(BAND_HEADER, 1)
