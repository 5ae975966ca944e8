"""Grading the book's chapter-1 sheet (template klaas-ch1), filled the way students fill it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import openpyxl
import pytest
from klaas_fill import AUTHORS, KLAAS, MISTAKES, SHEETS, as_spilled, fill
from openpyxl.worksheet.formula import ArrayFormula

from xlnet.cli import EXIT_DIFFERS, EXIT_OK, main
from xlnet.grade import grade_file as grade
from xlsx_edit import edit_book, rewrite, share_formulas, sheet_part

SHARED_BOOK = Path(__file__).resolve().parents[2] / "shared" / "klaas" / "ch1-excel-exercise.xlsx"
BLOCKS = {
    "logreg": ["W1", "b1", "Z1", "A1", "Sample Loss", "Total Loss", "dZ1", "dW1", "db1",
               "New W1", "New b1"],
    "mlp": ["W1", "b1", "Z1", "A1", "W2", "b2", "z2", "A2", "Targets", "Sample Loss",
            "Total Loss", "dZ2", "dW2", "db2", "dz1", "dW1", "db1", "New W2", "New b2",
            "New W1", "New b1"],
}  # fmt: skip
# The verdict each planted mistake must get, and words its hint must hold.
EXPECTED = {
    "log": ("wrong", "LN"),
    "unanchored": ("wrong", "anchor it with $"),
    "shifted_softmax": ("wrong", "reads columns AR:AT, one column to the right of z2 (AQ:AS)"),
    "dz2_from_a1": ("wrong", "from A1 where it needs A2"),
    "tanh_deriv_z": ("wrong", "from Z1 where it needs A1"),
    "missing_n": ("wrong", "missing 1/N"),
    "wrong_sign": ("wrong", "wrong sign"),
    "pasted": ("not_formula", "formulas"),
    "error": ("error", "text"),
    "blank": ("missing", None),
    "transposed": ("wrong", "transpose"),
}


def _verdicts(g) -> dict[tuple[str, str], str]:
    return {(s.sheet, b.block): b.verdict for s in g.sheets for b in s.blocks}


def _not_correct(g):
    return [(s.sheet, b.block, b.verdict) for s in g.sheets for b in s.blocks
            if b.verdict != "correct"]  # fmt: skip


def test_template_is_the_books_sheet_unchanged():
    if not SHARED_BOOK.exists():
        pytest.skip("shared/klaas is not beside this clone")
    assert KLAAS.read_bytes() == SHARED_BOOK.read_bytes()


def test_template_names_every_block_of_both_sheets(klaas):
    for model, sheet in SHEETS.items():
        spec = next(s for s in klaas.sheets if s.name == sheet)
        graded = [b.name for b in spec.blocks if b.kind != "input"]
        assert graded == BLOCKS[model]


@pytest.mark.parametrize(
    ("style", "bias", "loss"),
    [
        ("cells", "scalar", "column"),
        ("arrays", "scalar", "column"),
        ("cells", "vector", "per_class"),
        ("arrays", "vector", "per_class"),
    ],
)
def test_correct_submission_gets_full_marks(klaas, tmp_path, style, bias, loss):
    g = grade(fill(tmp_path / "s.xlsx", style=style, bias=bias, loss=loss), klaas)
    assert _not_correct(g) == []
    assert g.score == 100.0
    assert [s.sheet for s in g.sheets] == list(SHEETS.values())
    seen = {(s.sheet, b.block): b.seen for s in g.sheets for b in s.blocks}
    lr = SHEETS["logreg"]
    # The convention each block follows is named.
    assert seen[(lr, "b1")] == ("one bias per class" if bias == "vector" else "one scalar bias")
    loss_form = "one column per class" if loss == "per_class" else "one column"
    assert seen[(lr, "Sample Loss")].startswith(loss_form)
    assert "softmax" in seen[(lr, "A1")]


def test_blank_book_is_all_missing(klaas):
    g = grade(KLAAS, klaas)
    assert set(_verdicts(g).values()) == {"missing"}
    assert len(_verdicts(g)) == sum(len(b) for b in BLOCKS.values())
    assert g.score == 0.0


CASES = [(m, model) for m in sorted(MISTAKES) for model in sorted(MISTAKES[m])]


@pytest.mark.parametrize(("mistake", "model"), CASES)
def test_each_planted_mistake_is_one_verdict(klaas, tmp_path, mistake, model):
    style = "arrays" if mistake == "transposed" else "cells"
    path = fill(tmp_path / "s.xlsx", models=(model,), style=style, mistake=mistake)
    g = grade(path, klaas)
    sheet = SHEETS[model]
    other = [b for s in g.sheets if s.sheet != sheet for b in s.blocks]
    assert {b.verdict for b in other} == {"missing"}  # the sheet not filled in
    wrong = [x for x in _not_correct(g) if x[0] == sheet]
    verdict, hint = EXPECTED[mistake]
    assert wrong == [(sheet, MISTAKES[mistake][model], verdict)]
    b = next(b for s in g.sheets if s.sheet == sheet for b in s.blocks if b.verdict != "correct")
    assert b.cell and b.cell.startswith(sheet + "!")
    if hint:
        assert b.hint and hint in b.hint, b.hint
    if verdict in ("wrong", "error"):
        assert b.formula and b.wrong_cells > 0 and b.expected is not None


def test_two_mistakes_are_two_verdicts(klaas, tmp_path):
    """One mistake per sheet: each reported once, on its own sheet."""
    a = fill(tmp_path / "a.xlsx", models=("logreg",), mistake="wrong_sign")
    b = fill(tmp_path / "b.xlsx", models=("mlp",), mistake="dz2_from_a1")
    # Put both filled sheets into one workbook.
    mlp = openpyxl.load_workbook(b)[SHEETS["mlp"]]
    cells = {(SHEETS["mlp"], c.coordinate): c.value for row in mlp.iter_rows() for c in row}
    g = grade(edit_book(a, tmp_path / "both.xlsx", cells), klaas)
    assert _not_correct(g) == [
        (SHEETS["logreg"], "New W1", "wrong"),
        (SHEETS["mlp"], "dZ2", "wrong"),
    ]


def test_rand_weights_pinned_to_saved_values(klaas, tmp_path, need_soffice):
    from xlnet.libreoffice import recalculate

    written = fill(tmp_path / "rand.xlsx", weights="rand")
    # As written by openpyxl, RAND() weights have no saved value to pin: an error, named.
    g = grade(written, klaas)
    w1 = next(b for b in g.sheets[0].blocks if b.block == "W1")
    assert w1.verdict == "error" and "RAND()" in w1.hint
    # Saved by a spreadsheet (LibreOffice here), they are pinned and the rest grades in full.
    saved = recalculate(written, tmp_path / "saved")
    g = grade(saved, klaas)
    assert _not_correct(g) == []
    w1 = next(b for b in g.sheets[0].blocks if b.block == "W1")
    assert "RAND() pinned" in w1.seen


@pytest.mark.parametrize("style", ["cells", "arrays"])
def test_file_saved_by_libreoffice_grades_the_same(klaas, tmp_path, need_soffice, style):
    from xlnet.libreoffice import recalculate

    good = fill(tmp_path / "good.xlsx", style=style, bias="vector")
    bad = fill(tmp_path / "bad.xlsx", style=style, mistake="missing_n")
    for path, wrong in ((good, []), (bad, [("dW1", "wrong")] * 2)):
        saved = recalculate(path, tmp_path / "saved")
        got = [(b, v) for _, b, v in _not_correct(grade(saved, klaas))]
        assert got == wrong


def test_excel_365_spilled_arrays(klaas, tmp_path):
    filled = fill(tmp_path / "legacy.xlsx", style="arrays")
    spilled = as_spilled(filled, tmp_path / "spilled.xlsx")
    g = grade(spilled, klaas)
    assert _not_correct(g) == [] and g.score == 100.0


def test_circular_reference_is_an_error_on_its_block_only(klaas, tmp_path):
    path = fill(tmp_path / "s.xlsx", models=("logreg",))
    edit_book(path, path, {(SHEETS["logreg"], "AL3"): "=SUM(AH3:AH180)/E1+AL3"})  # reads itself
    g = grade(path, klaas)
    assert [x for x in _not_correct(g) if x[0] == SHEETS["logreg"]] == [
        (SHEETS["logreg"], "Total Loss", "error")
    ]
    b = next(b for b in g.sheets[0].blocks if b.block == "Total Loss")
    assert "circular" in b.hint


def test_external_link_is_an_error_on_its_block_only(klaas, tmp_path):
    path = fill(tmp_path / "s.xlsx", models=("logreg",))
    edit_book(path, path, {(SHEETS["logreg"], "AW3"): "=SUM([other.xlsx]Sheet1!A1:A9)/E1"})
    g = grade(path, klaas)
    assert [x[1:] for x in _not_correct(g) if x[0] == SHEETS["logreg"]] == [("db1", "error")]
    b = next(b for b in g.sheets[0].blocks if b.block == "db1")
    assert "another workbook" in b.hint


def test_cli_json_for_the_books_sheet(tmp_path, capsys):
    good = fill(tmp_path / "good.xlsx")
    bad = fill(tmp_path / "bad.xlsx", mistake="log")
    assert main(["check", "--template", "klaas-ch1", "--json", str(good)]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["file"] == str(good) and doc["score"] == 100.0
    assert [s["sheet"] for s in doc["sheets"]] == list(SHEETS.values())
    names = [b["block"] for b in doc["sheets"][1]["blocks"]]
    assert names == BLOCKS["mlp"]
    assert main(["check", "--template", "klaas-ch1", "--json", str(bad)]) == EXIT_DIFFERS
    doc = json.loads(capsys.readouterr().out)
    wrong = [(s["sheet"], b) for s in doc["sheets"] for b in s["blocks"]
             if b["verdict"] != "correct"]  # fmt: skip
    assert [(s, b["block"]) for s, b in wrong] == [(SHEETS["logreg"], "Sample Loss"),
                                                   (SHEETS["mlp"], "Sample Loss")]  # fmt: skip
    b = wrong[0][1]
    assert b["formula"].upper().count("LOG(") == 1 and b["expected"] != b["got"]
    assert set(b) >= {"block", "verdict", "cell", "formula", "expected", "got", "wrong_cells",
                      "hint"}  # fmt: skip


def test_template_is_found_without_the_flag(tmp_path):
    g = grade(fill(tmp_path / "s.xlsx"))
    assert g.score == 100.0 and [s.sheet for s in g.sheets] == list(SHEETS.values())


def test_exercise_from_template_is_the_blank_book(tmp_path, capsys):
    out = tmp_path / "ch1.xlsx"
    assert main(["exercise", "--template", "klaas-ch1", "-o", str(out)]) == EXIT_OK
    assert out.read_bytes() == KLAAS.read_bytes()


@pytest.mark.parametrize("mistake", [None, "unanchored", "missing_n"])
def test_excel_shared_formulas(klaas, tmp_path, mistake):
    """Excel saves a filled range as one shared formula (text in its first cell only)."""
    filled = fill(tmp_path / "s.xlsx", models=("logreg",), mistake=mistake)
    shared = tmp_path / "shared.xlsx"
    assert share_formulas(filled, shared, SHEETS["logreg"]) > 1000
    g = grade(shared, klaas)
    wrong = [x[1:] for x in _not_correct(g) if x[0] == SHEETS["logreg"]]
    assert wrong == ([] if mistake is None else [(MISTAKES[mistake]["logreg"], "wrong")])


def test_excel_365_spill_references(klaas, tmp_path):
    """Blocks chained with V3# (saved as _xlfn.ANCHORARRAY(V3)), as Excel 365 users write."""
    spilled = as_spilled(fill(tmp_path / "a.xlsx", models=("logreg",), style="arrays"),
                         tmp_path / "spilled.xlsx")  # fmt: skip
    sheet = SHEETS["logreg"]

    def edit(xml: str) -> str:
        # Every formula reading the whole Z1 block reads it as a spill reference instead.
        out, n = re.subn(r"(<f[^>]*>[^<]*?)\$?V\$?3:\$?X\$?180", r"\1_xlfn.ANCHORARRAY(V3)", xml)
        assert n >= 1
        return out

    chained = tmp_path / "chained.xlsx"
    rewrite(spilled, chained, sheet_part(spilled, sheet), edit)
    g = grade(chained, klaas)
    assert [x for x in _not_correct(g) if x[0] == sheet] == []


