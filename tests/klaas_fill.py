"""Test helper: fill the book's wine exercise (xlnet/templates/klaas-ch1.xlsx) the way students do.

`fill` loads the blank template with openpyxl, writes the formulas of the "Logistic Regression"
and "2 Layer Wine Net" sheets (the Data sheet is left alone) and saves a copy. Options cover the
ways real solutions differ (one formula per cell or one array formula per block, a scalar or a
per-class bias, a loss column or a loss per class, fixed or RAND() weights) and `mistake` plants
one or several of the common mistakes, each in its own block; every other block keeps its
correct formula.

`as_spilled` rewrites a file so that its legacy (CSE) array formulas look the way Excel 365
saves dynamic-array (spilled) formulas: `cm="1"` on the anchor `<c>`, plus `xl/metadata.xml`
holding the XLDAPR cell metadata it points at.

Formulas use only functions that LibreOffice 7.4 and the `formulas` package both compute:
MMULT, SUMPRODUCT, TRANSPOSE, INDEX, EXP, LN, LOG, TANH, SUM, RAND. A softmax denominator is
SUMPRODUCT(EXP(row)) rather than SUM(EXP(row)): in a plain (non-array) cell formula the latter
is an implicit intersection in LibreOffice and pre-365 Excel.
"""

from __future__ import annotations

import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.formula import ArrayFormula

# The book's blank sheet as the repository ships it (xlnet/templates/); identical to shared/klaas.
KLAAS: Path = Path(__file__).resolve().parents[1] / "xlnet" / "templates" / "klaas-ch1.xlsx"
SHEETS: dict[str, str] = {"logreg": "Logistic Regression", "mlp": "2 Layer Wine Net"}

# Mistake -> {model: the one block it lands in}. A model missing from the inner dict does not
# have that mistake. "unanchored" exists only in the cells style (an array formula has no
# fill-right); "transposed" only in the arrays style (MMULT with its operands swapped: the 3xF
# result is entered into the Fx3 block, so its top 3x3 is the transpose and the rest #N/A).
# "shifted_softmax" is the book author's own softmax: A2 reads z2 one column to its right
# (AR:AT, z2 being AQ:AS; AT is blank), in AU3 =EXP(AR3)/(SUM(EXP(AR3:AT3))). It is planted on
# the mlp sheet only, where the author had it (the author's logreg softmax was right), so that
# AUTHORS plants the author's file and nothing more.
MISTAKES: dict[str, dict[str, str]] = {
    "log": {"logreg": "Sample Loss", "mlp": "Sample Loss"},
    "unanchored": {"logreg": "A1", "mlp": "A2"},
    "shifted_softmax": {"mlp": "A2"},
    "dz2_from_a1": {"mlp": "dZ2"},
    "tanh_deriv_z": {"mlp": "dz1"},
    "missing_n": {"logreg": "dW1", "mlp": "dW1"},
    "wrong_sign": {"logreg": "New W1", "mlp": "New W1"},
    "pasted": {"logreg": "Z1", "mlp": "Z1"},
    "error": {"logreg": "db1", "mlp": "db1"},
    "blank": {"logreg": "New b1", "mlp": "New b1"},
    "transposed": {"logreg": "dW1", "mlp": "dW1"},
}
CELLS_ONLY = frozenset({"unanchored"})
ARRAYS_ONLY = frozenset({"transposed"})
# The mistakes an expert finds in the book author's own filled-in sheet: four blocks, since
# "log" lands in the Sample Loss of both sheets (with dZ2 from A1 and the shifted softmax on
# the mlp sheet). fill(mistake=AUTHORS) plants all of them.
AUTHORS: tuple[str, ...] = ("log", "dz2_from_a1", "shifted_softmax")

STYLES = ("cells", "arrays")
BIASES = ("scalar", "vector")
LOSSES = ("column", "per_class")
WEIGHTS = ("values", "rand")

N_SAMPLES = 178
N_FEATURES = 13
N_CLASSES = 3
HIDDEN = 5
FIRST_ROW = 3  # 1-based row of the first sample (row 2 holds the headers)
LR_CELL, N_CELL = "B1", "E1"

