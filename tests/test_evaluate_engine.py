"""The evaluator: on workbooks built in memory, names scoped to a sheet, booleans, bounds,
grouping and scheduling corner cases; on files XlsxWriter writes, what a spreadsheet computes
(errors, blanks, whole columns, quoted sheets, arrays, circles); and the vectorised path held
against the cell-by-cell path (formulas' own functions), on xlnet's own workbooks too."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import xlsxwriter

from conftest import LAYOUT_CASES, small_spec
from xlnet.a1 import quote_sheet
from xlnet.evaluate import EMPTY, EvalError, Result, evaluate, is_error
from xlnet.workbook import build
from xlnet.xlsxio import MAX_GRID_CELLS, Book, Sheet, read_book

# Both paths compute the same arithmetic in another order (NumPy's sums, MMULT): they may
# differ in the last digits, never more.
REL = 1e-12


def book(*sheets: Sheet, names: dict[str, str] | None = None) -> Book:
    return Book(Path("memory.xlsx"), {s.name: s for s in sheets}, names or {})


def same(a, b) -> bool:
    """Equal values: numbers within REL (1 and 1.0 alike), anything else by its text."""
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool | np.bool_):
        return not isinstance(b, bool | np.bool_) and a == pytest.approx(b, rel=REL, abs=1e-300)
    return type(a) is type(b) and str(a) == str(b)


def both_paths(b: Book, **kw):
    fast, slow = evaluate(b, **kw), evaluate(b, vectorise=False, **kw)
    assert fast.formulas.keys() == slow.formulas.keys()
    for s, r, c in slow.formulas:
        x, y = fast.grids[s][r, c], slow.grids[s][r, c]
        assert same(x, y), (fast.sheet_names[s], r, c, fast.formulas[(s, r, c)], x, y)
    return fast


# --- names scoped to a sheet ---------------------------------------------------------------


def test_a_sheet_scoped_name_wins_inside_its_sheet():
    settings = Sheet("Settings", values={(0, 1): 0.5, (1, 1): 3.0})
    own = Sheet(
        "Own", values={(0, 0): 10.0}, formulas={(r, 1): "=learning_rate*2" for r in range(3)}
    )
    own.names = {"LEARNING_RATE": "Settings!$B$2"}
    other = Sheet("Other", formulas={(r, 1): "=learning_rate*2" for r in range(3)})
    res = both_paths(book(settings, own, other, names={"LEARNING_RATE": "Settings!$B$1"}))
    assert [res.value("Own", r, 1) for r in range(3)] == [6.0] * 3
    assert [res.value("Other", r, 1) for r in range(3)] == [1.0] * 3


def test_a_name_scoped_to_another_sheet_is_not_seen():
    settings = Sheet("Settings", values={(0, 1): 0.5})
    settings.names = {"RATE": "Settings!$B$1"}
    other = Sheet("Other", formulas={(0, 0): "=RATE*2", (0, 1): "=1+1"})
    settings.formulas = {(1, 1): "=RATE*2"}
    res = evaluate(book(settings, other), lenient=True)
    assert res.value("Settings", 1, 1) == 1.0
    assert is_error(res.value("Other", 0, 0)) and "RATE" in res.why[(1, 0, 0)]
    assert res.value("Other", 0, 1) == 2


def test_names_with_digits_are_told_apart():
    init = Sheet("Init", values={(0, 0): 1.0, (0, 1): 2.0})
    s = Sheet("S", formulas={(0, 0): "=W1_INIT*10", (1, 0): "=W2_INIT*10"})
    res = both_paths(book(init, s, names={"W1_INIT": "Init!$A$1", "W2_INIT": "Init!$B$1"}))
    assert [res.value("S", r, 0) for r in range(2)] == [10.0, 20.0]


# --- booleans: what Excel computes, on both paths --------------------------------------------

BOOLEAN_CASES = {
    "=SUMPRODUCT((A{r}:A{q}=B{r}:B{q}))": [0.0, 0.0, 0.0, 0.0],  # Excel; LibreOffice counts
    "=SUMPRODUCT((A{r}:A{q}=B{r}:B{q})*1)": [2.0, 1.0, 0.0, 0.0],
    "=SUMPRODUCT(--(A{r}:A{q}=B{r}:B{q}))": [2.0, 1.0, 0.0, 0.0],
    "=SUMPRODUCT((A{r}:A{q}=B{r}:B{q}),A{r}:A{q})": [0.0] * 4,
    "=SUMPRODUCT((A{r}:A{q}>0)*A{r}:A{q})": None,
    "=SUMPRODUCT(A{r}=B{r})": [0.0] * 4,
    "=SUM((A{r}:A{q}=B{r}:B{q}))": [0.0] * 4,
    "=SUM((A{r}:A{q}=B{r}:B{q})*1)": [2.0, 1.0, 0.0, 0.0],
    "=SUM(A{r}=B{r},1)": None,
    "=--(A{r}=B{r})": [1.0, 1.0, 0.0, 0.0],
    "=-(A{r}=B{r})": None,
    "=+(A{r}=B{r})": [True, True, False, False],
    "=(A{r}=B{r})+(A{r}>0)": None,
    "=(A{r}=B{r})*(A{r}>0)": None,
    "=(A{r}=B{r})^2": None,
    "=(A{r}>0)=1": None,
    "=(A{r}>0)>(B{r}>0)": None,
    "=A{r}<>B{r}": None,
    "=IF(A{r}>B{r},A{r},B{r})": None,
    "=IF(A{r}=B{r},1,0)": [1.0, 1.0, 0.0, 0.0],
    "=IF(A{r}>0,A{r}=B{r},0)": None,
    "=IF(A{r}=B{r},A{r}=B{r},0)*1": None,
    "=EXP(A{r}=B{r})": None,
    "=TANH(A{r}>0)": None,
    "=MAX((A{r}:A{q}=B{r}:B{q}))": None,
    "=AVERAGE((A{r}:A{q}=B{r}:B{q}))": None,
    "=MMULT(A{r}:B{r}=A{r}:B{r},TRANSPOSE(A{r}:B{r}))": None,
    "=MATCH(TRUE,A{r}:A{q}=B{r}:B{q},0)": None,
}


@pytest.mark.parametrize("formula", list(BOOLEAN_CASES))
def test_booleans_on_both_paths(formula):
    s = Sheet("S")
    for r in range(8):
        s.values[(r, 0)] = float(r % 3)
        s.values[(r, 1)] = float(r % 2)
    for r in range(4):  # filled down: a group the vectorised path takes
        s.formulas[(r, 3)] = formula.format(r=r + 1, q=r + 3)
    res = both_paths(book(s))
    expected = BOOLEAN_CASES[formula]
    if expected is not None:
        got = [res.value("S", r, 3) for r in range(4)]
        assert all(same(g, e) for g, e in zip(got, expected, strict=True)), got


# --- bounds ----------------------------------------------------------------------------------


def test_an_array_over_the_last_rows_is_refused_before_allocating():
    s = Sheet("Train", values={(0, 0): 1.0})
    s.arrays[(1048569, 0)] = ("=1", 7, 16384)
    with pytest.raises(EvalError, match=r"Train.*A1048570:XFD1048576") as exc:
        evaluate(book(s))
    assert f"{MAX_GRID_CELLS:,}" in str(exc.value)
    assert exc.value.cell == ("Train", 1048569, 0)


def test_a_huge_range_read_is_refused_naming_the_formula():
    s = Sheet("S", values={(0, 0): 1.0}, formulas={(1, 1): "=SUM(A1:XFD1048576)"})
    with pytest.raises(EvalError, match=r"S!B2.*A1:XFD1048576") as exc:
        evaluate(book(s), lenient=True)
    assert exc.value.cell == ("S", 1, 1)


def test_whole_columns_are_clipped_to_the_used_cells():
    s = Sheet("S", values={(r, 0): float(r) for r in range(5)})
    s.formulas = {(0, 2): "=SUM(A:A)", (1, 2): "=SUM($A:B)"}
    t = Sheet("T", formulas={(0, 0): "=SUM(S!2:3)", (1, 0): "=SUM(S!A:A)"})
    res = both_paths(book(s, t))
    assert [res.value("S", r, 2) for r in range(2)] == [10.0, 10.0]
    assert [res.value("T", r, 0) for r in range(2)] == [1.0 + 2.0 + 10.0, 10.0]
    assert res.grids[0].shape == (5, 3)


def test_a_reference_beyond_the_last_row_or_column_is_an_error():
    s = Sheet("S", formulas={(0, 0): "=A1048577+1", (0, 1): "=XFE1+1", (0, 2): "=1+1"})
    res = evaluate(book(s), lenient=True)
    assert str(res.value("S", 0, 0)) == "#REF!" and str(res.value("S", 0, 1)) == "#REF!"
    assert res.value("S", 0, 2) == 2
    with pytest.raises(EvalError, match="S!A1"):
        evaluate(book(s))


# --- grouping and scheduling -----------------------------------------------------------------


def test_constants_that_differ_only_in_digits_are_not_confused():
    s = Sheet("S", values={(0, 0): 1.0})
    texts = ["=A1*0.5", "=A1*0.05", "=A1*0.50", "=A1*5", "=A1*1E-3", "=A1*1E-30", '=A1&"7"']
    s.formulas = {(r, 1): t for r, t in enumerate(texts)}
    res = both_paths(book(s))
    got = [res.value("S", r, 1) for r in range(len(texts))]
    assert got == [0.5, 0.05, 0.5, 5.0, 1e-3, 1e-30, "17"]


def test_a_block_filled_right_and_down_is_one_formula_per_cell():
    """=TANH(V3), =TANH(W3)... differ in column letters only: computed together, right."""
    s = Sheet("S")
    for r in range(20):
        for c in range(5):
            s.values[(r, c)] = (r - 10) / 7 + c
            col = "ABCDE"[c]
            s.formulas[(r, 6 + c)] = f"=TANH({col}{r + 1})*{col}$1+$A{r + 1}"
    res = both_paths(book(s))
    for r in range(20):
        for c in range(5):
            v, top, a = s.values[(r, c)], s.values[(0, c)], s.values[(r, 0)]
            assert res.value("S", r, 6 + c) == pytest.approx(np.tanh(v) * top + a, rel=REL)


def test_a_column_reading_itself_is_computed_cell_by_cell():
    """A running sum reads the cell above it: its rectangle reads itself."""
    s = Sheet("S", values={(r, 0): float(r + 1) for r in range(50)})
    s.formulas[(0, 1)] = "=A1"
    s.formulas.update({(r, 1): f"=B{r}+A{r + 1}" for r in range(1, 50)})
    s.formulas.update({(r, 2): f"=SUM($A$1:A{r + 1})" for r in range(50)})
    res = both_paths(book(s))
    assert [res.value("S", r, 1) for r in range(50)] == [(r + 1) * (r + 2) / 2 for r in range(50)]
    assert [res.value("S", r, 2) for r in range(50)] == [(r + 1) * (r + 2) / 2 for r in range(50)]


def test_a_row_reading_its_left_neighbour():
    s = Sheet("S", values={(0, 0): 1.0})
    s.formulas = {(0, c): f"={'ABCDEFGHIJ'[c - 1]}1*2" for c in range(1, 10)}
    res = both_paths(book(s))
    assert [res.value("S", 0, c) for c in range(10)] == [2.0**c for c in range(10)]


def test_blocks_touching_across_dependent_steps():
    """Two epochs' blocks of one formula stacked without a gap: one rectangle that reads
    itself through another block, still computed in the right order."""
    s = Sheet("S", values={(0, 0): 1.0, (0, 1): 2.0})
    # rows 1-2: epoch 1, rows 3-4: epoch 2; column C holds the update, read by the next epoch
    s.formulas = {
        (1, 0): "=A1*2", (2, 0): "=A1*3", (3, 0): "=C3*2", (4, 0): "=C3*3",
        (1, 1): "=A2+B1", (2, 1): "=A3+B1", (3, 1): "=A4+B1", (4, 1): "=A5+B1",
        (2, 2): "=B2+B3", (4, 2): "=B4+B5",
    }  # fmt: skip
    res = both_paths(book(s))
    c3 = (2 + 2) + (3 + 2)
    assert res.value("S", 2, 2) == c3
    assert res.value("S", 4, 2) == (c3 * 2 + 2) + (c3 * 3 + 2)


def test_a_circle_is_named_and_lenient_breaks_it():
    s = Sheet("S", values={(0, 0): 1.0})
    s.formulas = {(r, 1): f"=B{r + 2}+1" for r in range(4)}
    s.formulas[(4, 1)] = "=B1+A1"
    s.formulas[(0, 2)] = "=A1*5"
    with pytest.raises(EvalError, match="circular reference through S!B"):
        evaluate(book(s))
    res = evaluate(book(s), lenient=True)
    assert res.value("S", 0, 2) == 5.0
    assert any("circular" in why for why in res.why.values())
    assert all(is_error(res.value("S", r, 1)) for r in range(5))


def test_errors_only_where_a_cell_goes_wrong():
    """One cell of a filled-down group divides by 0: it alone goes cell by cell, with the
    spreadsheet's error, and its neighbours keep their numbers."""
    s = Sheet("S", values={(r, 0): float(r - 2) for r in range(6)})
    s.values[(3, 0)] = "text"
    s.formulas = {(r, 1): f"=1/A{r + 1}+LN(ABS(A{r + 1}))" for r in range(6)}
    s.formulas.update({(r, 2): f"=B{r + 1}*2" for r in range(6)})
    res = both_paths(book(s))
    assert str(res.value("S", 2, 1)) == "#DIV/0!" and str(res.value("S", 3, 1)) == "#VALUE!"
    assert res.value("S", 0, 1) == pytest.approx(-0.5 + np.log(2))
    assert str(res.value("S", 2, 2)) == "#DIV/0!"
    assert sorted(res.error_cells()) == sorted(
        ["S!B3 #DIV/0!", "S!B4 #VALUE!", "S!C3 #DIV/0!", "S!C4 #VALUE!"]
    )