def test_randarray_weights_pinned_to_saved_values(klaas, tmp_path):
    """Excel 365 weights from =RANDARRAY(13,3)-0.5: the anchor holds the formula, every cell
    its saved value."""
    path = fill(tmp_path / "a.xlsx", models=("logreg",))
    sheet = SHEETS["logreg"]

    def edit(xml: str) -> str:
        m = re.search(r'<c r="P3"([^>]*)><v>([^<]*)</v></c>', xml)
        assert m, "W1's first weight as a plain number"
        new = (f'<c r="P3"{m[1]}><f t="array" ref="P3:R15">_xlfn.RANDARRAY(13,3)-0.5</f>'
               f"<v>{m[2]}</v></c>")  # fmt: skip
        return xml[: m.start()] + new + xml[m.end() :]

    rand = tmp_path / "randarray.xlsx"
    rewrite(path, rand, sheet_part(path, sheet), edit)
    g = grade(rand, klaas)
    assert [x for x in _not_correct(g) if x[0] == sheet] == []
    w1 = next(b for b in g.sheets[0].blocks if b.block == "W1")
    assert "pinned" in w1.seen


def test_per_student_copies_of_the_books_sheet(tmp_path):
    """--template with --roster: the book's sheet per student, weights and lr their own."""
    roster = tmp_path / "r.csv"
    roster.write_text("name\nAda Lovelace\nAlan Turing\n")
    out = tmp_path / "out"
    out.mkdir()
    args = ["exercise", "--template", "klaas-ch1", "--roster", str(roster), "--outdir", str(out),
            "--vary-lr"]  # fmt: skip
    assert main(args) == EXIT_OK
    ada, alan = out / "Ada_Lovelace.xlsx", out / "Alan_Turing.xlsx"
    books = [openpyxl.load_workbook(p) for p in (ada, alan)]
    sheet = SHEETS["logreg"]
    w = [[c.value for row in b[sheet]["P3:R15"] for c in row] for b in books]
    assert w[0] != w[1] and all(isinstance(v, float) for v in w[0])
    assert books[0][sheet]["B1"].value != books[1][sheet]["B1"].value
    g = grade(ada)
    assert g.student == "Ada Lovelace"
    assert {(b.block, b.verdict) for b in g.sheets[0].blocks if b.block in ("W1", "b1")} == {
        ("W1", "correct"), ("b1", "correct")}  # fmt: skip
    # Filled in (the filler enters weights of its own), it grades in full, with its own lr.
    filled = fill(tmp_path / "ada-filled.xlsx", template=ada)
    assert grade(filled).score == 100.0