# Top-left cell of every block, per model, in dependency order (inputs first).
_TOP_LEFT: dict[str, dict[str, str]] = {
    "logreg": {
        "X": "A3",
        "targets": "AD3",
        "W1": "P3",
        "b1": "T3",
        "Z1": "V3",
        "A1": "Z3",
        "Sample Loss": "AH3",
        "Total Loss": "AL3",
        "dZ1": "AN3",
        "dW1": "AS3",
        "db1": "AW3",
        "New W1": "AZ3",
        "New b1": "BD3",
    },
    "mlp": {
        "X": "A3",
        "W1": "P3",
        "b1": "V3",
        "W2": "AK3",
        "b2": "AO3",
        "targets": "AY3",
        "Z1": "X3",
        "A1": "AD3",
        "z2": "AQ3",
        "A2": "AU3",
        "Sample Loss": "BC3",
        "Total Loss": "BG3",
        "dZ2": "BI3",
        "dW2": "BN3",
        "db2": "BR3",
        "dz1": "BT3",
        "dW1": "CA3",
        "db1": "CG3",
        "New W2": "CI3",
        "New b2": "CM3",
        "New W1": "CO3",
        "New b1": "CU3",
    },
}
# Blocks given as values in the template: not filled, not part of `blocks()`.
_GIVEN = {"logreg": ("X", "targets"), "mlp": ("X",)}

# The same options fill the template the same way: each is filled once per test process and
# its bytes written again when asked for again.
_FILLED: dict[tuple, bytes] = {}


@dataclass(frozen=True)
class Rect:
    """A block of cells: 1-based top-left row and column, and its size."""

    row: int
    col: int
    nrows: int
    ncols: int

    @classmethod
    def at(cls, top_left: str, nrows: int, ncols: int) -> Rect:
        m = re.fullmatch(r"([A-Z]+)([0-9]+)", top_left)
        assert m, top_left
        return cls(int(m[2]), column_index_from_string(m[1]), nrows, ncols)

    def cell(self, i: int, j: int, row_abs: bool = False, col_abs: bool = False) -> str:
        """Cell (i, j) of the block, 0-based inside it."""
        c = ("$" if col_abs else "") + get_column_letter(self.col + j)
        return c + ("$" if row_abs else "") + str(self.row + i)

    def span(
        self, i0: int, j0: int, i1: int, j1: int, row_abs: bool = False, col_abs: bool = False
    ) -> str:
        """The range from cell (i0, j0) to cell (i1, j1) of the block (may reach outside it)."""
        return f"{self.cell(i0, j0, row_abs, col_abs)}:{self.cell(i1, j1, row_abs, col_abs)}"

    def whole(self, absolute: bool = False) -> str:
        if self.nrows == self.ncols == 1:
            return self.cell(0, 0, absolute, absolute)
        return self.span(0, 0, self.nrows - 1, self.ncols - 1, absolute, absolute)

    def row_range(self, i: int, col_abs: bool = True) -> str:
        """Row i across the block, columns anchored ($A3:$M3) unless told otherwise."""
        return self.span(i, 0, i, self.ncols - 1, col_abs=col_abs)

    def col_range(self, j: int) -> str:
        """Column j down the block, rows anchored (P$3:P$15)."""
        return self.span(0, j, self.nrows - 1, j, row_abs=True)

    @property
    def ref(self) -> str:
        return self.whole()


def shapes(model: str, bias: str = "scalar", loss: str = "column") -> dict[str, tuple[int, int]]:
    """(rows, cols) of every block of `model`, inputs included, in dependency order."""
    n, f, k, h = N_SAMPLES, N_FEATURES, N_CLASSES, HIDDEN
    vec = bias == "vector"
    loss_cols = k if loss == "per_class" else 1
    if model == "logreg":
        return {
            "X": (n, f),
            "targets": (n, k),
            "W1": (f, k),
            "b1": (k if vec else 1, 1),
            "Z1": (n, k),
            "A1": (n, k),
            "Sample Loss": (n, loss_cols),
            "Total Loss": (1, 1),
            "dZ1": (n, k),
            "dW1": (f, k),
            "db1": (k if vec else 1, 1),
            "New W1": (f, k),
            "New b1": (k if vec else 1, 1),
        }
    if model == "mlp":
        return {
            "X": (n, f),
            "W1": (f, h),
            "b1": (h if vec else 1, 1),
            "W2": (h, k),
            "b2": (k if vec else 1, 1),
            "targets": (n, k),
            "Z1": (n, h),
            "A1": (n, h),
            "z2": (n, k),
            "A2": (n, k),
            "Sample Loss": (n, loss_cols),
            "Total Loss": (1, 1),
            "dZ2": (n, k),
            "dW2": (h, k),
            "db2": (k if vec else 1, 1),
            "dz1": (n, h),
            "dW1": (f, h),
            "db1": (h if vec else 1, 1),
            "New W2": (h, k),
            "New b2": (k if vec else 1, 1),
            "New W1": (f, h),
            "New b1": (h if vec else 1, 1),
        }
    raise ValueError(f"unknown model {model!r}; expected one of {sorted(SHEETS)}")


