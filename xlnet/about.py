"""The About sheet: what the file is, its sheets, the equation of every block, the
conventions and the settings used, and for an exercise what to fill."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data import Dataset
from .layout import ABOUT, HYPER_NAMES, OPTIMIZER_INPUTS, SETTING_ROWS, Layout
from .program import Program
from .reference import Inputs
from .run import setting_values
from .words import as_typed, quantity

if TYPE_CHECKING:
    from .sheetwriter import SheetWriter


def _exercise_lines(w: SheetWriter, program: Program, layout: Layout) -> list[tuple[str, object]]:
    blanks = w.blanks
    if not blanks.exercise:
        return []
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


def write_about(
    w: SheetWriter,
    program: Program,
    layout: Layout,
    dataset: Dataset,
    inputs: Inputs,
    extra_sheets: tuple[str, ...] = (),
) -> None:
    spec, d = program.spec, program.dims
    if spec.model == "logreg":
        arch = f"logistic regressor, {d.f} -> {d.k}"
    else:
        widths = " -> ".join(f"{h} ({spec.activation})" for h in d.hidden)
        arch = f"{spec.layers}-layer net, {d.f} -> {widths} -> {d.k}"
    optimizer = {"sgd": "gradient descent", "momentum": "gradient descent with momentum",
                 "adam": "Adam"}[spec.optimizer]  # fmt: skip
    held = f", {d.n_test} held out on the Test sheet" if d.n_test else ""
    lines: list[tuple[str, object]] = [
        ("title", "xlnet: a model trained in live formulas"),
        (
            "",
            f"Model: {arch}; output {spec.output}; {quantity(spec.epochs, 'epoch')} of full-batch "
            f"{optimizer} on {d.n} samples{held}.",
        ),
        (
            "",
            "Every number computed while the model learns is a formula: change the learning "
            "rate on the Settings sheet (defined name learning_rate) and the whole run "
            "recomputes.",
        ),
        ("", ""),
        ("head", "Sheets"),
        *(("", line) for line in extra_sheets),
        (
            "",
            "Summary: loss and accuracy per epoch (and test accuracy, with held-out samples), "
            "their chart, and the last epoch's confusion matrix.",
        ),
        ("", "Settings: learning rate and sample count (inputs, yellow), the settings used."),
        (
            "",
            f"Data: the raw {dataset.target_name} data (inputs), one-hot targets Y and the "
            "z-score normalised features X, as formulas.",
        ),
        *(
            [
                (
                    "",
                    f"Classes: {dataset.target_name} is coded "
                    + ", ".join(
                        f"{c:g} = {n}"
                        for c, n in zip(dataset.classes, dataset.class_names, strict=True)
                    )
                    + "; labels and class headers show the names, Prediction blocks the codes.",
                )
            ]
            if dataset.class_names
            else []
        ),
        *(
            [
                (
                    "",
                    "Test: the held-out samples (inputs), normalised with the training mean and "
                    "std; each epoch scores them with that epoch's weights.",
                )
            ]
            if d.n_test
            else []
        ),
        (
            "",
            f"Init: the initial weights (inputs, seed {spec.seed})"
            + (" and the optimizer's initial state." if program.state else "."),
        ),
        (
            "",
            f"Train: one band of rows per epoch, {layout.band_height} rows high, blocks left "
            "to right in the order they are computed. Epoch k+1 starts from epoch k's New "
            "weights.",
        ),
        ("", ""),
        ("head", "Blocks of each epoch, in order"),
    ]
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
            "db = sum(dZ) / N; the optimizer's steps are the update blocks listed above, "
            "each from the block before it in the same epoch or from the previous epoch.",
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
    values = setting_values(program, inputs, dataset)
    unused = set(HYPER_NAMES) - set(OPTIMIZER_INPUTS[spec.optimizer])
    if spec.model != "mlp":
        unused |= {"hidden", "activation"}
    for key, label, _ in SETTING_ROWS:
        if key in unused:
            continue
        lines.append(("", f"{label}: {as_typed(values[key])}"))
    ws = w.sheets[ABOUT]
    head = w.wb.add_format({"bold": True, "font_size": 12})
    for row, (kind, text) in enumerate(lines):
        ws.write(row, 0, text, {"title": w.title, "head": head}.get(kind))
    ws.set_column(0, 0, 120)
