"""What the rows and columns of each block mean: a feature, a hidden unit or a class.

The Train and Init sheets write these over a block's columns (and beside W1's rows), so a
band reads without the About sheet. Pure: names and dimensions in, text out.
"""

from __future__ import annotations

import re

from .data import Dataset
from .program import Program

# W1, b2, Z1, A2, E2, dZ1, dW2, db1, New W1, V W1, M b2, S W1, Test A2, "Z2 max" ...
_LAYERED = re.compile(r"^(?:Test |New |[VMS] )?(d?)([WbZAE])(\d+)( max)?$")


def class_title(dataset: Dataset, j: int) -> str:
    """Class j as a header shows it: its name, or the class column's name and value."""
    if dataset.class_names:
        return dataset.class_names[j]
    return f"{dataset.target_name} {dataset.classes[j]:g}"


def _units(program: Program, dataset: Dataset, layer: int) -> list[str]:
    """The units of layer `layer`: 0 the features, the last the classes, else hidden units."""
    if layer == 0:
        return list(dataset.feature_names)
    if layer == len(program.dims.hidden) + 1:
        return [class_title(dataset, j) for j in range(program.dims.k)]
    return [f"unit {j + 1}" for j in range(program.dims.hidden[layer - 1])]


def column_labels(program: Program, dataset: Dataset, tensor: str) -> list[str] | None:
    """One label per column of `tensor`'s block, or None where a column needs none (a
    single column, whose block name says it all)."""
    m = _LAYERED.match(tensor)
    if m is None or m[4]:
        return None
    return _units(program, dataset, int(m[3]))


def row_labels(program: Program, dataset: Dataset, tensor: str) -> list[str] | None:
    """One label per row of a weight matrix's block (the units it reads from), else None."""
    m = _LAYERED.match(tensor)
    if m is None or m[2] != "W":
        return None
    return _units(program, dataset, int(m[3]) - 1)