def rects(model: str, bias: str = "scalar", loss: str = "column") -> dict[str, Rect]:
    """Every block of `model` (the given inputs X and, on logreg, targets too) as a Rect."""
    return {
        name: Rect.at(_TOP_LEFT[model][name], *shape)
        for name, shape in shapes(model, bias, loss).items()
    }


def blocks(model: str, bias: str = "scalar", loss: str = "column") -> dict[str, str]:
    """The blocks `fill` writes on `model`'s sheet, name -> A1 range, in dependency order."""
    return {
        name: r.ref for name, r in rects(model, bias, loss).items() if name not in _GIVEN[model]
    }


class _Writer:
    """Writes one block at a time: a formula per cell, or one array formula per block."""

    def __init__(self, ws, style: str) -> None:
        self.ws = ws
        self.style = style

    def block(self, r: Rect, per_cell: Callable[[int, int], str], array: str) -> None:
        """`per_cell(i, j)` and `array` are formula texts without the leading "="; a 1x1 block
        is always a plain formula (from `per_cell`)."""
        if self.style == "arrays" and (r.nrows, r.ncols) != (1, 1):
            self.ws[r.cell(0, 0)] = ArrayFormula(r.ref, "=" + array)
            return
        for i in range(r.nrows):
            for j in range(r.ncols):
                self.ws[r.cell(i, j)] = "=" + per_cell(i, j)

    def values(self, r: Rect, values: np.ndarray) -> None:
        for i in range(r.nrows):
            for j in range(r.ncols):
                self.ws[r.cell(i, j)] = float(values[i, j])

    def rand(self, r: Rect) -> None:
        for i in range(r.nrows):
            for j in range(r.ncols):
                self.ws[r.cell(i, j)] = "=RAND()-0.5"


def _ones(k: int) -> str:
    """A kx1 array constant of ones: MMULT(M, ones) sums the rows of M."""
    return "{" + ";".join(["1"] * k) + "}"


def _block_values(ws, r: Rect) -> np.ndarray:
    """The entered values of a block, as openpyxl holds them (formulas are their text)."""
    return np.array([[ws[r.cell(i, j)].value for j in range(r.ncols)] for i in range(r.nrows)])


def _read_x(ws) -> np.ndarray:
    """The template's normalised features (A3:M180) as a NumPy array."""
    return _block_values(ws, Rect.at("A3", N_SAMPLES, N_FEATURES)).astype(float)


