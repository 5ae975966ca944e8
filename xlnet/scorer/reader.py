"""Reads a scorer workbook back: the model its Model sheet holds, as entered, and its layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..run import as_whole, block_numbers
from ..spec import MAX_SCORER_ROWS, Spec, SpecError, parse_hidden
from ..xlsxio import BookError, read_book
from .layout import (
    CLASS_ROW,
    INFO_ROWS,
    INFO_TOP,
    MODEL,
    SCORE,
    SCORE_TOP,
    ScorerLayout,
)
from .model import Scorer, ScorerError


def read_scorer(path: str | Path) -> Scorer:
    """The model a scorer workbook holds: its Model sheet's numbers, as entered."""
    return open_scorer(path)[0]


def open_scorer(path: str | Path) -> tuple[Scorer, ScorerLayout]:
    """The model a scorer workbook holds and where its blocks sit."""
    path = Path(path)
    try:
        book = read_book(path)
        model, score = book.sheet(MODEL).values, book.sheet(SCORE).values
    except BookError as exc:
        raise ScorerError(str(exc)) from None
    info = {key: model.get((INFO_TOP + i, 1)) for i, (key, _) in enumerate(INFO_ROWS)}

    def whole(key: str) -> int:
        v = as_whole(info[key], 1)
        if v is None:
            raise ScorerError(f"{path}: not an xlnet scorer ({MODEL} {key} is {info[key]!r})")
        return v

    try:
        # A logistic regressor's hidden layers and activation read "-": Spec's defaults stand.
        net: dict[str, Any] = {}
        if info["model"] == "mlp":
            net = {
                "hidden": parse_hidden(str(info["hidden"])),
                "activation": str(info["activation"]),
            }
        spec = Spec(model=str(info["model"]), output=str(info["output"]), **net)
    except SpecError as exc:
        raise ScorerError(f"{path}: not an xlnet scorer ({exc})") from None
    f, k, rows = whole("features"), whole("classes"), whole("rows")
    if rows > MAX_SCORER_ROWS:
        raise ScorerError(f"{path}: not an xlnet scorer ({rows} input rows)")
    named = any(isinstance(model.get((CLASS_ROW + 1, 1 + j)), str) for j in range(k))
    lay = ScorerLayout(spec, f, k, rows, named)

    def numbers(name: str) -> np.ndarray:
        try:
            return block_numbers(book, lay.blocks[name], name)
        except BookError as exc:
            raise ScorerError(str(exc)) from None

    head = SCORE_TOP - 1
    names = tuple(str(model.get((CLASS_ROW + 1, 1 + j))) for j in range(k))
    scorer = Scorer(
        spec=spec,
        weights={p: numbers(p) for p in lay.params},
        mean=numbers("Mean"),
        std=numbers("Std"),
        classes=tuple(float(c) for c in numbers("Classes")[0]),
        feature_names=tuple(str(score.get((head, j), f"x{j + 1}")) for j in range(f)),
        target_name=str(info["target"]),
        class_names=names if named else None,
        source=str(info["source"]),
    )
    return scorer, lay
