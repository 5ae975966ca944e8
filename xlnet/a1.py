"""A1 cell addressing: pure functions between (row, col) indices and "A1" text."""

from __future__ import annotations

import re

MAX_ROWS = 1_048_576
MAX_COLS = 16_384

_CELL = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d+)$")


def col_letters(col: int) -> str:
    """0-based column index -> letters (0 -> A, 25 -> Z, 26 -> AA)."""
    if not 0 <= col < MAX_COLS:
        raise ValueError(f"column index {col} is outside the sheet")
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """Column letters -> 0-based index (A -> 0)."""
    n = 0
    for ch in letters.upper():
        if not "A" <= ch <= "Z":
            raise ValueError(f"not a column: {letters!r}")
        n = n * 26 + ord(ch) - 64
    return n - 1


def cell(row: int, col: int, row_abs: bool = False, col_abs: bool = False) -> str:
    """0-based (row, col) -> "A1", with optional $ anchors."""
    if not 0 <= row < MAX_ROWS:
        raise ValueError(f"row index {row} is outside the sheet")
    return f"{'$' if col_abs else ''}{col_letters(col)}{'$' if row_abs else ''}{row + 1}"


def parse_cell(text: str) -> tuple[int, int]:
    """ "$B$3" or "B3" -> 0-based (row, col)."""
    m = _CELL.match(text)
    if not m:
        raise ValueError(f"not a cell reference: {text!r}")
    return int(m.group(2)) - 1, col_index(m.group(1))


def quote_sheet(sheet: str) -> str:
    """Sheet name as it must appear before "!" in a formula."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sheet) and not _CELL.match(sheet):
        return sheet
    return "'" + sheet.replace("'", "''") + "'"