class _Model:
    """The formulas of one sheet; `m(name)` is the planted mistake that lands in block `name`
    (fill refuses two in one block), or None."""

    def __init__(
        self, ws, model: str, style: str, mistakes: tuple[str, ...], bias: str, loss: str
    ) -> None:
        self.ws, self.model, self.bias, self.loss = ws, model, bias, loss
        self.w = _Writer(ws, style)
        self.r = rects(model, bias, loss)
        self.planted = {MISTAKES[m][model]: m for m in mistakes if model in MISTAKES[m]}
        self.n = f"${N_CELL[0]}${N_CELL[1:]}"  # $E$1
        self.lr = f"${LR_CELL[0]}${LR_CELL[1:]}"  # $B$1

    def m(self, name: str) -> str | None:
        return self.planted.get(name)

    def weights(self, names: Iterable[str], how: str, rng: np.random.Generator) -> None:
        for name in names:
            r = self.r[name]
            if how == "rand":
                self.w.rand(r)
            else:
                # 12 decimals survive openpyxl's "%.16g" number format exactly.
                self.w.values(r, np.round(rng.uniform(-0.5, 0.5, size=(r.nrows, r.ncols)), 12))

    # --- forward ------------------------------------------------------------------------

    def affine(self, out: str, x: str, w: str, b: str, by_index: bool) -> None:
        """out = x . w + b, per cell MMULT(row i of x, column j of w) + b: a 1xF row times an
        Fx1 column (SUMPRODUCT of a row and a column is #VALUE!, their shapes differ). A vector
        bias b_j is added to column j: INDEX(b, j) per cell when `by_index`, else the explicit
        cell; TRANSPOSE(b), a row broadcast down the rows, in an array formula."""
        o, xr, wr, br = self.r[out], self.r[x], self.r[w], self.r[b]
        if self.m(out) == "pasted":  # the right numbers, typed in as values
            xv = _read_x(self.ws) if x == "X" else None
            if xv is None:
                raise ValueError("pasted values are written only for a block computed from X")
            wv = _block_values(self.ws, wr)
            bv = _block_values(self.ws, br)[:, 0]
            if wv.dtype.kind != "f" or bv.dtype.kind != "f":
                raise ValueError('the "pasted" mistake needs weights="values"')
            self.w.values(o, xv @ wv + bv[None, :])
            return

        def bias_term(j: int) -> str:
            if br.nrows == 1:
                return br.cell(0, 0, True, True)
            if by_index:
                return f"INDEX({br.whole(True)},{j + 1})"
            return br.cell(j, 0, True, True)

        def cell(i: int, j: int) -> str:
            return f"MMULT({xr.row_range(i)},{wr.col_range(j)})+{bias_term(j)}"

        b_arr = br.whole() if br.nrows == 1 else f"TRANSPOSE({br.whole()})"
        self.w.block(o, cell, f"MMULT({xr.whole()},{wr.whole()})+{b_arr}")

    def tanh(self, out: str, z: str) -> None:
        o, zr = self.r[out], self.r[z]
        self.w.block(o, lambda i, j: f"TANH({zr.cell(i, j)})", f"TANH({zr.whole()})")

    def softmax(self, out: str, z: str) -> None:
        o, zr = self.r[out], self.r[z]
        k = zr.ncols
        if self.m(out) == "shifted_softmax":  # Z's shape, one column to its right
            zr = Rect(zr.row, zr.col + 1, zr.nrows, zr.ncols)

        def cell(i: int, j: int) -> str:
            # "unanchored": the row range slides right as the formula is filled right.
            unanchored = self.m(out) == "unanchored"
            row = zr.span(i, j, i, j + k - 1) if unanchored else zr.row_range(i)
            return f"EXP({zr.cell(i, j)})/SUMPRODUCT(EXP({row}))"

        e = f"EXP({zr.whole()})"
        self.w.block(o, cell, f"{e}/MMULT({e},{_ones(k)})")

    def targets(self, out: str) -> None:
        """The one-hot targets from the Data sheet (P3:R180)."""
        o = self.r[out]
        data = Rect.at("P3", o.nrows, o.ncols)
        self.w.block(o, lambda i, j: f"Data!{data.cell(i, j)}", f"Data!{data.whole()}")

    def sample_loss(self, out: str, y: str, a: str) -> None:
        o, yr, ar = self.r[out], self.r[y], self.r[a]
        ln = "LOG" if self.m(out) == "log" else "LN"
        if self.loss == "per_class":
            self.w.block(
                o,
                lambda i, j: f"-{yr.cell(i, j)}*{ln}({ar.cell(i, j)})",
                f"-{yr.whole()}*{ln}({ar.whole()})",
            )
        else:
            self.w.block(
                o,
                lambda i, j: (
                    f"-SUMPRODUCT({yr.row_range(i, False)},{ln}({ar.row_range(i, False)}))"
                ),
                f"-MMULT({yr.whole()}*{ln}({ar.whole()}),{_ones(yr.ncols)})",
            )

    def total_loss(self, out: str, loss: str) -> None:
        lr = self.r[loss]
        self.w.block(self.r[out], lambda i, j: f"SUM({lr.whole()})/{self.n}", "")

    # --- backward -----------------------------------------------------------------------

    def output_delta(self, out: str, a: str, y: str) -> None:
        """dZ = A - Y; the "dz2_from_a1" mistake reads A1 (its first K columns) instead."""
        o, ar, yr = self.r[out], self.r[a], self.r[y]
        if self.m(out) == "dz2_from_a1":
            ar = Rect(self.r["A1"].row, self.r["A1"].col, ar.nrows, ar.ncols)
        self.w.block(
            o, lambda i, j: f"{ar.cell(i, j)}-{yr.cell(i, j)}", f"{ar.whole()}-{yr.whole()}"
        )

    def grad_w(self, out: str, x: str, dz: str) -> None:
        """dW = X' dZ / N, per cell SUMPRODUCT(X column i, dZ column j) / N."""
        o, xr, dzr = self.r[out], self.r[x], self.r[dz]
        wrong = self.m(out)
        div_cell = "" if wrong == "missing_n" else f"/{self.n}"
        div_arr = "" if wrong == "missing_n" else f"/{N_CELL}"
        if wrong == "transposed":
            array = f"MMULT(TRANSPOSE({dzr.whole()}),{xr.whole()}){div_arr}"
        else:
            array = f"MMULT(TRANSPOSE({xr.whole()}),{dzr.whole()}){div_arr}"
        self.w.block(
            o, lambda i, j: f"SUMPRODUCT({xr.col_range(i)},{dzr.col_range(j)}){div_cell}", array
        )

    def grad_b(self, out: str, dz: str) -> None:
        """db = SUM(dZ) / N for a scalar bias; the column sums of dZ / N for a vector bias."""
        o, dzr = self.r[out], self.r[dz]
        # "error": the formula also adds the block's header text, which is #VALUE!.
        bad = f"+{get_column_letter(o.col)}${o.row - 1}" if self.m(out) == "error" else ""
        if o.nrows == 1:
            self.w.block(o, lambda i, j: f"SUM({dzr.whole()})/{self.n}{bad}", "")
        else:
            ones = f"{dzr.span(0, 0, dzr.nrows - 1, 0)}*0+1"
            self.w.block(
                o,
                lambda i, j: f"SUM({dzr.col_range(i)})/{self.n}{bad}",
                f"MMULT(TRANSPOSE({dzr.whole()}),{ones})/{N_CELL}{bad}",
            )

    def hidden_delta(self, out: str, dz2: str, w2: str, a1: str) -> None:
        """dz1 = (dZ2 . W2') * (1 - A1^2); "tanh_deriv_z" uses 1 - Z1^2."""
        o, dr, wr = self.r[out], self.r[dz2], self.r[w2]
        act = self.r["Z1"] if self.m(out) == "tanh_deriv_z" else self.r[a1]
        self.w.block(
            o,
            lambda i, j: (
                f"SUMPRODUCT({dr.row_range(i)},{wr.span(j, 0, j, wr.ncols - 1, True, True)})"
                f"*(1-{act.cell(i, j)}^2)"
            ),
            f"MMULT({dr.whole()},TRANSPOSE({wr.whole()}))*(1-{act.whole()}^2)",
        )

    def update(self, out: str, w: str, dw: str) -> None:
        """New W = W - lr * dW; "wrong_sign" adds, "blank" leaves the block empty."""
        o, wr, dr = self.r[out], self.r[w], self.r[dw]
        if self.m(out) == "blank":
            return
        sign = "+" if self.m(out) == "wrong_sign" else "-"
        self.w.block(
            o,
            lambda i, j: f"{wr.cell(i, j)}{sign}{self.lr}*{dr.cell(i, j)}",
            f"{wr.whole()}{sign}{LR_CELL}*{dr.whole()}",
        )


