"""The real client: headless LibreOffice, forced to recalculate, against the NumPy reference."""

import pytest

from conftest import LAYOUT_CASES, SMALL_EPOCHS
from xlnet.layout import LR_NAME, TRAIN
from xlnet.libreoffice import recalculate
from xlnet.run import Run
from xlnet.verification import FD_CHECK, verify
from xlnet.xlsxio import read_book, read_cached
from xlsx_edit import edit_book, set_all_cached, set_formula, setting_cell

pytestmark = pytest.mark.libreoffice


@pytest.mark.parametrize(("model", "output", "layout"), LAYOUT_CASES)
def test_libreoffice_agrees_with_numpy(need_soffice, small_books, model, output, layout):
    report = verify(small_books[(model, output, layout)], engine="libreoffice")
    assert report.ok, report.table()
    assert report.error_cells == []
    assert report.unchecked_formulas == 0
    assert sum(b.cells for b in report.blocks if b.block != FD_CHECK) == report.formula_cells


def test_no_error_cells_anywhere(need_soffice, small_books, tmp_path):
    out = recalculate(small_books[("mlp", "sigmoid")], tmp_path)
    errors = [
        (sheet, rc, v)
        for sheet, cells in read_cached(out).items()
        for rc, v in cells.items()
        if isinstance(v, str) and v.startswith("#") and v.rstrip("!?").isupper()
    ]
    assert errors == []


def test_recalculation_is_forced(need_soffice, small_books, tmp_path):
    """A workbook whose cached values are all wrong comes back right: LibreOffice recalculated."""
    bad = tmp_path / "stale.xlsx"
    set_all_cached(small_books[("logreg", "softmax")], bad, TRAIN, "12345")
    out = recalculate(bad, tmp_path / "out")
    assert 12345 not in read_cached(out)[TRAIN].values()
    assert verify(bad, engine="libreoffice").ok


def test_a_failed_conversion_throws_its_profile_away(need_soffice, small_books, tmp_path):
    """The profile is kept between conversions (a second one reuses it and still recalculates:
    the test above), and thrown away when one fails, so no stale state is reused."""
    from xlnet import libreoffice
    from xlnet.libreoffice import LibreOfficeError

    recalculate(small_books[("logreg", "softmax")], tmp_path / "a")
    kept = libreoffice._profile
    assert kept is not None and kept.is_dir()
    recalculate(small_books[("logreg", "softmax")], tmp_path / "b")
    assert libreoffice._profile == kept
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    with pytest.raises(LibreOfficeError):
        recalculate(junk, tmp_path / "c", timeout=120)
    assert libreoffice._profile is None and not kept.exists()
    out = recalculate(small_books[("logreg", "softmax")], tmp_path / "d")
    assert out.exists()


def test_wrong_formula_is_caught(need_soffice, small_books, tmp_path):
    src = small_books[("mlp", "softmax")]
    run = Run.from_book(read_book(src))
    cell = run.layout.block("dZ1", SMALL_EPOCHS).ref(7, 1, TRAIN)
    bad = tmp_path / "wrong.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("(1-", "(2-"))
    report = verify(bad, engine="libreoffice")
    assert not report.ok
    first = report.failures[0]
    assert (first.block, first.epoch, first.cell) == ("dZ1", SMALL_EPOCHS, f"{TRAIN}!{cell}")


def test_file_saved_by_libreoffice_with_new_learning_rate_verifies(
    need_soffice, small_books, tmp_path
):
    """A user changes learning_rate and saves in LibreOffice: the file still verifies."""
    edited = tmp_path / "edited.xlsx"
    edit_book(small_books[("logreg", "sigmoid")], edited, {setting_cell(LR_NAME): 3.5})
    saved = recalculate(edited, tmp_path / "lo")  # opened, recalculated and saved by LibreOffice
    report = verify(saved)
    assert report.ok, report.table()
    assert Run.from_book(read_book(saved)).inputs.lr == 3.5


def test_wrong_array_formula_is_caught(need_soffice, small_books, tmp_path):
    src = small_books[("logreg", "softmax", "arrays")]
    run = Run.from_book(read_book(src))
    cell = run.layout.block("New b1", 2).ref(0, 0, TRAIN)
    bad = tmp_path / "wrong.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("-learning_rate", "+learning_rate"))
    report = verify(bad, engine="libreoffice")
    first = report.failures[0]
    assert (first.block, first.epoch, first.cell) == ("New b1", 2, f"{TRAIN}!{cell}")
