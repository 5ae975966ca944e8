"""Hints for mistakes found in real solutions: SUMPRODUCT of a bare comparison, which Excel
counts as 0 (LibreOffice does not), in an exercise's accuracy."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from exercise_fill import fill

from xlnet.evaluate import evaluate
from xlnet.exercises import write_exercise
from xlnet.grade import grade_file as grade
from xlnet.hints import text_hint
from xlnet.libreoffice import recalculate
from xlnet.spec import Spec
from xlnet.xlsxio import read_book

BOOLEAN_HINT = "SUMPRODUCT(--(a=b)) or SUMPRODUCT((a=b)*1)"
# How the accuracy's comparison is written -> what it must get (None: correct, no hint).
ACCURACIES = {"(a=b)*1": None, "--(a=b)": None, "(a=b)": "wrong"}


# A formula -> whether it gets the hint: only a comparison handed to SUMPRODUCT as it is.
FORMULAS = {
    "SUMPRODUCT((A1:A9=B1:B9))/n": True,
    "SUMPRODUCT(A1:A9=B1:B9)": True,
    "SUMPRODUCT((A1:A9=B1:B9),C1:C9)": True,
    "SUMPRODUCT(C1:C9,(A1:A9<>B1:B9))": True,
    "sumproduct(($A$1:$A$9>=B1:B9))": True,
    "SUMPRODUCT(--(A1:A9=B1:B9))": False,
    "SUMPRODUCT((A1:A9=B1:B9)*1)/n": False,
    "SUMPRODUCT((A1:A9=B1:B9)*(C1:C9=D1:D9))": False,
    "SUMPRODUCT(A1:A3,B1:B3)": False,
    "SUM((A1:A9=B1:B9)*1)": False,
}


@pytest.mark.parametrize("formula", list(FORMULAS))
def test_the_boolean_hint_names_only_a_bare_comparison(formula):
    hint = text_hint([formula])
    assert (hint is not None and BOOLEAN_HINT in hint) == FORMULAS[formula], hint


@pytest.fixture(scope="module")
def exercise(tmp_path_factory, few_wine) -> Path:
    path = tmp_path_factory.mktemp("hints") / "logreg.xlsx"
    write_exercise(Spec(model="logreg", epochs=1), few_wine, path, ("params",))
    return path


def _accuracy(form: str):
    def edit(step: str, epoch: int, i: int, j: int, f: str) -> str:
        if step != "Accuracy":
            return f
        assert "*1)" in f, f  # SUMPRODUCT((Prediction=Label)*1)/n_samples, as xlnet writes it
        if form == "--(a=b)":
            return f.replace("SUMPRODUCT((", "SUMPRODUCT(--(").replace("*1)", ")")
        return f.replace("*1)", ")") if form == "(a=b)" else f

    return edit


@pytest.mark.parametrize("form", sorted(ACCURACIES))
def test_sumproduct_of_a_comparison_is_judged_as_excel_computes_it(exercise, tmp_path, form):
    g = grade(fill(exercise, tmp_path / "s.xlsx", edit=_accuracy(form)))
    b = next(b for b in g.graded if b.block == "Accuracy")
    others = [b.block for b in g.graded if b.verdict != "correct" and b.block != "Accuracy"]
    assert others == []
    if ACCURACIES[form] is None:
        assert b.verdict == "correct" and b.hint is None, b
    else:
        assert (b.verdict, b.got) == ("wrong", 0.0), b
        assert b.hint and BOOLEAN_HINT in b.hint, b.hint


def test_libreoffice_counts_what_excel_and_the_evaluator_count_as_0(tmp_path, need_soffice):
    """The difference the README states: grading follows Excel, where TRUE in SUMPRODUCT's
    arrays is 0; LibreOffice counts it as 1. Both count once the comparison is a number."""
    path = tmp_path / "b.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    for r, (a, b) in enumerate([(1, 1), (2, 2), (3, 0)]):
        ws.write_row(r, 0, [a, b])
    forms = ["(A1:A3=B1:B3)", "--(A1:A3=B1:B3)", "(A1:A3=B1:B3)*1"]
    for r, form in enumerate(forms):
        ws.write_formula(r, 3, f"=SUMPRODUCT({form})")
    wb.close()
    ours = evaluate(read_book(path))
    assert [ours.value("S", r, 3) for r in range(3)] == [0.0, 2.0, 2.0]
    lo = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)["S"]
    assert [lo.cell(r + 1, 4).value for r in range(3)] == [2, 2, 2]