def _fill_logreg(s: _Model, weights: str, rng: np.random.Generator) -> None:
    s.weights(("W1", "b1"), weights, rng)
    s.affine("Z1", "X", "W1", "b1", by_index=False)
    s.softmax("A1", "Z1")
    s.sample_loss("Sample Loss", "targets", "A1")
    s.total_loss("Total Loss", "Sample Loss")
    s.output_delta("dZ1", "A1", "targets")
    s.grad_w("dW1", "X", "dZ1")
    s.grad_b("db1", "dZ1")
    s.update("New W1", "W1", "dW1")
    s.update("New b1", "b1", "db1")


def _fill_mlp(s: _Model, weights: str, rng: np.random.Generator) -> None:
    s.weights(("W1", "b1", "W2", "b2"), weights, rng)
    s.targets("targets")
    s.affine("Z1", "X", "W1", "b1", by_index=True)
    s.tanh("A1", "Z1")
    s.affine("z2", "A1", "W2", "b2", by_index=True)
    s.softmax("A2", "z2")
    s.sample_loss("Sample Loss", "targets", "A2")
    s.total_loss("Total Loss", "Sample Loss")
    s.output_delta("dZ2", "A2", "targets")
    s.grad_w("dW2", "A1", "dZ2")
    s.grad_b("db2", "dZ2")
    s.hidden_delta("dz1", "dZ2", "W2", "A1")
    s.grad_w("dW1", "X", "dz1")
    s.grad_b("db1", "dz1")
    s.update("New W2", "W2", "dW2")
    s.update("New b2", "b2", "db2")
    s.update("New W1", "W1", "dW1")
    s.update("New b1", "b1", "db1")


