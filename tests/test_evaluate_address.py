"""ROW, COLUMN, ROWS, COLUMNS (and INDEX with a row or column of 0), as students write them in
formulas filled down and right: each case against the number Excel gives, on the vectorised
path and cell by cell, and against LibreOffice where it is installed. These functions read
where a reference is, not what it holds: a range holding the formula's own cell is no
circular reference, in Excel as here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from xlnet.evaluate import EvalError, evaluate, is_error
from xlnet.libreoffice import recalculate
from xlnet.xlsxio import read_book

# Inputs of sheet S: A1:C2, a 4 x 3 matrix X in K1:M4 and a 4 x 2 matrix W in O1:P4.
DATA = {"A1": 10, "B1": 20, "C1": 30, "A2": 1, "B2": 2, "C2": 3, "U1": 1}
X = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
W = [[1, 0], [2, 1], [0, 3], [1, 1]]

# Cell -> (formula, what Excel computes).
CASES: dict[str, tuple[str, float]] = {
    "E1": ("=COLUMNS($A$2:B$2)", 2),
    "E2": ("=ROWS($A$3:$A4)", 2),
    "E3": ("=INDEX(A1:C1,COLUMNS($A$2:B$2))", 20),
    "E4": ("=COLUMN()", 5),
    "E5": ("=ROW()", 5),
    "E6": ("=ROW(B7)", 7),
    "E7": ("=COLUMN(C1)", 3),
    "E8": ("=SUM(INDEX(A1:C2,0,2))", 22),  # column 2 whole: 20 + 2
    "E9": ("=ROWS(A:A)", 1048576),
    "E10": ("=COLUMNS(1:1)", 16384),
    "E11": ("=ROWS(T!A1:A5)", 5),
    "E12": ("=ROW(E12)", 12),  # its own cell: no circular reference
    "E13": ("=ROWS(E1:E20)", 20),  # a range holding its own cell
    "E14": ("=COLUMNS(T!A:C)", 3),
    "E15": ("=ROWS(T!A:C)", 1048576),
    "E16": ("=SUM(INDEX(A1:C2,2,0))", 6),  # row 2 whole
    "E17": ("=SUMPRODUCT(ROW(A1:A3))", 6),
    "E18": ("=COLUMN(E18)+ROW()", 23),
    "E19": ("=INDEX(A1:C2,ROWS($A$1:$A2),COLUMNS($A$1:$C$1))", 3),
    "E20": ("=SUMPRODUCT(INDEX(A1:C2,0,2),A1:A2)", 202),  # 20*10 + 2*1
    "E21": ("=ROWS(A1:B2)+SUM(A1:B2)", 35),  # one range read for its size and its values
    "E22": ('=LEN("ROW()")', 5),  # text is not rewritten
    "E23": ("=COLUMNS(ROW(A1:A3))+ROWS(ROW(A1:A3))", 4),  # of an array: its size
    "E24": ("=ROWS(U1:U5)", 5),  # a range that holds formulas not yet computed
    "E25": ("=AREAS(B1:C9)", 1),
    "E26": ("=ROWS(3:5)*COLUMNS(3:5)", 3 * 16384),
}
# A block filled down and right: each cell its own row and column.
BLOCK = {f"{c}{r}": ("=ROW()*10+COLUMN()", r * 10 + k) for r in (1, 2, 3) for k, c in
         ((7, "G"), (8, "H"), (9, "I"))}  # fmt: skip
# The students' form: column i of X (i = ROWS($K$1:$K1), down) times column j of W (right).
PRODUCTS = [[19, 35], [23, 40], [27, 45]]  # X[:, i] . W[:, j]
STUDENT = {
    f"{c}{i + 1}": ("=SUMPRODUCT(INDEX($K$1:$M$4,0,ROWS($K$1:$K" + f"{i + 1})),{w}$1:{w}$4)",
                    PRODUCTS[i][j])
    for i in range(3) for j, (c, w) in enumerate((("Q", "O"), ("R", "P")))
}  # fmt: skip
# A column that reads itself, and the size of a range holding the cell: U(n) = U(n-1) + n.
RUNNING = {f"U{n}": (f"=U{n - 1}+ROWS($U$1:U{n})", n * (n + 1) / 2) for n in range(2, 6)}
ARRAYS = {"W1:W3": ("=ROW()", [1, 2, 3]), "W5:Y5": ("=COLUMN(A1:C1)*1", [1, 2, 3])}
EXPECTED = {cell: v for cell, (_, v) in {**CASES, **BLOCK, **STUDENT, **RUNNING}.items()}


def _expected_arrays() -> dict[str, float]:
    out = {}
    for ref, (_, values) in ARRAYS.items():
        cells = [c.coordinate for row in openpyxl.Workbook().active[ref] for c in row]
        out.update(zip(cells, values, strict=True))
    return out


EXPECTED.update(_expected_arrays())


@pytest.fixture(scope="module")
def workbook(tmp_path_factory) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for cell, v in DATA.items():
        ws[cell] = v
    for i, row in enumerate(X):
        for j, v in enumerate(row):
            ws.cell(i + 1, 11 + j, v)
    for i, row in enumerate(W):
        for j, v in enumerate(row):
            ws.cell(i + 1, 15 + j, v)
    for cell, (formula, _) in {**CASES, **BLOCK, **STUDENT, **RUNNING}.items():
        ws[cell] = formula
    for ref, (formula, _) in ARRAYS.items():
        ws[ref.split(":")[0]] = ArrayFormula(ref, formula)
    wb.create_sheet("T")["A1"] = 1
    path = tmp_path_factory.mktemp("address") / "address.xlsx"
    wb.save(path)
    return path


def _at(cell: str) -> tuple[int, int]:
    c = openpyxl.utils.cell.coordinate_from_string(cell)
    return c[1] - 1, openpyxl.utils.cell.column_index_from_string(c[0]) - 1


@pytest.mark.parametrize("vectorise", [True, False])
def test_each_case_computes_what_excel_does(workbook, vectorise):
    result = evaluate(read_book(workbook), vectorise=vectorise)
    got = {cell: result.value("S", *_at(cell)) for cell in EXPECTED}
    wrong = {c: (got[c], v) for c, v in EXPECTED.items() if got[c] != v}
    assert not wrong, wrong
    # Numbers as the grids hold them (a float), which the vectorised path of later cells
    # reads (LEN is formulas' own, and gives an int).
    assert all(type(v) is float for c, v in got.items() if c != "E22")
    assert not result.error_cells()


def test_libreoffice_computes_the_same(need_soffice, workbook, tmp_path):
    out = recalculate(workbook, tmp_path)
    ws = openpyxl.load_workbook(out, data_only=True)["S"]
    wrong = {c: (ws[c].value, v) for c, v in EXPECTED.items() if ws[c].value != v}
    assert not wrong, wrong


def _book(tmp_path: Path, cells: dict[str, object]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "S"
    for cell, v in cells.items():
        ws[cell] = v
    path = tmp_path / "t.xlsx"
    wb.save(path)
    return path


def test_a_value_read_beside_the_address_is_still_circular(tmp_path):
    """Only the address is exempt: =ROW(A1)+A1 in A1 reads its own value (circular in Excel
    too), and so does a SUM over a range that holds the cell."""
    path = _book(tmp_path, {"A1": "=ROW(A1)+A1", "B1": 1, "B2": "=ROWS(B1:B3)+SUM(B1:B3)"})
    with pytest.raises(EvalError, match="circular"):
        evaluate(read_book(path))
    result = evaluate(read_book(path), lenient=True)
    for cell in ("A1", "B2"):
        assert is_error(result.value("S", *_at(cell)))
        assert "circular" in result.why[(0, *_at(cell))]


def test_an_address_is_not_a_read(tmp_path):
    """What formulas read (grading's staleness check): not the ranges whose address only
    ROW, ROWS... take. And a whole column taken by ROWS needs no grid of a million rows."""
    cells = {"A1": 1, "A2": 2, "B1": "=ROWS(A1:A2)", "B2": "=C1*2", "C2": "=ROWS(D:D)"}
    path = _book(tmp_path, cells)
    result = evaluate(read_book(path), track_reads=True)
    reads = result.reads[0]
    assert reads[0, 2] and not reads[:, 0].any() and reads.shape[1] < 4
    assert result.value("S", 0, 1) == 2 and result.value("S", 1, 2) == 1048576
    assert result.grids[0].shape[0] < 10


def test_row_in_a_group_is_each_cells_own(tmp_path):
    """=ROW() filled down 200 rows is one group: each cell has its own row, vectorised or not."""
    cells = {f"B{r}": "=ROW()+A1" for r in range(1, 201)}
    path = _book(tmp_path, {"A1": 0.5, **cells})
    for vectorise in (True, False):
        result = evaluate(read_book(path), vectorise=vectorise)
        got = np.array([result.value("S", r, 1) for r in range(200)])
        assert (got == np.arange(1, 201) + 0.5).all()


def test_index_with_row_or_column_zero(tmp_path):
    """INDEX(a,0,c) and INDEX(a,r,0) are a whole column and row; out of range is #REF!; an
    index without a column is an element of a row or column (formulas' own)."""
    path = _book(tmp_path, {
        "A1": 1, "B1": 2, "A2": 3, "B2": 4,
        "D1": "=SUM(INDEX(A1:B2,0,1))", "D2": "=SUM(INDEX(A1:B2,2,0))",
        "D3": "=SUM(INDEX(A1:B2,0,0))", "D4": "=INDEX(A1:B1,2)", "D5": "=INDEX(A1:A2,2)",
        "D6": "=SUM(INDEX(A1:B2,0,3))", "D7": "=SUM(INDEX(A1:A2,0))",
    })  # fmt: skip
    for vectorise in (True, False):
        result = evaluate(read_book(path), vectorise=vectorise, lenient=True)
        got = [result.value("S", r, 3) for r in range(7)]
        assert got[:5] == [4, 7, 10, 2, 3] and got[6] == 4
        assert str(got[5]) == "#REF!"


def test_the_students_forms_are_vectorised(workbook, monkeypatch):
    """Filled blocks of ROW(), ROWS($K$1:$K1), INDEX(...,0,c), the column reading itself and
    the array formulas go in NumPy steps: formulas' function (`compute`) runs only for the
    forms batch.py has no plan for."""
    import xlnet.evaluate as ev

    texts: list[str] = []
    real = ev.compute
    monkeypatch.setattr(ev, "compute", lambda c, *a: texts.append(c.text) or real(c, *a))
    evaluate(read_book(workbook))
    unplanned = {CASES[c][0] for c in ("E3", "E22", "E23")}  # INDEX(a,n), LEN, ROWS(ROW(a))
    assert texts and set(texts) <= unplanned


def test_a_students_index_rows_gradient_is_graded_correct(tmp_path, monkeypatch, klaas):
    """`xlnet check` on the book's sheet whose dW blocks are filled the fill-friendly way,
    =SUMPRODUCT(INDEX(X,0,ROWS($A$1:$A1)),INDEX(dZ,0,COLUMNS($A$1:A$1)))/N (each was #VALUE!
    and graded an error before)."""
    import klaas_fill

    from xlnet.grade import grade_file

    def grad_w(self, out: str, x: str, dz: str) -> None:
        xs, dzs = self.r[x].whole(True), self.r[dz].whole(True)
        self.w.block(self.r[out], lambda i, j: (
            f"SUMPRODUCT(INDEX({xs},0,ROWS($A$1:$A{i + 1})),"
            f"INDEX({dzs},0,COLUMNS($A$1:{openpyxl.utils.get_column_letter(j + 1)}$1)))/{self.n}"
        ), "")  # fmt: skip

    monkeypatch.setattr(klaas_fill._Model, "grad_w", grad_w)
    # A copy of the template: fill() neither reuses a file it filled for other tests nor keeps
    # this one for them (it caches what it fills from the template itself).
    template = tmp_path / "template.xlsx"
    template.write_bytes(klaas_fill.KLAAS.read_bytes())
    path = klaas_fill.fill(tmp_path / "s.xlsx", template=template)
    texts = [c.value for row in openpyxl.load_workbook(path)["2 Layer Wine Net"].iter_rows()
             for c in row if isinstance(c.value, str) and "ROWS($A$1:$A" in c.value]  # fmt: skip
    assert len(texts) == 5 * 3 + 13 * 5  # dW2 and dW1, every cell in the students' form
    verdicts = {(s.sheet, b.block): b.verdict for s in grade_file(path, klaas).sheets
                for b in s.blocks}  # fmt: skip
    assert verdicts[("2 Layer Wine Net", "dW1")] == "correct"
    assert set(verdicts.values()) == {"correct"}


def test_every_address_function_has_both_implementations():
    """refs.ADDRESS_FUNCTIONS names them once; the cell-by-cell and the vectorised path each
    implement every one."""
    from xlnet.batch import IMPLEMENTATIONS
    from xlnet.functions import ADDRESS
    from xlnet.refs import ADDRESS_FUNCTIONS

    assert set(ADDRESS) == ADDRESS_FUNCTIONS
    assert set(IMPLEMENTATIONS) >= ADDRESS_FUNCTIONS