# The book author's own softmax: z2 is AQ:AS, but each cell reads the columns one to its right
# (=EXP(AR3)/(SUM(EXP(AR3:AT3))) in AU3, filled right and down as written); in the arrays style
# the same columns read by one array formula.
AUTHOR_SOFTMAX = {
    "logreg": ("Z", "W"),  # A1 in Z:AB, Z1 in V:X
    "mlp": ("AU", "AR"),  # A2 in AU:AW, z2 in AQ:AS
}


def _author_softmax(model: str, style: str):
    out, read = (openpyxl.utils.column_index_from_string(c) for c in AUTHOR_SOFTMAX[model])
    letter = openpyxl.utils.get_column_letter

    def edit(wb):
        ws = wb[SHEETS[model]]
        if style == "arrays":
            e = f"EXP({letter(read)}3:{letter(read + 2)}180)"
            block = f"{letter(out)}3:{letter(out + 2)}180"
            ws[f"{letter(out)}3"] = ArrayFormula(block, f"={e}/MMULT({e},{{1;1;1}})")
            return
        for r in range(3, 181):
            for j in range(3):
                a, b = letter(read + j), letter(read + j + 2)
                ws.cell(r, out + j).value = f"=EXP({a}{r})/(SUM(EXP({a}{r}:{b}{r})))"

    return edit


