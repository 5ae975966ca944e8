import pytest

from xlnet import a1

CELLS = [
    (0, 0, "A1"),
    (0, 25, "Z1"),
    (0, 26, "AA1"),
    (9, 51, "AZ10"),
    (2, 52, "BA3"),
    (1_048_575, 16_383, "XFD1048576"),
]


@pytest.mark.parametrize(("row", "col", "text"), CELLS)
def test_cell_round_trip(row, col, text):
    assert a1.cell(row, col) == text
    assert a1.parse_cell(text) == (row, col)
    assert a1.parse_cell(a1.cell(row, col, True, True)) == (row, col)


def test_anchors():
    assert a1.cell(4, 21, row_abs=True) == "V$5"
    assert a1.cell(4, 21, col_abs=True) == "$V5"


@pytest.mark.parametrize(
    ("sheet", "quoted"),
    [("Data", "Data"), ("2 Layer", "'2 Layer'"), ("it's", "'it''s'"), ("A1", "'A1'")],
)
def test_quote_sheet(sheet, quoted):
    assert a1.quote_sheet(sheet) == quoted


@pytest.mark.parametrize("bad", [(-1, 0), (0, -1), (0, 16_384), (1_048_576, 0)])
def test_outside_sheet(bad):
    with pytest.raises(ValueError):
        a1.cell(*bad)
