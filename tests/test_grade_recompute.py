"""Grading recomputes only the sheets a patch can change: which sheets read which, and that the
values and causes it gets are those of evaluating the whole working copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from klaas_fill import SHEETS, fill

import xlnet.workcopy as workcopy
from xlnet.evaluate import evaluate
from xlnet.grade import grade_file as grade
from xlnet.workcopy import _closure, _sheet_reads
from xlnet.xlsxio import Book, Sheet, read_book
from xlsx_edit import edit_book


def _book(formulas: dict[str, list[str]], names: dict[str, str] | None = None) -> Book:
    sheets = {
        name: Sheet(name, formulas={(k, 0): t for k, t in enumerate(texts)})
        for name, texts in formulas.items()
    }
    return Book(Path("x.xlsx"), sheets, names or {})


def test_sheet_reads_names_the_sheets_before_each_bang():
    book = _book({
        "Data": ["=A1+1"],
        "Net": ["=SUM(Data!A1:A3)", "='It''s'!B2*2"],
        "It's": ["=data!A1"],
    })  # fmt: skip
    assert _sheet_reads(book) == {
        "Data": frozenset(), "Net": frozenset({"Data", "It's"}), "It's": frozenset({"Data"}),
    }  # fmt: skip


@pytest.mark.parametrize(
    "text",
    ['="hi!"', "=SUM(Data:Other!A1)", "=Nowhere!A1", "=INDIRECT(A1)", "=[1]Data!A1", "=RATE*2"],
)
def test_sheet_reads_any_sheet_when_unsure(text):
    book = _book({"Data": ["=1"], "Other": ["=2"], "Net": [text]}, names={"RATE": "Data!$A$1"})
    assert _sheet_reads(book)["Net"] is None
    assert _sheet_reads(book)["Data"] == frozenset()


def test_closure_takes_the_readers_and_what_they_read():
    reads = {"Data": frozenset(), "LR": frozenset(), "Net": frozenset({"Data"})}
    assert _closure(reads, {"LR"}) == {"LR"}
    assert _closure(reads, {"Net"}) == {"Net", "Data"}
    assert _closure(reads, {"Data"}) == {"Data", "Net"}
    assert _closure({**reads, "Odd": None}, {"LR"}) is None


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    """A mistake on both sheets (each patched and read) and a circle beside the blocks (an
    error with a cause on each recomputed sheet); then with a sheet reading another that a
    patch changes."""
    tmp = tmp_path_factory.mktemp("recompute")
    circles = {(sheet, cell): f"={other}+1" for sheet in SHEETS.values()
               for cell, other in (("ZZ1", "ZZ2"), ("ZZ2", "ZZ1"))}  # fmt: skip
    plain = edit_book(fill(tmp / "filled.xlsx", mistake="error", seed=5), tmp / "plain.xlsx",
                      circles)  # fmt: skip
    reads = {("Data", "AZ1"): f"='{SHEETS['logreg']}'!AW3*2"}
    return [plain, edit_book(plain, tmp / "data-reads-lr.xlsx", reads)]


def test_recomputed_sheets_match_the_whole_book(files, klaas, monkeypatch):
    seen = []
    recompute = workcopy.WorkingCopy._recompute

    def checked(self, last):
        got = recompute(self, last)
        full = evaluate(self.book, lenient=True)
        seen.append(_closure(_sheet_reads(self.book), self._dirty))
        assert got.why == full.why
        for g, f in zip(got.grids, full.grids, strict=True):
            rows, cols = max(g.shape[0], f.shape[0]), max(g.shape[1], f.shape[1])
            for r in range(rows):
                for c in range(cols):
                    a = g[r, c] if r < g.shape[0] and c < g.shape[1] else None
                    b = f[r, c] if r < f.shape[0] and c < f.shape[1] else None
                    assert str(a) == str(b) if isinstance(a, str) else a == b, (r, c, a, b)
        return got

    monkeypatch.setattr(workcopy.WorkingCopy, "_recompute", checked)
    for f in files:
        g = grade(f, klaas)
        assert g.error is None and g.score < 100
    assert {"Logistic Regression"} in seen  # one sheet on its own
    assert {"Logistic Regression", "Data", "2 Layer Wine Net"} in seen  # its readers too


def test_grades_as_with_whole_book_recomputation(files, klaas, monkeypatch):
    partial = [grade(f, klaas).to_json() for f in files]
    monkeypatch.setattr(workcopy, "_closure", lambda reads, dirty: None)
    assert [grade(f, klaas).to_json() for f in files] == partial


def test_patches_leave_the_book_as_read(files):
    book = read_book(files[0])
    before = {k: (dict(s.values), dict(s.formulas), dict(s.arrays)) for k, s in book.sheets.items()}
    work = workcopy.WorkingCopy(book, files[0])
    for s in work.book.sheets.values():
        s.formulas.clear()
        s.arrays.clear()
        s.values[(0, 0)] = 1.0
    after = {k: (dict(s.values), dict(s.formulas), dict(s.arrays)) for k, s in book.sheets.items()}
    assert after == before