def test_blank_inputs_read_as_zero_in_a_group():
    s = Sheet("S", values={(0, 0): 1.0, (2, 0): 3.0})
    s.formulas = {(r, 1): f"=A{r + 1}*2+1" for r in range(3)}
    res = both_paths(book(s))
    assert [res.value("S", r, 1) for r in range(3)] == [3.0, 1.0, 7.0]
    assert res.value("S", 1, 0) is EMPTY


def test_references_that_coincide_in_some_cells_only():
    s = Sheet("S", values={(r, 0): float(10**r) for r in range(4)})
    s.formulas = {(r, 1): f"=A{r + 1}+$A$2*A{r + 1}" for r in range(4)}
    res = both_paths(book(s))
    assert [res.value("S", r, 1) for r in range(4)] == [11.0, 110.0, 1100.0, 11000.0]


def test_array_formulas_and_cells_reading_them():
    s = Sheet("S", values={(0, c): float(c + 1) for c in range(3)})
    s.arrays[(1, 0)] = ("=A1:C1*2", 1, 3)
    s.arrays[(2, 0)] = ("=A2:C2+A1:C1", 1, 3)
    s.formulas = {(3, c): f"={'ABC'[c]}3*10" for c in range(3)}
    res = both_paths(book(s))
    assert [res.value("S", 3, c) for c in range(3)] == [30.0, 60.0, 90.0]
    assert res.formulas[(0, 2, 1)] == "{=A2:C2+A1:C1}"
    assert res.formulas.get((0, 5, 5)) is None and (0, 2, 2) in res.formulas


