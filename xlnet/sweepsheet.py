"""The Sweep sheet: the results table, every run's loss per epoch and their chart, written
as numbers beside the best run's live training."""

from __future__ import annotations

import math
from collections.abc import Callable

import xlsxwriter

from .sheetwriter import NUMBER_FORMAT
from .summarysheet import LINE_CHART, epoch_axis
from .sweepresults import SweepResult, SweepRun
from .words import quantity
from .xlsxsheet import FastSheet, straight_lines

SWEEP = "Sweep"  # the sheet's name; workbook.build places extra sheets right after About

# Rows and columns of the Sweep sheet (0-based). The results table sits under three lines of
# notes; the loss curves start below whichever is taller, the results or the chart beside them.
TABLE_TOP = 5
CHART_COL = 9
CHART_WIDTH = 760
CHART_HEIGHT = 420
LEGEND_ROW_PX = 20  # the legend at the bottom wraps ~3 series names a line
LEGEND_PER_ROW = 3
# With more runs a full legend squeezes the plot to a strip (LibreOffice gives it the space
# first); the legend then names the best run only, and the loss table names every column.
MAX_LEGEND = 24
ROW_PX = 20  # default row height in pixels, to keep the loss table clear of the chart
BEST_FILL = "#E2EFDA"
BEST_LINE = {"width": 3.0, "color": "#C00000"}

# A results column: header, shown with decimals, the value of run i (text: written as text).
_Column = tuple[str, bool, Callable[[int, SweepRun], float | str]]


def write_sheet(wb: xlsxwriter.Workbook, formats: dict, result: SweepResult) -> None:
    """Add the Sweep sheet to `wb`, with workbook.build's `formats`."""
    # Numbers only: `xlnet verify` counts a formula outside the training blocks as unchecked
    # and fails the file.
    ws = wb.add_worksheet(SWEEP, FastSheet)
    bold, title, num = formats["bold"], formats["title"], formats["num"]
    best_head = wb.add_format({"bold": True, "bg_color": BEST_FILL})
    # Text in the table ("8,4", "best", "diverged") is right-aligned like the numbers around it.
    right = wb.add_format({"align": "right"})
    best_text = wb.add_format({"bold": True, "bg_color": BEST_FILL, "align": "right"})
    best_num = wb.add_format({"bold": True, "bg_color": BEST_FILL, "num_format": NUMBER_FORMAT})
    base, runs, best = result.base, result.runs, result.best
    model = "logistic regressor" if base.model == "logreg" else f"{base.activation} net"
    ws.write(0, 0, "Hyperparameter sweep: which setting gives the lowest training loss?", title)
    ws.write(
        1, 0,
        f"{quantity(len(runs), 'run')} of a {model} ({base.output}, {base.optimizer}, "
        f"{quantity(base.epochs, 'epoch')}, seed {base.seed}), each trained by xlnet's NumPy "
        "reference. This sheet holds their results as numbers, not formulas.",
    )  # fmt: skip
    ws.write(
        2, 0,
        "The best setting's training follows as live formulas: Summary, Settings "
        "(learning_rate) and Train are that run; change the learning rate there and it "
        "recomputes.",
    )  # fmt: skip
    ws.write(3, 0, result.best_line(), bold)

    columns = _columns(result)
    for c, (text, _, _) in enumerate(columns):
        ws.write(TABLE_TOP, c, text, bold)
    for i, r in enumerate(runs):
        row = TABLE_TOP + 1 + i
        is_best = i == result.best_index
        for c, (_, decimals, value) in enumerate(columns):
            fmt = (best_num if decimals else best_text) if is_best else (num if decimals else right)
            v = value(i, r)
            if not isinstance(v, str) and not math.isfinite(v):
                v = "-"  # XlsxWriter refuses NaN and inf
            if isinstance(v, str):
                ws.write(row, c, v, fmt)  # "" is a blank cell, shaded on the best row
            else:
                ws.write_number(row, c, v, fmt)

    full_legend = len(runs) <= MAX_LEGEND
    legend_rows = math.ceil(len(runs) / LEGEND_PER_ROW) if full_legend else 1
    chart_height = CHART_HEIGHT + LEGEND_ROW_PX * legend_rows
    table_bottom = TABLE_TOP + 1 + len(runs)
    curves_top = max(table_bottom, TABLE_TOP + math.ceil(chart_height / ROW_PX)) + 2
    ws.write(curves_top, 0, "Training loss per epoch (NumPy), one column per run", bold)
    header = curves_top + 1
    ws.write(header, 0, "Epoch", bold)
    first = header + 1
    epochs = base.epochs
    for e in range(epochs):
        ws.write_number(first + e, 0, e + 1)
    for i, r in enumerate(runs):
        col = 1 + i
        ws.write(header, col, r.label, best_head if i == result.best_index else bold)
        for e, v in enumerate(r.losses):
            # A diverged epoch is left blank: a gap in its chart line, not a spike.
            if math.isfinite(v):
                ws.write_number(first + e, col, v, num)

    chart = wb.add_chart(LINE_CHART)
    straight_lines(chart)
    last = first + epochs - 1
    for i in range(len(runs)):
        col = 1 + i
        # The best run stands out by a thick line of a colour of its own, however many runs.
        line = BEST_LINE if i == result.best_index else {"width": 1.25}
        chart.add_series({
            "name": [SWEEP, header, col],
            "categories": [SWEEP, first, 0, last, 0],
            "values": [SWEEP, first, col, last, col],
            "line": line,
            "smooth": False,
        })  # fmt: skip
    chart.set_title({"name": f"Training loss per epoch, {len(runs)} runs (best: {best.label})"})
    chart.set_x_axis(epoch_axis(epochs))
    chart.set_y_axis({"name": "Loss (mean over samples)", "min": 0})
    legend: dict = {"position": "bottom"}
    if not full_legend:
        legend["delete_series"] = [i for i in range(len(runs)) if i != result.best_index]
    chart.set_legend(legend)
    chart.set_size({"width": CHART_WIDTH, "height": chart_height})
    ws.insert_chart(TABLE_TOP, CHART_COL, chart)
    ws.freeze_panes(0, 1)  # run and epoch numbers stay in view across a wide grid


def _columns(result: SweepResult) -> list[_Column]:
    """The results table's columns: header, shown with decimals, value of run i."""
    cols: list[_Column] = [("Run", False, lambda i, r: i + 1)]
    if result.base.model != "logreg":
        # Text in every row ("5", "8,4"): one column, one type, whatever the depth.
        cols.append(("Hidden", False, lambda i, r: r.hidden_text))
    cols += [
        ("Learning rate", False, lambda i, r: r.lr),
        ("Final loss", True, lambda i, r: r.final_loss if r.finite else "diverged"),
        # A diverged run's accuracies count predictions made from NaN: meaningless.
        ("Train accuracy", True, lambda i, r: r.train_accuracy if r.finite else "-"),
    ]
    if result.has_test:
        cols.append(
            (
                "Test accuracy",
                True,
                lambda i, r: "-" if r.test_accuracy is None or not r.finite else r.test_accuracy,
            )
        )
    cols += [
        ("Rank", False, lambda i, r: result.rank(i)),
        ("Best", False, lambda i, r: "best" if i == result.best_index else ""),
    ]
    return cols
