"""`xlnet check --reveal`: each graded block's expected formula, only when asked, in the form
the student chose; the template's formulas themselves compute a correct book."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from klaas_fill import fill
from openpyxl.worksheet.formula import ArrayFormula

import xlnet
from xlnet import a1
from xlnet.grade import grade_file
from xlnet.libreoffice import recalculate
from xlnet.tasks import tasks_for
from xlnet.template import TemplateError, load_template
from xlnet.xlsxio import read_book
from xlsx_edit import edit_book


def _form_used(ws, spec) -> str:
    """The label of the form a filled book uses: the largest whose last cell holds something."""
    label = spec.forms[0][0]
    for lbl, b in spec.forms:
        if ws.cell(b.row + b.nrows, b.col + b.ncols).value is not None:
            label = lbl
    return label


def _with_template_formulas(src: Path, dst: Path, template) -> Path:
    """`src` with every formula block overwritten by the template's formula, filled over the
    form the file uses."""

    def write(wb) -> None:
        for sheet in template.sheets:
            ws, judged = wb[sheet.name], {}
            for spec in sheet.blocks:
                if not spec.forms:
                    continue
                judged[spec.name] = _form_used(ws, spec)
                if spec.kind not in ("formula", "entered"):
                    continue
                block = dict(spec.forms)[judged[spec.name]]
                for _, _, r, c in block.cells():
                    ws.cell(r + 1, c + 1).value = spec.formula_at(judged, r, c)

    return edit_book(src, dst, write)


# Every form of every block, in two books: the bias and the loss forms are independent.
@pytest.mark.parametrize(("bias", "loss"), [("scalar", "column"), ("vector", "per_class")])
def test_the_templates_formulas_compute_a_correct_book(tmp_path, klaas, bias, loss):
    # Wrong numbers (another book's) in every formula block first: only the template's
    # formulas can make them right.
    src = fill(tmp_path / "src.xlsx", bias=bias, loss=loss, mistake="wrong_sign")
    out = _with_template_formulas(src, tmp_path / "t.xlsx", klaas)
    g = grade_file(out, klaas)
    assert [(b.block, b.verdict, b.hint) for b in g.graded if b.verdict != "correct"] == []
    wrote = read_book(out)
    assert all("LOG(" not in f and "^" not in f for s in wrote.sheets.values()
               for f in s.formulas.values())  # fmt: skip


@pytest.mark.libreoffice
def test_libreoffice_computes_the_templates_formulas_alike(need_soffice, tmp_path, klaas):
    # The per-class forms: INDEX with 0 and ROWS/COLUMNS, where an engine could differ (the
    # scalar forms are MMULT, EXP, LN and SUM per cell, as klaas_fill's LibreOffice tests).
    from test_klaas_fill import MODELS, check_against_numpy, from_cached

    bias, loss = "vector", "per_class"

    src = fill(tmp_path / "src.xlsx", bias=bias, loss=loss, mistake="wrong_sign")
    out = recalculate(_with_template_formulas(src, tmp_path / "t.xlsx", klaas), tmp_path / "lo")
    for model in MODELS:
        check_against_numpy(from_cached(out), model, bias, loss)


def test_every_formula_block_of_the_template_has_a_formula(klaas):
    for sheet in klaas.sheets:
        for spec in sheet.blocks:
            if spec.kind in ("formula", "entered"):
                keyed = {b.name: b for b in sheet.blocks}[spec.follows] if spec.follows else spec
                assert {lbl for lbl, _ in spec.formulas} == {lbl for lbl, _ in keyed.forms}


def _revealed(path: Path, template) -> dict[tuple[str, str], str | None]:
    g = grade_file(path, template, reveal=True)
    return {(s.sheet, b.block): b.expected_formula for s in g.sheets for b in s.blocks}


def test_revealed_in_the_form_the_student_chose(tmp_path, klaas):
    scalar = _revealed(fill(tmp_path / "a.xlsx", mistake="log"), klaas)
    vector = _revealed(fill(tmp_path / "b.xlsx", mistake="log", bias="vector",
                            loss="per_class"), klaas)  # fmt: skip
    lr = "Logistic Regression"
    # The first wrong cell is the loss's first: the formula is the one for that cell.
    assert scalar[(lr, "Sample Loss")] == "=-(AD3*LN(Z3)+AE3*LN(AA3)+AF3*LN(AB3))"
    assert vector[(lr, "Sample Loss")] == "=-AD3*LN(Z3)"
    assert scalar[(lr, "Total Loss")] == "=SUM(AH3:AH180)/$E$1"
    assert vector[(lr, "Total Loss")] == "=SUM(AH3:AJ180)/$E$1"
    assert scalar[(lr, "Z1")].endswith("+$T$3") and "INDEX($T$3:$T$5" in vector[(lr, "Z1")]
    assert scalar[(lr, "New b1")] == "=T3-$B$1*AW3"
    assert scalar[(lr, "W1")] is None  # a parameter has no formula


def test_the_formula_moves_to_the_first_wrong_cell(tmp_path, klaas):
    # "unanchored": the softmax's row range slides as it is filled right; the first wrong
    # cell is not the block's first, and the formula shown is the one for that cell.
    g = grade_file(fill(tmp_path / "u.xlsx", mistake="unanchored"), klaas, reveal=True)
    a1_grade = next(b for b in g.sheets[0].blocks if b.block == "A1")
    assert a1_grade.cell == "Logistic Regression!AA3"
    assert a1_grade.expected_formula == "=EXP(W3)/(EXP($V3)+EXP($W3)+EXP($X3))"


def test_nothing_is_revealed_unless_asked(tmp_path, cli):
    sub = fill(tmp_path / "s.xlsx", mistake="log")
    args = ["check", "--template", "klaas-ch1", sub, "--jobs", "1"]
    plain = cli(*args, "--json", "--feedback", tmp_path / "plain")
    shown = cli(*args, "--json", "--reveal", "--feedback", tmp_path / "shown")
    text, text_shown = cli(*args), cli(*args, "--reveal")
    assert "expected_formula" not in plain.stdout
    assert "expected formula" not in text.stdout
    doc = json.loads(shown.stdout)
    formulas = [b.get("expected_formula") for s in doc["sheets"] for b in s["blocks"]]
    assert "=-(AD3*LN(Z3)+AE3*LN(AA3)+AF3*LN(AB3))" in formulas
    assert "expected formula in AH3: =-(AD3*LN(Z3)" in text_shown.stdout
    for folder, present in (("plain", False), ("shown", True)):
        page = (tmp_path / folder / "s.html").read_text(encoding="utf-8")
        assert ("expected formula" in page) is present
        assert ("=-(AD3*LN(Z3)+AE3*LN(AA3)+AF3*LN(AB3))" in page) is present
        book = read_book(tmp_path / folder / "s.xlsx")
        assert book  # the copy reads
        notes = _note_texts(tmp_path / folder / "s.xlsx")
        assert notes and all(("expected formula" in n) is present for n in notes)


def _note_texts(path: Path) -> list[str]:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return [c.comment.text for ws in wb for row in ws.iter_rows() for c in row if c.comment]


@pytest.mark.parametrize("layout", ["cells", "arrays"])
def test_an_exercise_reveals_what_build_writes(tmp_path, layout):
    ex = xlnet.exercise("mlp", tmp_path / "ex.xlsx", epochs=1, hidden=(3,), layout=layout)
    built = tmp_path / "built.xlsx"
    xlnet.build("mlp", built, epochs=1, hidden=(3,), layout=layout)
    train = read_book(built).sheet("Train")
    [task] = tasks_for(read_book(ex[0]), None)
    graded = [s for s in task.blocks if s.kind == "formula"]
    assert len(graded) > 10
    for spec in graded:
        block = spec.forms[0][1]
        for _, _, r, c in block.cells():
            shown = task.formula_at(spec, {}, r, c)
            if (r, c) in train.arrays:
                text, nr, nc = train.arrays[(r, c)]
                assert shown == "{=" + text + "}" and (nr, nc) == (block.nrows, block.ncols)
                break
            if layout == "arrays" and shown.startswith("{"):
                continue  # a cell inside an array formula's block
            assert shown == train.formulas[(r, c)], (spec.name, a1.cell(r, c))


def test_an_exercise_filled_with_its_revealed_formulas_is_correct(tmp_path):
    ex = Path(xlnet.exercise("logreg", tmp_path / "ex.xlsx", epochs=2)[0])
    [task] = tasks_for(read_book(ex), None)

    def fill_in(wb) -> None:
        ws = wb["Train"]
        for spec in task.blocks:
            if spec.kind != "formula":
                continue
            block = spec.forms[0][1]
            for _, _, r, c in block.cells():
                text = task.formula_at(spec, {}, r, c)
                if text.startswith("{"):
                    ref = f"{a1.cell(block.row, block.col)}:" + a1.cell(
                        block.row + block.nrows - 1, block.col + block.ncols - 1
                    )
                    ws.cell(block.row + 1, block.col + 1).value = ArrayFormula(ref, text[1:-1])
                    break
                ws.cell(r + 1, c + 1).value = text

    done = edit_book(ex, tmp_path / "done.xlsx", fill_in)
    before, after = grade_file(ex), grade_file(done)
    assert before.score == 0.0 and after.score == 100.0, after.text()


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ('{ name = "W", range = "A1", kind = "param", formula = "=1" }', "has no formula"),
        ('{ name = "Z", range = "A1", check = "tanh", args = ["W"], formula = "1+1" }',
         'starts with "="'),
        ('{ name = "Z", range = "A1", check = "tanh", args = ["W"], '
         'formulas = { "wide" = "=W" } }', "'Z' has only one form"),
        ('{ name = "Z", range = "A1", check = "tanh", args = ["W"], follows = "Q", '
         'formula = "=A1" }', "follows 'Q', which is not a block above it"),
        ('{ name = "Z", range = "A1", check = "tanh", args = ["W"], follows = "W", '
         'formula = "=A1" }', "a formula for 'its one form'"),
        ('{ name = "Z", range = "A1", check = "tanh", args = ["W"], formula = "=A1", '
         'formulas = {} }', "not both"),
    ],
)  # fmt: skip
def test_bad_template_formulas_are_refused(tmp_path, block, why):
    path = tmp_path / "t.toml"
    path.write_text(
        'name = "t"\n[[sheet]]\nname = "S"\nlr = "B1"\nn = "E1"\nblocks = [\n'
        f'  {{ name = "W", kind = "param", forms = {{ "one" = "B3", "two" = "B3:C4" }} }},\n'
        f"  {block},\n]\n",
        encoding="utf-8",
    )
    if block.startswith('{ name = "W"'):  # the block under test is the only W
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(lines[:6] + lines[7:]) + "\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=why.replace("(", r"\(").replace(")", r"\)")):
        load_template(path)


def test_the_api_reveals_when_asked(tmp_path):
    sub = fill(tmp_path / "s.xlsx", mistake="dz2_from_a1")
    hidden = xlnet.check(sub, template="klaas-ch1", jobs=1)
    shown = xlnet.check(sub, template="klaas-ch1", jobs=1, reveal=True)
    assert all(b.expected_formula is None for g in hidden for b in g.graded)
    dz2 = next(b for b in shown[0].graded if b.block == "dZ2")
    assert dz2.verdict == "wrong" and dz2.expected_formula == f"={dz2_cell(dz2.cell)}"


def dz2_cell(cell: str) -> str:
    """dZ2 = A2 - Targets at the first wrong cell: the template's formula moved there."""
    r, c = a1.parse_cell(cell.rpartition("!")[2])
    return f"{a1.cell(r, c - 14)}-{a1.cell(r, c - 10)}"  # AU3-AY3 at BI3