def test_formula_cells_are_a_mapping_that_outlives_edits_of_the_book():
    s = Sheet("S", values={(0, 0): 1.0}, formulas={(0, 1): "=A1+1", (1, 1): "=B1+1"})
    s.arrays[(2, 0)] = ("=A1*2", 2, 2)
    b = book(s)
    res = evaluate(b)
    s.formulas.pop((1, 1))
    assert len(res.formulas) == 6 and res.formulas[(0, 1, 1)] == "=B1+1"
    assert res.formulas.keys() - {(0, 0, 1)} == {(0, 1, 1), (0, 2, 0), (0, 2, 1), (0, 3, 0),
                                                 (0, 3, 1)}  # fmt: skip
    assert res.formulas.get((0, 0, 0)) is None and (0, 0, 0) not in res.formulas


def test_reads_mark_every_cell_a_formula_reads():
    s = Sheet("S", values={(r, c): 1.0 for r in range(6) for c in range(3)})
    s.formulas = {(r, 4): f"=SUM(A{r + 1}:B{r + 2})" for r in range(3)}
    res = evaluate(book(s), track_reads=True)
    reads = res.reads[0]
    assert reads[0:4, 0:2].all() and not reads[4:, :].any() and not reads[:, 2].any()


def test_volatile_functions_are_listed_per_cell():
    s = Sheet("S", formulas={(r, 0): f"=RAND()*{r}" for r in range(3)})
    s.formulas[(0, 1)] = "=1+1"
    res = evaluate(book(s))
    assert res.volatile == ["S!A1", "S!A2", "S!A3"]


