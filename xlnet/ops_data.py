"""The data preparation (z-scores, one-hot targets), written cell by cell in every layout, each
step with its NumPy form and formula side by side (as ops.py describes) and its registry entry."""

from __future__ import annotations

import numpy as np

from .block import Block
from .operation import Op
from .scalars import Env


def _c_col_mean(i: int, j: int, here: str, raw: Block) -> str:
    return f"AVERAGE({raw.col_range(j, here)})"


def _c_col_std(i: int, j: int, here: str, raw: Block) -> str:
    return f"_xlfn.STDEV.P({raw.col_range(j, here)})"


def _c_zscore(i: int, j: int, here: str, raw: Block, mean: Block, std: Block) -> str:
    m, s = mean.ref(0, j, here, row_abs=True), std.ref(0, j, here, row_abs=True)
    return f"({raw.ref(i, j, here)}-{m})/{s}"


def _np_onehot(env: Env, label: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return (label == classes).astype(float)


def _c_onehot(i: int, j: int, here: str, label: Block, classes: Block) -> str:
    lab = label.ref(i, 0, here, col_abs=True)
    return f"IF({lab}={classes.ref(0, j, here, row_abs=True)},1,0)"


PREPARATION = (
    Op("col_mean", "mean of each raw column", lambda env, r: r.mean(axis=0, keepdims=True),
       _c_col_mean),
    Op("col_std", "population standard deviation of each raw column",
       lambda env, r: r.std(axis=0, keepdims=True), _c_col_std),
    Op("zscore", "X = (raw - mean) / std", lambda env, r, m, s: (r - m) / s, _c_zscore),
    Op("onehot", "Y = 1 where the label is the class, else 0", _np_onehot, _c_onehot,
       whole=True, exact=True),
)  # fmt: skip
