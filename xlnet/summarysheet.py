"""The Summary sheet: loss and accuracy per epoch as formulas, their chart, and the last epoch's
confusion matrix."""

from __future__ import annotations

import numpy as np

from .layout import (
    SUMMARY,
    Layout,
)
from .program import Program
from .reference import Key
from .sheetwriter import SheetWriter
from .xlsxsheet import straight_lines


def write_summary(
    w: SheetWriter, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    ws = w.sheets[SUMMARY]
    e = program.spec.epochs
    ws.write(0, 0, "Epoch", w.bold)
    epochs = layout.summary_epoch_block()
    for i in range(e):
        ws.write_number(epochs.row + i, epochs.col, i + 1)
    chart = w.wb.add_chart(LINE_CHART)
    straight_lines(chart)
    cats = [SUMMARY, epochs.row, epochs.col, epochs.row + e - 1, epochs.col]
    for name, per_epoch in program.summary.items():
        block = layout.block(name)
        ws.write(0, block.col, per_epoch, w.bold)

        def formula(i: int, j: int, per_epoch=per_epoch) -> str:
            return layout.block(per_epoch, i + 1).ref(0, 0, SUMMARY)

        cached = w.blanks.cached(values[(name, None)])
        w.formula_block(block, formula, cached)
        series = {
            "name": per_epoch,
            "categories": cats,
            "values": [SUMMARY, block.row, block.col, block.row + e - 1, block.col],
            "smooth": False,
        }
        if per_epoch != "Loss":
            series["y2_axis"] = True
        chart.add_series(series)
    held_out = program.dims.n_test > 0
    chart.set_title(
        {"name": "Train loss, train and test accuracy" if held_out else
         "Training loss and accuracy"}
    )  # fmt: skip
    chart.set_x_axis(epoch_axis(e))
    chart.set_y_axis({"name": "Loss (mean over samples)", "min": 0})
    # A little above 1, so that a run at full accuracy is not drawn along the plot's border.
    chart.set_y2_axis({"name": "Accuracy", "min": 0, "max": 1.05, "major_unit": 0.25,
                       "num_format": "0%"})  # fmt: skip
    chart.set_legend({"position": "bottom"})
    chart.set_size({"width": 720, "height": 400})
    _write_confusion(w, program, layout, values)
    ws.insert_chart(program.dims.k + 4, layout.confusion_col, chart)
    ws.freeze_panes(1, 1)
    ws.set_landscape()  # printed, the chart and the confusion matrix stay beside the numbers
    ws.fit_to_pages(1, 0)


# Epochs are numbers, on a value axis: a category axis crowds 1,000 labels together.
LINE_CHART = {"type": "scatter", "subtype": "straight"}


def epoch_axis(epochs: int) -> dict:
    """A value axis from 0 to the last epoch, stepped 1, 2 or 5 times a power of ten so that
    it shows at most ten steps."""
    step = next(m * 10**p for p in range(7) for m in (1, 2, 5) if m * 10**p * 10 >= epochs)
    return {"name": "Epoch", "min": 0, "max": epochs, "major_unit": step}


def _write_confusion(
    w: SheetWriter, program: Program, layout: Layout, values: dict[Key, np.ndarray]
) -> None:
    """The last epoch's confusion matrix: rows the actual class, columns the predicted one."""
    ws = w.sheets[SUMMARY]
    block = layout.block("Confusion")
    which = "held-out (Test sheet)" if program.dims.n_test else "training"
    ws.write(0, layout.confusion_col,
             f"Confusion matrix, epoch {program.spec.epochs}, {which} samples: "
             "rows actual class, columns predicted", w.bold)  # fmt: skip
    ws.write(1, layout.confusion_col, "actual / predicted", w.bold)
    for j in range(program.dims.k):
        value = float(values[("Classes", None)][0, j])
        head = w.class_format(w.dataset, j, bold=True, plain=True)
        ws.write_number(1, block.col + j, value, head)
        ws.write_number(block.row + j, layout.confusion_col, value, head)
    step = program.final_steps[0]
    last = program.spec.epochs
    args = [layout.block(*program.locate(a, last)) for a in step.args]
    cached = w.blanks.cached(values[("Confusion", None)])
    fmt = w.count if step.op.whole else None
    w.formula_block(block, lambda i, j: step.op.cell(i, j, SUMMARY, *args), cached, fmt)
