"""One worksheet's cells as read (`Cells`), and a cell's address and value read from their XML
text: an address inside Excel's grid, a <v> decoded by the cell's type."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from . import a1
from .a1 import MAX_COLS, MAX_ROWS
from .xmlstream import PartError, xstring

_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


@dataclass
class Cells:
    """One sheet's cells as read: entered values, formulas, array formulas, cached values."""

    values: dict[tuple[int, int], object] = field(default_factory=dict)
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)
    arrays: dict[tuple[int, int], tuple[str, int, int]] = field(default_factory=dict)
    cached: dict[tuple[int, int], object] = field(default_factory=dict)  # of formula cells


def parse_ref(ref: str) -> tuple[int, int, int, int]:
    """'B3:D7' (or 'B3') -> r0, c0, r1, c1, 0-based and inclusive, within Excel's grid."""
    parts = ref.split(":")
    if len(parts) > 2:
        raise PartError(f"an unreadable range {ref!r}")
    ends = [cell_at(p, ref) for p in parts]
    (r0, c0), (r1, c1) = ends[0], ends[-1]
    return min(r0, r1), min(c0, c1), max(r0, r1), max(c0, c1)


def cell_at(text: str, whole: str) -> tuple[int, int]:
    """'B3' (or '$B$3') -> 0-based row, column within Excel's grid; `whole` is the address
    or range `text` is part of, for the message."""
    m = _CELL_REF.fullmatch(text.strip())
    if not m:
        raise PartError(f"an unreadable cell address {whole!r}")
    r, c = int(m[2]) - 1, a1.col_index(m[1].upper())
    if not (0 <= r < MAX_ROWS and 0 <= c < MAX_COLS):
        raise PartError(f"a cell address {whole!r} beyond Excel's 1,048,576 rows x XFD")
    return r, c


def cell_value(kind: str, text: str, strings: list[str]) -> object:
    """The value a <v> holds in a cell of type `kind` (its t attribute); None for an empty
    one, a blank cell. ValueError says why a text is not a value of its type."""
    if kind != "str" and kind != "s" and not text.strip():
        return None
    try:
        if kind == "n":
            return float(text) if ("." in text or "e" in text or "E" in text) else int(text)
        if kind == "s":
            return strings[int(text)]
        if kind in ("str", "inlineStr"):
            return xstring(text)
        if kind == "b":
            return bool(int(text))
        if kind == "e":
            return text.strip()
        if kind == "d":
            stamp = dt.datetime.fromisoformat(text.strip())
            return (stamp - _EXCEL_EPOCH).total_seconds() / 86400
    except (ValueError, IndexError, OverflowError):
        pass
    raise ValueError(f"{text[:40]!r}, which is not a value of type {kind!r}")