@pytest.mark.parametrize("style", ["cells", "arrays"])
def test_the_authors_four_mistakes(klaas, tmp_path, style):
    """The book author's sheet as fill plants it: exactly the four blocks an expert finds are
    not correct, each wrong with the hint its mistake gets alone."""
    g = grade(fill(tmp_path / "authors.xlsx", style=style, mistake=AUTHORS), klaas)
    want = {(SHEETS[model], block): m for m in AUTHORS for model, block in MISTAKES[m].items()}
    assert len(want) == 4
    got = {(s.sheet, b.block): b for s in g.sheets for b in s.blocks if b.verdict != "correct"}
    assert set(got) == set(want)
    for where, m in want.items():
        verdict, hint = EXPECTED[m]
        assert got[where].verdict == verdict == "wrong", where
        assert got[where].hint and hint in got[where].hint, (where, got[where].hint)
    assert g.score == 100.0 * (32 - 4) / 32


@pytest.mark.parametrize("style", ["cells", "arrays"])
@pytest.mark.parametrize("model", sorted(AUTHOR_SOFTMAX))
def test_the_authors_softmax_reads_the_columns_beside_z(klaas, tmp_path, model, style):
    ok = fill(tmp_path / "ok.xlsx", models=(model,), style=style)
    g = grade(edit_book(ok, tmp_path / "s.xlsx", _author_softmax(model, style)), klaas)
    sheet, a = SHEETS[model], "A1" if model == "logreg" else "A2"
    assert [x for x in _not_correct(g) if x[0] == sheet] == [(sheet, a, "wrong")]
    b = next(b for s in g.sheets if s.sheet == sheet for b in s.blocks if b.block == a)
    z, cols = ("Z1", ("W:Y", "V:X")) if model == "logreg" else ("z2", ("AR:AT", "AQ:AS"))
    assert f"reads columns {cols[0]}, one column to the right of {z} ({cols[1]})" in b.hint