def test_a_formula_with_a_sheet_named_with_digits():
    a, b2 = Sheet("2020", values={(0, 0): 3.0}), Sheet("2021", values={(0, 0): 4.0})
    s = Sheet("S", formulas={(0, 0): "='2020'!A1*2", (1, 0): "='2021'!A1*2"})
    res = both_paths(book(a, b2, s))
    assert [res.value("S", r, 0) for r in range(2)] == [6.0, 8.0]


def test_a_name_that_is_no_range_fails_only_its_own_cells():
    init = Sheet("Init", values={(0, 0): 1.0})
    s = Sheet("S", formulas={(0, 0): "=W9_INIT*10", (1, 0): "=W1_INIT*10"})
    names = {"W1_INIT": "Init!$A$1", "W9_INIT": "0.5"}
    res = evaluate(book(init, s, names=names), lenient=True)
    assert is_error(res.value("S", 0, 0)) and "not a plain cell range" in res.why[(1, 0, 0)]
    assert res.value("S", 1, 0) == 10.0
    with pytest.raises(EvalError, match="S!A1: defined name W9_INIT"):
        evaluate(book(init, s, names=names))


def test_spill_references():
    s = Sheet("S", values={(0, 0): 1.0, (0, 1): 2.0})
    s.arrays[(1, 0)] = ("=A1:B1*2", 1, 2)
    s.formulas = {
        (2, 0): "=SUM(_xlfn.ANCHORARRAY(A2))",  # A2#: the array anchored at A2
        (3, 0): "=SUM(_xlfn.ANCHORARRAY(B1))",  # no array there
        (4, 0): "=SUM(_xlfn.ANCHORARRAY(OFFSET(A2,0,0)))",  # not a plain anchor: left as is
    }
    res = evaluate(book(s), lenient=True)
    assert res.value("S", 2, 0) == 6.0 and res.formulas[(0, 2, 0)] == "=SUM(A2:B2)"
    assert is_error(res.value("S", 3, 0)) and "no spilled array" in res.why[(0, 3, 0)]
    assert is_error(res.value("S", 4, 0)) and res.volatile == ["S!A5"]