def _check(options: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    for what, (value, allowed) in options.items():
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; expected one of {list(allowed)}")


def _mistakes(
    mistake: str | Iterable[str] | None, models: tuple[str, ...], style: str, weights: str
) -> tuple[str, ...]:
    """The mistakes to plant, sorted (their order changes nothing in the file); ValueError for
    one that cannot be planted in this fill, or two that would land in one block."""
    names = () if mistake is None else (mistake,) if isinstance(mistake, str) else tuple(mistake)
    for name in names:
        _check({"mistake": (name, tuple(MISTAKES))})
        if not set(models) & set(MISTAKES[name]):
            raise ValueError(f"mistake {name!r} exists only on {sorted(MISTAKES[name])}")
        if style == "arrays" and name in CELLS_ONLY:
            raise ValueError(f"mistake {name!r} exists only in the cells style")
        if style == "cells" and name in ARRAYS_ONLY:
            raise ValueError(f"mistake {name!r} exists only in the arrays style")
        if name == "pasted" and weights != "values":
            raise ValueError('the "pasted" mistake needs weights="values"')
    for model in models:
        landed: dict[str, str] = {}
        for name in names:
            block = MISTAKES[name].get(model)
            if block is None:
                continue
            if block in landed:
                raise ValueError(
                    f"mistakes {landed[block]!r} and {name!r} both land in {model} {block}"
                )
            landed[block] = name
    return tuple(sorted(names))


def fill(
    dst: Path,
    models: Iterable[str] = ("logreg", "mlp"),
    style: str = "cells",
    mistake: str | Iterable[str] | None = None,
    bias: str = "scalar",
    loss: str = "column",
    weights: str = "values",
    seed: int = 0,
    template: Path = KLAAS,
) -> Path:
    """Fill a copy of the exercise template and save it as `dst`; returns `dst`.

    models: the sheets to fill ("logreg", "mlp"); the others stay blank.
    style: "cells" (one formula per cell) or "arrays" (one CSE array formula per block;
        scalars stay plain formulas).
    mistake: None, a key of MISTAKES, or several keys (a tuple, e.g. AUTHORS): each planted in
        the block MISTAKES names, on every model in `models` that has it (ValueError if none
        has it, if the style cannot show it, or if two land in the same block of a model).
    bias: "scalar" (one bias per layer in the block's top cell) or "vector" (one per class or
        hidden unit down the column, added to the matching column of Z).
    loss: "column" (Sample Loss one column) or "per_class" (-Y*LN(A), one column per class).
    weights: "values" (uniform in [-0.5, 0.5] from numpy.random.default_rng(seed), rounded to
        12 decimals, drawn afresh per sheet: W1, b1, then W2, b2) or "rand" (=RAND()-0.5
        formulas, which have values only once a spreadsheet application recalculates).

    openpyxl saves every number with 16 significant digits ("%.16g"), so the template's
    17-digit features come back changed in the last digit (relative error < 1e-15).
    """
    models = tuple(models)
    for model in models:
        _check({"model": (model, tuple(SHEETS))})
    _check(
        {
            "style": (style, STYLES),
            "bias": (bias, BIASES),
            "loss": (loss, LOSSES),
            "weights": (weights, WEIGHTS),
        }
    )
    mistakes = _mistakes(mistake, models, style, weights)
    dst = Path(dst)
    # "log", ("log",) and a tuple in another order fill the same file: one key.
    key = (models, style, mistakes, bias, loss, weights, seed)
    if template == KLAAS and key in _FILLED:
        dst.write_bytes(_FILLED[key])
        return dst
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(template)
    for model in models:
        sheet = _Model(wb[SHEETS[model]], model, style, mistakes, bias, loss)
        rng = np.random.default_rng(seed)
        (_fill_logreg if model == "logreg" else _fill_mlp)(sheet, weights, rng)
    wb.save(dst)
    if template == KLAAS:
        _FILLED[key] = dst.read_bytes()
    return dst


# --- Excel 365 dynamic arrays ---------------------------------------------------------------

# What Excel writes for spilled formulas (XlsxWriter writes it byte for byte the same way):
# one XLDAPR metadata type, one future-metadata record with fDynamic="1", and cell metadata
# record 1 (cm="1" on a <c> is a 1-based index into <cellMetadata>) pointing at it.
METADATA_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<metadata xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:xda="http://schemas.microsoft.com/office/spreadsheetml/2017/dynamicarray">'
    '<metadataTypes count="1"><metadataType name="XLDAPR" minSupportedVersion="120000" '
    'copy="1" pasteAll="1" pasteValues="1" merge="1" splitFirst="1" rowColShift="1" '
    'clearFormats="1" clearComments="1" assign="1" coerce="1" cellMeta="1"/></metadataTypes>'
    '<futureMetadata name="XLDAPR" count="1"><bk><extLst>'
    '<ext uri="{bdbb8cdc-fa1e-496e-a857-3c3f30c029c3}">'
    '<xda:dynamicArrayProperties fDynamic="1" fCollapsed="0"/></ext></extLst></bk>'
    '</futureMetadata><cellMetadata count="1"><bk><rc t="1" v="0"/></bk></cellMetadata>'
    "</metadata>"
)
_METADATA_PART = "xl/metadata.xml"
_METADATA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheetMetadata+xml"
_METADATA_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sheetMetadata"
_ARRAY_CELL = re.compile(r'<c\b([^>]*)>(\s*<f\b[^>]*\bt="array")')


