"""The training workbook's writer: its XlsxWriter workbook, sheets and formats, and how a block
of numbers, formulas or an array formula is written into it (counting formula cells)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xlsxwriter

from .block import Block
from .data import Dataset
from .layout import ABOUT, DATA, INIT, SETTINGS, SUMMARY, TEST, TRAIN, Layout
from .outfile import writer_options
from .program import Program
from .shown import literal_format
from .xlsxsheet import FastSheet

# A fixed creation time makes the same command write the same bytes.
FIXED_TIME = dt.datetime(2024, 1, 1, 0, 0, 0)
NUMBER_FORMAT = "0.000000"
INPUT_COLOR = "#FFF2CC"  # the yellow of cells a user may change: data, weights, settings


Progress = Callable[[int, int], None]  # (formula cells written, formula cells in all)


@dataclass(frozen=True)
class Blanks:
    """What an exercise leaves to the student: the epoch steps written blank, and who it is for."""

    steps: frozenset[str]
    given: tuple[str, ...]
    student: str = ""

    @property
    def exercise(self) -> bool:
        """An exercise's workbook: blank blocks, and no answers in its cached values."""
        return bool(self.steps)

    def cached(self, values: np.ndarray) -> np.ndarray:
        """What a formula cell caches: NumPy's values, or zeros in an exercise (no answers)."""
        return np.zeros_like(values) if self.exercise else values

    def settings(self) -> dict[str, str]:
        """The exercise's rows below the Settings (none for a training workbook)."""
        if not self.exercise:
            return {}
        return {"given": ",".join(self.given) or "none", "student": self.student}


NO_BLANKS = Blanks(frozenset(), ())  # a training workbook: every block a formula


def formula_total(program: Program, layout: Layout, blanks: Blanks = NO_BLANKS) -> int:
    """How many formula cells the workbook of `program` holds (blank blocks hold none)."""

    def size(name: str, epoch: int | None = None) -> int:
        b = layout.block(name, epoch)
        return b.nrows * b.ncols

    total = sum(size(s.out) for s in program.data_steps)
    per_epoch = sum(size(s.out, 1) for s in program.epoch_steps if s.out not in blanks.steps)
    total += per_epoch * program.spec.epochs
    return total + sum(size(name) for name in (*program.summary, "Confusion"))


class SheetWriter:
    def __init__(
        self, path: str, program: Program, layout: Layout, dataset: Dataset,
        blanks: Blanks = NO_BLANKS,
        extra: Callable[[xlsxwriter.Workbook, dict], None] | None = None,
        progress: Progress | None = None,
    ) -> None:  # fmt: skip
        self.program, self.layout, self.dataset, self.blanks = program, layout, dataset, blanks
        self.wb = xlsxwriter.Workbook(path, writer_options(path))
        self.wb.set_properties(
            {"title": "xlnet training workbook", "creator": "xlnet", "created": FIXED_TIME}
        )
        self.sheets = {ABOUT: self.wb.add_worksheet(ABOUT, FastSheet)}
        self.bold = self.wb.add_format({"bold": True})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.num = self.wb.add_format({"num_format": NUMBER_FORMAT})
        self.count = self.wb.add_format({"num_format": "0"})
        # Labels: what a block's columns are (over right-aligned numbers) and its rows are.
        label = {"italic": True, "font_color": "#595959"}
        self.label = self.wb.add_format({**label, "align": "right"})
        self.row_label = self.wb.add_format(label)
        if extra is not None:
            extra(self.wb, {"bold": self.bold, "title": self.title, "num": self.num})
        names = [SUMMARY, SETTINGS, DATA, *([TEST] if program.dims.n_test else []), INIT, TRAIN]
        self.sheets.update({name: self.wb.add_worksheet(name, FastSheet) for name in names})
        self.input = self.wb.add_format({"num_format": "General", "bg_color": INPUT_COLOR})
        self.todo = self.wb.add_format({"num_format": NUMBER_FORMAT, "bg_color": "#DDEBF7"})
        self.formulas = 0
        self.progress = progress
        self.total = formula_total(program, layout, blanks) if progress is not None else 0
        self._class_formats: dict = {}

    def class_format(self, dataset: Dataset, j: int, bold: bool = False, plain: bool = False):
        """Shows class j's value as "Cultivar 1", or a text class's name (the cell holds its
        code); `plain`: without the input colour."""
        key = (j, bold or plain)
        if key not in self._class_formats:
            if dataset.class_names:
                shown = literal_format(dataset.class_names[j])
            else:
                shown = literal_format(dataset.target_name + " ") + "General"
            props: dict = {"num_format": shown}
            if bold:
                props["bold"] = True
            else:
                props["bg_color"] = INPUT_COLOR
            self._class_formats[key] = self.wb.add_format(props)
        return self._class_formats[key]

    def text(self, sheet: str, row: int, col: int, value, fmt=None) -> None:
        self.sheets[sheet].write(row, col, value, fmt)

    def numbers(self, block: Block, array: np.ndarray) -> None:
        ws = self.sheets[block.sheet]
        for i, j, r, c in block.cells():
            ws.write_number(r, c, float(array[i, j]), self.input)

    def formula_block(self, block: Block, formula, array: np.ndarray, fmt=None) -> None:
        ws, fmt, cached = self.sheets[block.sheet], fmt or self.num, array.astype(float).tolist()
        for i, j, r, c in block.cells():
            ws.write_formula(r, c, "=" + formula(i, j), fmt, cached[i][j])
        self._count(block)

    def array_block(self, block: Block, formula: str, array: np.ndarray, fmt=None) -> None:
        """One legacy (CSE) array formula over the block, each cell with its cached value."""
        ws = self.sheets[block.sheet]
        ws.write_array_values(block.row, block.col, "{=" + formula + "}", fmt or self.num,
                              array.astype(float).tolist())  # fmt: skip
        self._count(block)

    def _count(self, block: Block) -> None:
        self.formulas += block.nrows * block.ncols
        if self.progress is not None:
            self.progress(self.formulas, self.total)