def test_a_control_character_fails_only_its_cell():
    s = Sheet("S", formulas={(0, 0): "=1+1", (1, 0): '="a\x02"&1', (2, 0): "=A1*3"})
    res = evaluate(book(s), lenient=True)
    assert is_error(res.value("S", 1, 0)) and res.value("S", 2, 0) == 6.0


# --- files written by XlsxWriter, and xlnet's own workbooks ---------------------------------


def written(tmp_path: Path, write) -> Result:
    """`write(workbook)` with XlsxWriter into a file, read back and evaluated."""
    path = tmp_path / "t.xlsx"
    wb = xlsxwriter.Workbook(path)
    write(wb)
    wb.close()
    return evaluate(read_book(path))


def test_evaluator_flags_array_result_in_a_plain_cell(tmp_path):
    def write(wb):
        ws = wb.add_worksheet("S")
        ws.write_column(0, 0, [1, 2, 3])
        ws.write_formula("C1", "=SUMPRODUCT(A1:A3*2)")
        ws.write_formula("D1", "=A1:A3*2")  # Excel would intersect or show #VALUE!

    result = written(tmp_path, write)
    assert result.value("S", 0, 2) == 12
    assert str(result.value("S", 0, 3)) == "#VALUE!"
    assert "implicit intersection" in result.why[(0, 0, 3)]
    # Not detected: =SUM(A1:A3*2) is 12 here but 2 in legacy Excel and LibreOffice (implicit
    # intersection inside an aggregate). The LibreOffice tests are what guard xlnet's own
    # formulas against that trap.


