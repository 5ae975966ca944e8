"""Grading the book's sheet as real students leave it: labels beside blocks, blanks, errors,
other valid ways to write a block, whole-column ranges. Each case is one mistake at most, so it
must give at most one verdict that is not correct (no cascade), and never a crash."""

from __future__ import annotations

import openpyxl
import pytest
from klaas_fill import SHEETS, fill

from xlnet.grade import grade_file as grade
from xlsx_edit import edit_book

LR, MLP = SHEETS["logreg"], SHEETS["mlp"]


def _clear(sheet: str, rng: str):
    def edit(wb):
        for row in wb[sheet][rng]:
            for c in row:
                c.value = None

    return edit


def _each(sheet: str, cols: str, formula):
    """Write formula(row, column index) into columns `cols` (e.g. "Z:AB") of rows 3..180."""

    def edit(wb):
        ws = wb[sheet]
        first, last = (openpyxl.utils.column_index_from_string(c) for c in cols.split(":"))
        for r in range(3, 181):
            for j in range(last - first + 1):
                ws.cell(r, first + j).value = formula(r, j)

    return edit


def _rename(wb):
    wb[LR].title = "LogReg"


# name: (fill options, edit, expected [(block, verdict)], words in that block's hint, words in a
# sheet note)
CASES = {
    "label under a scalar bias": ({}, {(LR, "T4"): "bias"}, [], None, None),
    "label under db1": ({}, {(LR, "AW4"): "check"}, [], None, None),
    "label beside New b1": ({}, {(LR, "BD4"): "<- new bias"}, [], None, None),
    "helper column beside the loss": (
        {}, _each(LR, "AI:AI", lambda r, j: f"=AH{r}*100"), [], None, None),
    "per-class bias, New b1 blank": (
        {"bias": "vector"}, _clear(LR, "BD3:BD5"), [("New b1", "missing")], None, None),
    "W1 blank": ({}, _clear(LR, "P3:R15"), [("W1", "missing")], None, None),
    "W1 holds #DIV/0!": ({}, {(LR, "P3"): "=1/0"}, [("W1", "error")], None, None),
    "last rows of A1 blank": (
        {}, _clear(LR, "Z178:AB180"), [("A1", "wrong")], "9 of 534 cells are empty", None),
    "softmax forgotten": (
        {}, _each(LR, "Z:AB", lambda r, j: f"={'VWX'[j]}{r}"), [("A1", "wrong")],
        "only copies Z1", None),
    "LOG, and Total Loss from A and Y directly": (
        {"mistake": "log"}, {(LR, "AL3"): "=-SUMPRODUCT(AD3:AF180,LN(Z3:AB180))/E1"},
        [("Sample Loss", "wrong")], "LN", None),
    "whole-column Total Loss": ({}, {(LR, "AL3"): "=SUM(AH:AH)/E1"}, [], None, None),
    "LOG, and a whole-column Total Loss": (
        {"mistake": "log"}, {(LR, "AL3"): "=SUM(AH:AH)/E1"}, [("Sample Loss", "wrong")],
        "LN", None),
    "whole-column dW": (
        {}, lambda wb: [wb[LR].cell(3 + i, 45 + j).__setattr__(
            "value", f"=SUMPRODUCT({'ABCDEFGHIJKLM'[i]}:{'ABCDEFGHIJKLM'[i]},"
                     f"{['AN', 'AO', 'AP'][j]}:{['AN', 'AO', 'AP'][j]})/$E$1")
            for i in range(13) for j in range(3)], [], None, None),
    "whole column against a 178-row range": (
        {}, {(LR, "AS3"): "=SUMPRODUCT(A:A,AN3:AN180)/$E$1"}, [("dW1", "error")], None,
        None),
    "one-row typo": (
        {}, {(LR, "Z50"): "=EXP(V50)/SUMPRODUCT(EXP($V49:$X49))"}, [("A1", "wrong")],
        None, None),
    "learning rate typed as text": ({}, {(LR, "B1"): "0.5"}, [], None, None),
    "N left blank": ({}, {(LR, "E1"): None}, [], None, "graded as if it held 178"),
    "per-class loss with IF and \"\"": (
        {"loss": "per_class"},
        _each(LR, "AH:AJ", lambda r, j: f'=IF({["AD", "AE", "AF"][j]}{r}=1,'
                                         f'-LN({["Z", "AA", "AB"][j]}{r}),"")'), [], None, None),
    "targets linked to another workbook": (
        {}, _each(LR, "AD:AF", lambda r, j: f"='[1]Data'!{'PQR'[j]}{r}"), [], None,
        "another workbook"),
    "OFFSET in the softmax": (
        {}, _each(LR, "Z:AB",
                  lambda r, j: f"=EXP({'VWX'[j]}{r})/SUMPRODUCT(EXP(OFFSET($V{r},0,0,1,3)))"),
        [("A1", "error")], "OFFSET is not a function", None),
    "sheet renamed": ({}, _rename, [], None, "no sheet named 'Logistic Regression'"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_student_cases(klaas, tmp_path, case):
    options, edit, expected, hint, note = CASES[case]
    path = tmp_path / "s.xlsx"
    edit_book(fill(path, models=("logreg",), **options), path, edit)
    g = grade(path, klaas)
    assert g.error is None
    sheet = g.sheets[0]
    got = [(b.block, b.verdict) for b in sheet.blocks if b.verdict != "correct"]
    if case == "sheet renamed":
        assert {v for _, v in got} == {"missing"}
    else:
        # (A whole column against a 178-row range: sizes differ, #VALUE! in Excel too.)
        assert got == expected, [(b.block, b.verdict, b.cell, b.formula, b.hint)
                                 for b in sheet.blocks if b.verdict != "correct"]  # fmt: skip
    if hint:
        b = next(b for b in sheet.blocks if b.verdict != "correct")
        assert b.hint and hint in b.hint, b.hint
    if case == "one-row typo":
        b = next(b for b in sheet.blocks if b.verdict != "correct")
        assert b.wrong_cells == 1 and not (b.hint and "anchor" in b.hint), b.hint
    if note:
        assert any(note in n for n in sheet.notes), sheet.notes
