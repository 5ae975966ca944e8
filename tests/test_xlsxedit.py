"""openpyxl behind xlsxedit: number formats read, a copy edited cell by cell, formulas moved."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from xlnet.template import load_template
from xlnet.xlsxedit import edited_copy, moved_formula, row_formats
from xlnet.xlsxio import read_book


def _book(path: Path) -> Path:
    """Two sheets: numbers with and without formats, text, a formula."""
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Data")
    ws.write_number(0, 1, 1, wb.add_format({"num_format": '"setosa"'}))
    ws.write_number(0, 2, 2, wb.add_format({"num_format": "0.00%"}))
    ws.write_number(0, 3, 3)
    ws.write_string(1, 0, "kept")
    ws.write_formula(2, 0, "=B1+C1", None, 3)
    wb.add_worksheet("Other").write_number(0, 0, 7)
    wb.close()
    return path


def test_row_formats(tmp_path):
    path = _book(tmp_path / "formats.xlsx")
    assert row_formats(path, "Data", 0, 1, 3) == ['"setosa"', "0.00%", "General"]
    assert row_formats(path, "Data", 0, 0, 1) == [""]  # a cell never written
    assert row_formats(path, "Data", 10, 0, 2) == []  # below the sheet's last row


def test_edited_copy_enters_values_and_adds_a_sheet(tmp_path):
    src = _book(tmp_path / "src.xlsx")
    before = src.read_bytes()
    dst = tmp_path / "dst.xlsx"
    with edited_copy(src, dst) as book:
        assert book.sheet_names == ["Data", "Other"]
        book.enter("Data", {(0, 1): 10.5, (0, 3): None, (4, 2): "new"})
        book.add_sheet("Student", [("Student", "Ada"), ("Seed", 7)])
    assert src.read_bytes() == before
    got = read_book(dst)
    assert list(got.sheets) == ["Data", "Other", "Student"]
    data = got.sheet("Data")
    assert data.values[(0, 1)] == 10.5 and (0, 3) not in data.values
    assert data.values[(4, 2)] == "new" and data.values[(1, 0)] == "kept"
    assert data.formulas[(2, 0)] == "=B1+C1"
    assert got.sheet("Other").values[(0, 0)] == 7
    assert got.sheet("Student").values == {(0, 0): "Student", (0, 1): "Ada", (1, 0): "Seed",
                                           (1, 1): 7}  # fmt: skip


def test_edited_copy_saves_nothing_after_an_error(tmp_path):
    src, dst = _book(tmp_path / "src.xlsx"), tmp_path / "dst.xlsx"
    with pytest.raises(KeyError), edited_copy(src, dst) as book:
        book.enter("No such sheet", {(0, 0): 1.0})
    assert not dst.exists()


def test_edited_copy_of_the_books_sheet(tmp_path):
    # As a per-student copy of a template's workbook is made (exercises.py).
    template = load_template("klaas-ch1")
    sheet = template.sheets[0]
    dst = tmp_path / "copy.xlsx"
    with edited_copy(template.source, dst) as book:
        assert sheet.name in book.sheet_names
        book.enter(sheet.name, {(sheet.lr.row, sheet.lr.col): 0.25})
    assert read_book(dst).sheet(sheet.name).values[(sheet.lr.row, sheet.lr.col)] == 0.25


@pytest.mark.parametrize(
    "text, origin, dest, moved",
    [
        ("A1+B2", (0, 0), (2, 3), "D3+E4"),
        ("$A$1*B$2+$C3", (0, 0), (1, 1), "$A$1*C$2+$C4"),
        ("SUM(A1:B2)/Data!C3", (4, 4), (5, 4), "SUM(A2:B3)/Data!C4"),
        ("EXP(X5-MAX($X5:$Z5))", (4, 23), (9, 24), "EXP(Y10-MAX($X10:$Z10))"),
        ("'My sheet'!A1&\"A1\"", (0, 0), (0, 1), "'My sheet'!B1&\"A1\""),
    ],
)
def test_moved_formula(text, origin, dest, moved):
    assert moved_formula(text, origin, dest) == moved