def test_formulas_sharing_a_relative_form_are_not_confused(tmp_path):
    def write(wb):
        s, t = wb.add_worksheet("S"), wb.add_worksheet("T")
        s.write_column(0, 0, [1, 10, 100])
        t.write_column(0, 0, [5, 50, 500])
        for r in range(3):  # =A1+$A$1 names one cell twice in row 1, two cells below
            s.write_formula(r, 1, f"=A{r + 1}+$A$1")
        s.write_formula("C1", "=A1+T!A1")
        t.write_formula("C1", "=A1+T!A1")  # on T both references are T!A1

    result = written(tmp_path, write)
    assert [result.value("S", r, 1) for r in range(3)] == [2, 11, 101]
    assert result.value("S", 0, 2) == 6
    assert result.value("T", 0, 2) == 10


def test_errors_propagate_like_a_spreadsheet(tmp_path):
    def write(wb):
        ws = wb.add_worksheet("S")
        ws.write_formula("A1", "=1/0")
        ws.write_formula("B1", "=SUM(A1,5)")
        ws.write_formula("C1", "=IFERROR(A1,99)")
        ws.write_formula("D1", "=ISERROR(A1)")

    result = written(tmp_path, write)
    assert str(result.value("S", 0, 0)) == "#DIV/0!"
    assert str(result.value("S", 0, 1)) == "#DIV/0!"
    assert result.value("S", 0, 2) == 99
    assert result.value("S", 0, 3) is True
    assert len(result.error_cells()) == 2


def test_blank_cells_read_as_zero_in_arithmetic(tmp_path):
    """A blank cell inside a range is 0 to EXP and +, as in Excel, not the text "empty"."""

    def write(wb):
        ws = wb.add_worksheet("S")
        ws.write_number("A1", 1.0)
        ws.write_number("B1", 2.0)
        ws.write_formula("D1", "=SUMPRODUCT(EXP(A1:C1))")
        ws.write_formula("E1", "=A1+C1")
        ws.write_formula("F1", "=SUM(A1:C1)")

    result = written(tmp_path, write)
    assert result.value("S", 0, 2) is EMPTY
    assert result.value("S", 0, 3) == pytest.approx(math.e + math.e**2 + 1)
    assert result.value("S", 0, 4) == 1.0 and result.value("S", 0, 5) == 3.0


def test_whole_columns_and_rows_are_read_on_their_own_sheet(tmp_path):
    def write(wb):
        a, b = wb.add_worksheet("S"), wb.add_worksheet("T")
        a.write_column("A1", ["head", 1.0, 2.0])
        b.write_column("A1", [100.0, 200.0])
        a.write_formula("B1", "=SUM(A:A)")
        b.write_formula("B1", "=SUM(A:A)")
        a.write_formula("D5", "=SUM(2:2)")
        a.write_formula("D6", "=SUM(3:3)")
        b.write_formula("C5", "=SUM(S!A:A)")

    result = written(tmp_path, write)
    assert result.value("S", 0, 1) == 3.0 and result.value("T", 0, 1) == 300.0
    assert result.value("S", 4, 3) == 1.0 and result.value("S", 5, 3) == 2.0
    assert result.value("T", 4, 2) == 3.0


@pytest.mark.parametrize("sheet", ["It's", "2020", "Übung", "My Data"])
def test_quoted_sheet_names(tmp_path, sheet):
    def write(wb):
        wb.add_worksheet(sheet).write("A1", 21)
        wb.add_worksheet("S").write_formula("A1", f"={quote_sheet(sheet)}!A1*2")

    assert written(tmp_path, write).value("S", 0, 0) == 42


