"""Your own data: any numeric CSV with a class column, through the command line, both engines."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import FLOWERS_PER_SPECIES, SPECIES
from xlnet.cli import EXIT_OK, EXIT_USAGE, main
from xlnet.data import load_csv
from xlnet.evaluate import evaluate
from xlnet.layout import DATA, DATA_TOP
from xlnet.run import Run
from xlnet.verification import verify
from xlnet.xlsxio import read_book


@pytest.fixture(scope="module")
def flowers_book(tmp_path_factory, flowers):
    """The flowers built through the command line: (the CSV, the workbook)."""
    out = tmp_path_factory.mktemp("own") / "flowers.xlsx"
    code = main(["build", "mlp", "--hidden", "4", "--data", str(flowers), "--target", "species",
                 "--test-fraction", "0.25", "--epochs", "5", "-o", str(out)])  # fmt: skip
    assert code == EXIT_OK
    return flowers, out


def test_feature_names_become_headers(flowers_book):
    _csv, out = flowers_book
    run = Run.from_book(read_book(out))
    data = read_book(out).sheet(DATA).values
    raw = run.layout.block("Raw")
    names = [data[(DATA_TOP - 1, raw.col + j)] for j in range(raw.ncols)]
    assert names == ["sepal length", "sepal width", "petal length", "petal width (cm)"]
    assert data[(DATA_TOP - 1, 0)] == "species"
    assert run.program.dims.f == 4 and run.program.dims.k == 3
    assert run.program.dims.n + run.program.dims.n_test == len(SPECIES) * FLOWERS_PER_SPECIES


def test_text_classes_are_coded_and_shown_by_name(flowers_book):
    csv, out = flowers_book
    dataset = load_csv(csv, "species")
    assert dataset.class_names == SPECIES and dataset.classes == (1.0, 2.0, 3.0)
    import openpyxl

    ws = openpyxl.load_workbook(out)[DATA]
    label = ws.cell(DATA_TOP + 1, 1)
    assert label.value in (1, 2, 3)
    assert label.number_format == f'"{SPECIES[int(label.value) - 1]}"'


def test_formulas_agree_with_numpy(flowers_book):
    report = verify(flowers_book[1])
    assert report.ok, report.table()


@pytest.mark.libreoffice
def test_libreoffice_agrees_with_numpy(need_soffice, flowers_book):
    report = verify(flowers_book[1], engine="libreoffice")
    assert report.ok, report.table()


def test_numeric_classes_and_the_default_target(tmp_path):
    csv = tmp_path / "two.csv"
    rng = np.random.default_rng(1)
    rows = ["label,a,b"] + [f"{7 if i % 2 else -1},{rng.normal():.3f},{rng.normal() + i % 2:.3f}"
                            for i in range(30)]  # fmt: skip
    csv.write_text("\n".join(rows))
    out = tmp_path / "two.xlsx"
    assert main(["build", "logreg", "--data", str(csv), "--epochs", "3", "-o", str(out)]) == 0
    book = read_book(out)
    run = Run.from_book(book)
    assert run.inputs.classes.tolist() == [[-1.0, 7.0]]
    assert verify(out).ok
    assert not evaluate(book).error_cells()


BAD = {
    "one class": ("y,a\n1,2\n1,3\n", "single class"),
    "eleven classes": ("y,a\n" + "".join(f"{i},{i * 1.5}\n" for i in range(11)), "at most 10"),
    "text feature": ("y,a\n1,x\n2,3\n", "not a number"),
    "constant feature": ("y,a,b\n1,2,5\n2,3,5\n", "constant"),
    "ragged": ("y,a\n1,2\n2\n", "fields"),
    "no features": ("y\n1\n2\n", "no feature columns"),
    "empty class": ("y,a\n1,2\n,3\n", "class is empty"),
    "blank header": ("y,,a\n1,2,3\n", "no name"),
    "empty file": ("", "empty"),
    "python-only number": ("y,a\n1,1_0\n2,3\n", "'1_0' is not a number"),
    "nul bytes": ("y,a\n1,\x002\n2,3\n", "NUL"),
}


@pytest.mark.parametrize("case", BAD)
def test_unusable_data_is_one_clear_line(tmp_path, capsys, case):
    text, message = BAD[case]
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    out = tmp_path / "out.xlsx"
    assert main(["build", "logreg", "--data", str(csv), "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_bad_data_never_touches_an_existing_output(tmp_path, capsys):
    csv = tmp_path / "bad.csv"
    csv.write_text("y,a\n1,x\n")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"keep me")
    assert main(["build", "logreg", "--data", str(csv), "-o", str(out)]) == EXIT_USAGE
    assert out.read_bytes() == b"keep me"


def test_output_equal_to_the_data_is_refused(tmp_path, capsys):
    data = tmp_path / "data.xlsx"  # a CSV misnamed .xlsx, the only way the two can clash
    data.write_text("y,a\n1,2\n2,3\n")
    assert main(["build", "logreg", "--data", str(data), "-o", str(data)]) == EXIT_USAGE
    assert "also an input" in capsys.readouterr().err
    assert data.read_text() == "y,a\n1,2\n2,3\n"


def test_data_too_big_for_a_sheet_is_a_clear_error(tmp_path, capsys):
    csv = tmp_path / "big.csv"
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60_000, 2))
    csv.write_text("y,a,b\n" + "\n".join(f"{i % 2},{a:.3f},{b:.3f}" for i, (a, b)
                                          in enumerate(values)))  # fmt: skip
    out = tmp_path / "big.xlsx"
    assert main(["build", "logreg", "--data", str(csv), "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "rows" in err and err.count("\n") == 1
    assert not out.exists()


def test_target_needs_data(capsys, tmp_path):
    assert main(["build", "logreg", "--target", "y", "-o", str(tmp_path / "x.xlsx")]) == 2
    assert "--target goes with --data" in capsys.readouterr().err


def test_spreadsheet_exports_are_read(tmp_path):
    """A European-locale export (semicolons, decimal commas) and a trailing empty column."""
    semi = tmp_path / "semi.csv"
    semi.write_text("cls;a;b\n1;2,5;3\n2;3;1,25\n1;2,25;3\n2;3,5;1\n")
    data = load_csv(semi)
    assert data.feature_names == ("a", "b")
    np.testing.assert_array_equal(data.features[:, 0], [2.5, 3.0, 2.25, 3.5])
    trail = tmp_path / "trail.csv"
    trail.write_text("cls,a,b,\r\n1,2,3,\r\n2,3,1,\r\n")
    assert load_csv(trail).feature_names == ("a", "b")


def test_text_that_looks_like_a_formula_stays_text(tmp_path):
    """A header "=a" or a file named "=1+1.csv" is written as text, never as a formula."""
    csv = tmp_path / "=1+1.csv"
    csv.write_text('cls,=a,+b,=HYPERLINK("http://x")\n1,2,3,1\n2,3,1,2\n1,2.5,3,3\n2,3.5,1,4\n')
    out = tmp_path / "out.xlsx"
    assert main(["build", "logreg", "--data", str(csv), "--epochs", "2", "-o", str(out)]) == 0
    report = verify(out)
    assert report.ok and report.unchecked_formulas == 0, report.table()
    data = read_book(out).sheet(DATA).values
    assert data[(DATA_TOP - 1, 1)] == "=a" and data[(DATA_TOP - 1, 3)].startswith("=HYPERLINK")


def test_confusion_headers_show_class_names(flowers_book):
    import openpyxl

    _csv, out = flowers_book
    run = Run.from_book(read_book(out))
    b = run.layout.block("Confusion")
    ws = openpyxl.load_workbook(out)["Summary"]
    heads = [ws.cell(b.row, b.col + 1 + j).number_format for j in range(3)]
    assert heads == [f'"{name}"' for name in SPECIES]
    assert ws.cell(b.row + 1, b.col + 1).number_format == "0"