def _mark_spilled(xml: str) -> tuple[str, int]:
    def add_cm(m: re.Match) -> str:
        attrs = m[1]
        if re.search(r"\bcm=", attrs):
            return m[0]
        attrs = attrs[:-1] + ' cm="1"/' if attrs.endswith("/") else attrs + ' cm="1"'
        return f"<c{attrs}>{m[2]}"

    return _ARRAY_CELL.subn(add_cm, xml)


def _add_relationship(rels: str) -> str:
    ids = {int(i) for i in re.findall(r'Id="rId([0-9]+)"', rels)}
    rid = f"rId{max(ids, default=0) + 1}"
    rel = f'<Relationship Id="{rid}" Type="{_METADATA_REL}" Target="metadata.xml"/>'
    return rels.replace("</Relationships>", rel + "</Relationships>")


def _add_override(types: str) -> str:
    override = f'<Override PartName="/{_METADATA_PART}" ContentType="{_METADATA_TYPE}"/>'
    return types.replace("</Types>", override + "</Types>")


def as_spilled(src: Path, dst: Path) -> Path:
    """Copy `src` to `dst` with every array formula marked as an Excel 365 dynamic array.

    Each anchor `<c>` of an `<f t="array" ref=...>` gets `cm="1"` (the formula and its ref are
    kept); `xl/metadata.xml` (XLDAPR, fDynamic="1"), its content-type override and its
    workbook relationship are added. Zip/XML level only. Returns `dst`.
    """
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(src) as zin:
        names = zin.namelist()
        if _METADATA_PART in names:
            raise ValueError(f"{src} already has {_METADATA_PART}")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                name = item.filename
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    data = _mark_spilled(data.decode("utf-8"))[0].encode("utf-8")
                elif name == "xl/_rels/workbook.xml.rels":
                    data = _add_relationship(data.decode("utf-8")).encode("utf-8")
                elif name == "[Content_Types].xml":
                    data = _add_override(data.decode("utf-8")).encode("utf-8")
                zout.writestr(item, data)
            zout.writestr(_METADATA_PART, METADATA_XML)
    shutil.move(tmp, dst)
    return dst