def test_text_that_looks_like_a_formula_stays_text(tmp_path):
    def write(wb):
        wb.add_worksheet("S").write_string("A1", "=1+1")

    result = written(tmp_path, write)
    assert result.value("S", 0, 0) == "=1+1" and not result.formulas


def test_unknown_function_is_a_name_error(tmp_path, capsys):
    def write(wb):
        wb.add_worksheet("S").write_formula("A1", "=FOO(1)")

    result = written(tmp_path, write)
    assert str(result.value("S", 0, 0)).startswith("#")
    assert "Traceback" not in capsys.readouterr().err


def test_evaluator_rejects_circular_references(tmp_path):
    path = tmp_path / "circ.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    ws.write_formula("A1", "=B1+1")
    ws.write_formula("B1", "=A1+1")
    wb.close()
    with pytest.raises(EvalError, match="circular"):
        evaluate(read_book(path))


def test_evaluator_handles_array_formulas(tmp_path):
    path = tmp_path / "arr.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    ws.write_row(0, 0, [1, 2, 3])
    ws.write_array_formula("A2:C2", "{=A1:C1*2}")
    ws.write_formula("D2", "=SUM(A2:C2)")
    wb.close()
    result = evaluate(read_book(path))
    assert [result.value("S", 1, c) for c in range(4)] == [2, 4, 6, 12]


def test_shared_dependencies_are_not_circular(tmp_path):
    def write(wb):
        ws = wb.add_worksheet("S")
        ws.write_formula("A1", "=SUM(B1:C1)")  # reads B1 and C1; C1 reads B1
        ws.write_formula("C1", "=B1*2")
        ws.write_formula("B1", "=D1+1")
        ws.write_number("D1", 1)

    result = written(tmp_path, write)
    assert [result.value("S", 0, c) for c in range(3)] == [6, 2, 4]


@pytest.fixture(scope="module")
def few_books(tmp_path_factory, few_wine) -> dict[tuple[str, str, str], Path]:
    """xlnet's small workbooks of every (model, output, layout), on few samples: the
    cell-by-cell path takes its time over every cell."""
    folder = tmp_path_factory.mktemp("few")
    out = {}
    for model, output, layout in LAYOUT_CASES:
        out[(model, output, layout)] = folder / f"{model}-{output}-{layout}.xlsx"
        build(small_spec(model, output, layout=layout), few_wine, out[(model, output, layout)])
    return out


@pytest.mark.parametrize(("model", "output", "layout"), LAYOUT_CASES)
def test_vectorised_path_matches_formulas_own_functions(few_books, model, output, layout):
    """batch.py's NumPy forms against the formulas package's functions, cell by cell."""
    book = read_book(few_books[(model, output, layout)])
    fast, slow = evaluate(book), evaluate(book, vectorise=False)
    assert fast.formulas.keys() == slow.formulas.keys()
    for s, r, c in slow.formulas:
        assert fast.grids[s][r, c] == pytest.approx(slow.grids[s][r, c], rel=1e-12, abs=1e-14)


@pytest.mark.parametrize(
    "formula",
    ["=1/(A1-1)", "=LN(A1-1)", "=EXP(A1*1000)", "=SQRT(-A1)", "=MATCH(9,B1:D1,0)",
     "=INDEX(B1:D1,1,5)", "=SUMPRODUCT(B1:D1,B1:B2)", "=A1:A2*2", "=IF(A1>0,\"yes\",\"no\")"],
)  # fmt: skip
def test_vectorised_path_defers_errors_to_formulas(tmp_path, formula):
    def write(wb):
        ws = wb.add_worksheet("S")
        ws.write_row(0, 0, [1, 2, 3, 4])
        ws.write_number(1, 0, 1)
        for r in range(2, 6):  # a filled-down group, so the vectorised path is tried
            ws.write_formula(r, 5, formula)

    fast_book = written(tmp_path, write)
    slow = evaluate(read_book(tmp_path / "t.xlsx"), vectorise=False)
    for r in range(2, 6):
        assert str(fast_book.value("S", r, 5)) == str(slow.value("S", r, 5))
