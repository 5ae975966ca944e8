"""A user's CSV at the edges: line endings, huge fields, numbers a spreadsheet's doubles cannot
normalise, class and column names a file cannot hold; and no NumPy warning on the terminal.

Each refusal is checked twice: in the library (DataError) and through the command line, where
it is exit 2 and exactly one line on stderr naming the file, never a traceback, never
"unexpected ... (please report)", never a RuntimeWarning. pytest turns warnings into errors
(pyproject's filterwarnings), so a NumPy warning inside `main` would surface as "unexpected".
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from conftest import small_spec
from xlnet.cli import EXIT_OK, EXIT_USAGE, main
from xlnet.data import (
    NORMALISATION_PROBLEMS,
    DataError,
    Dataset,
    load_csv,
    load_wine,
    normalisation_problem,
    split,
    wine_path,
)
from xlnet.layout import DATA, DATA_TOP
from xlnet.program import build_program
from xlnet.reference import gradient_check, train
from xlnet.run import Run, inputs_for
from xlnet.spec import Spec
from xlnet.tolerances import FD_TOLERANCE
from xlnet.verification import verify

# What a user must never see on stderr.
NEVER = ("Traceback", "unexpected", "please report", "RuntimeWarning")
QUICK = ["--epochs", "2"]  # enough to write and check a workbook


def wine_rows() -> list[list[str]]:
    with wine_path().open(newline="") as f:
        return list(csv.reader(f))


def write_csv(
    path: Path, rows: list[list[str]], end: str = "\n", quoting: int = csv.QUOTE_MINIMAL
) -> Path:
    """`rows` as CSV with `end` closing every line (the csv module quotes only a field that
    holds `end`, a comma or a quote unless told to quote all)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=end, quoting=quoting).writerows(rows)
    path.write_bytes(buf.getvalue().encode())
    return path


def wine_with(path: Path, column: str, value) -> Path:
    """The wine data with `column`'s value on each data row i replaced by value(i)."""
    rows = wine_rows()
    j = rows[0].index(column)
    for i, row in enumerate(rows[1:]):
        row[j] = value(i)
    return write_csv(path, rows)


def refused(capsys, csv_path: Path, tmp_path: Path, *extra: str) -> str:
    """Build from `csv_path` through the CLI; assert a clean refusal; return its one line."""
    out = tmp_path / "out.xlsx"
    code = main(["build", "logreg", "--data", str(csv_path), "-o", str(out), *extra])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE, err
    assert err.count("\n") == 1, err
    assert str(csv_path) in err or csv_path.name in err, err
    for word in NEVER:
        assert word not in err, err
    assert not out.exists()
    return err


def built(capsys, csv_path: Path, tmp_path: Path, *extra: str) -> Path:
    """Build from `csv_path` through the CLI; assert success and a quiet stderr."""
    out = tmp_path / "out.xlsx"
    code = main(["build", "logreg", "--data", str(csv_path), "-o", str(out), *QUICK, *extra])
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    for word in NEVER:
        assert word not in err, err
    return out


# --- line endings and the csv module's limits ----------------------------------------------


@pytest.mark.parametrize("end", ["\r", "\r\n", "\n"], ids=["CR (old Mac)", "CRLF", "LF"])
def test_every_line_ending_reads_the_same(tmp_path, end):
    data = load_csv(write_csv(tmp_path / "wine.csv", wine_rows(), end), target="Cultivar")
    wine = load_wine()
    assert data.feature_names == wine.feature_names
    np.testing.assert_array_equal(data.features, wine.features)
    np.testing.assert_array_equal(data.labels, wine.labels)


def test_cr_only_file_builds_and_verifies(tmp_path, capsys):
    path = write_csv(tmp_path / "mac.csv", wine_rows(), "\r")
    assert b"\n" not in path.read_bytes()
    out = built(capsys, path, tmp_path, "--target", "Cultivar")
    assert verify(out).ok


def test_a_quoted_line_break_stays_inside_its_field(tmp_path):
    # A class "a\rb" in a CR-only file: the quotes keep it one field, and it is then refused
    # as a class name (below) rather than splitting the row.
    path = tmp_path / "q.csv"
    path.write_bytes(b'y,x\r"a\rb",1\r"c",2\r')
    with pytest.raises(DataError, match=r"line 2, column 'y': the class 'a\\rb'"):
        load_csv(path)


def test_line_numbers_count_blank_lines(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("y,a\n\n1,2\n\n2,x\n")
    with pytest.raises(DataError, match="line 5, column 'a': 'x' is not a number"):
        load_csv(path)


def test_a_field_over_the_csv_limit_is_one_line(tmp_path, capsys):
    rows = wine_rows()
    rows[3][1] = "1" * (csv.field_size_limit() + 1)
    path = write_csv(tmp_path / "long.csv", rows)
    with pytest.raises(DataError, match="line 4 holds a field over 131,072 characters"):
        load_csv(path)
    assert "line 4" in refused(capsys, path, tmp_path)


# --- numbers a spreadsheet cannot normalise ------------------------------------------------

# (value of data row i, what the message says): each fails in the spreadsheet's AVERAGE,
# STDEV.P or (x - mean) / std, and each built a broken file or a misleading refusal before.
NOT_NORMALISABLE = {
    "+-1e308 (STDEV.P's squares)": (lambda i: "1e308" if i % 2 else "-1e308", "too large"),
    "near 1e308 (AVERAGE's sum)": (lambda i: f"{1e308 - i * 1e300!r}", "too large"),
    "+-1e160 (squares overflow)": (lambda i: "1e160" if i % 2 else "-1e160", "too large"),
    "one denormal (std 0)": (lambda i: "5e-324" if i % 2 else "0", "too close together"),
    "spread 1e-170 (std underflows)": (lambda i: f"{1 + i % 3}e-170", "too close together"),
}


@pytest.mark.parametrize("case", NOT_NORMALISABLE)
def test_data_a_spreadsheet_cannot_normalise_is_refused(tmp_path, capsys, case):
    value, says = NOT_NORMALISABLE[case]
    path = wine_with(tmp_path / "f.csv", "Ash", value)
    with pytest.raises(DataError, match=f"column 'Ash' holds values {says}"):
        load_csv(path, target="Cultivar")
    err = refused(capsys, path, tmp_path, "--target", "Cultivar")
    assert "column 'Ash'" in err and says in err and "diverges" not in err


# Extreme but sound: every mean, std and z-score is a normal double, so these must build and
# verify, with no error cell.
NORMALISABLE = {
    "1e150": lambda i: f"{1 + i % 7}e150",
    "1e-150": lambda i: f"{1 + i % 7}e-150",
    "denormal among ordinary": lambda i: "5e-324" if i == 0 else f"{i % 5}",
}


@pytest.mark.parametrize("case", NORMALISABLE)
def test_extreme_but_sound_data_builds_and_verifies(tmp_path, capsys, case):
    path = wine_with(tmp_path / "f.csv", "Ash", NORMALISABLE[case])
    out = built(capsys, path, tmp_path, "--target", "Cultivar")
    report = verify(out)
    assert report.ok, report.table()


def test_the_training_part_is_checked_with_the_held_out_split(tmp_path, capsys):
    """A column that varies only through one held-out row: the whole file normalises, the
    training part (whose mean and std the Test sheet uses too) does not."""
    fraction, seed = 0.3, 0
    wine = load_wine()
    numbered = replace(wine, features=np.arange(wine.n, dtype=float)[:, None].repeat(wine.f, 1))
    first_held = int(split(numbered, fraction, seed)[1].features[0, 0])
    rows = wine_rows()
    j = rows[0].index("Ash")
    for i, row in enumerate(rows[1:]):
        row[j] = "1" if i == first_held else ("5e-324" if i % 2 else "0")
    path = write_csv(tmp_path / "part.csv", rows)
    load_csv(path, target="Cultivar")  # the whole file is fine
    err = refused(capsys, path, tmp_path, "--target", "Cultivar", "--test-fraction",
                  str(fraction), "--seed", str(seed))  # fmt: skip
    assert "column 'Ash' holds values in the training part too close together" in err


def test_held_out_z_scores_are_checked_against_the_training_statistics():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(40, 2))
    features[:, 1] *= 1e-150  # a normal but tiny training std
    labels = np.repeat([1.0, 2.0], 20)
    data = Dataset(features, labels, ("a", "b"), "y", (1.0, 2.0), "tiny.csv")
    train_part, held = split(data, 0.25, seed=0)
    assert normalisation_problem(train_part.features, held.features) is None
    far = held.features.copy()
    far[0, 1] = 1e200  # (x - mean) / std = 1e350
    assert normalisation_problem(train_part.features, far) == (1, "z-score")


def test_every_problem_has_a_message():
    cases = {
        "constant": np.array([[1.0], [1.0]]),
        "overflow": np.array([[1e308], [-1e308]]),
        "underflow": np.array([[0.0], [5e-324]]),
    }
    for kind, column in cases.items():
        assert normalisation_problem(column) == (0, kind)
    assert set(NORMALISATION_PROBLEMS) == {*cases, "z-score"}


# --- class names and column names ----------------------------------------------------------

# A control character in a class name breaks the number format that shows it (styles.xml).
CONTROL = {"newline": "\n", "CR": "\r", "tab": "\t", "C0 SOH": "\x01", "DEL": "\x7f",
           "C1 NEL": "\x85", "not XML (U+FFFE)": "\ufffe"}  # fmt: skip


@pytest.mark.parametrize("case", CONTROL)
def test_a_class_name_with_a_control_character_is_refused(tmp_path, capsys, case):
    bad = f"set{CONTROL[case]}osa"
    rows = [["species", "a"]] + [[bad if i % 2 else "virginica", str(i)] for i in range(6)]
    path = write_csv(tmp_path / "classes.csv", rows, quoting=csv.QUOTE_ALL)
    code = f"U+{ord(CONTROL[case]):04X}"
    with pytest.raises(
        DataError, match=f"line 3, column 'species': the class .* {re.escape(code)}"
    ):
        load_csv(path)
    err = refused(capsys, path, tmp_path)
    assert "line 3" in err and code in err


def test_an_unquoted_cr_ends_the_row(tmp_path, capsys):
    """A bare CR is a line ending (old Mac), not part of a field: the row is cut short."""
    path = tmp_path / "cut.csv"
    path.write_bytes(b"y,a\n1,2\nse\rt,3\n")
    with pytest.raises(DataError, match="line 3 has 1 fields, the header 2"):
        load_csv(path)
    assert "line 3" in refused(capsys, path, tmp_path)


def test_ordinary_text_classes_still_load(tmp_path):
    rows = [["y", "a"]] + [["Cultivar 1" if i % 2 else "Æblé, ünï", str(i)] for i in range(6)]
    data = load_csv(write_csv(tmp_path / "ok.csv", rows))
    assert data.class_names == ("Cultivar 1", "Æblé, ünï")


@pytest.mark.parametrize("char", ["\x01", "\x1f", "\ufffe", "\uffff"])
def test_a_header_with_a_character_xml_cannot_hold_is_refused(tmp_path, capsys, char):
    rows = wine_rows()
    rows[0][2] = f"Malic{char}acid"
    path = write_csv(tmp_path / "head.csv", rows)
    code = f"U+{ord(char):04X}"
    with pytest.raises(DataError, match=f"column 3 of the header, .* holds {re.escape(code)}"):
        load_csv(path)
    assert code in refused(capsys, path, tmp_path)


@pytest.mark.parametrize("char", ["\n", "\t"])
def test_a_header_with_a_line_break_or_tab_round_trips(tmp_path, capsys, char):
    """XML holds these, so the name is written as it is and read back the same."""
    rows = wine_rows()
    rows[0][2] = f"Malic{char}acid"
    path = write_csv(tmp_path / "head.csv", rows)
    out = built(capsys, path, tmp_path)
    assert verify(out).ok
    wb = openpyxl.load_workbook(out, read_only=True)
    try:
        header = next(wb[DATA].iter_rows(min_row=DATA_TOP, max_row=DATA_TOP, values_only=True))
    finally:
        wb.close()
    assert f"Malic{char}acid" in header
    scorer = tmp_path / "scorer.xlsx"
    assert main(["export-scorer", str(out), "-o", str(scorer)]) == EXIT_OK
    assert "Traceback" not in capsys.readouterr().err


# --- no NumPy warning ever reaches the terminal --------------------------------------------

DIVERGING = [
    ["build", "mlp", "--lr", "50", "--activation", "relu"],
    ["build", "mlp", "--lr", "1000"],
    ["build", "mlp", "--lr", "999999", "--activation", "relu", "--optimizer", "adam"],
    ["sweep", "--lr", "0.1,1000", "--epochs", "5"],
    ["export-scorer", "mlp", "--lr", "1000"],
]


@pytest.mark.parametrize("argv", DIVERGING, ids=lambda a: " ".join(a))
def test_huge_learning_rates_print_no_numpy_warning(tmp_path, capsys, argv):
    code = main([*argv, "-o", str(tmp_path / "out.xlsx")])
    err = capsys.readouterr().err
    assert code == EXIT_OK, err
    for word in NEVER:
        assert word not in err, err


def test_a_diverging_build_is_still_refused_quietly():
    """Overflow is still found (Prepared.overflow) with NumPy silenced: one line, exit 2, from
    a real process whose warnings are errors."""
    argv = ["build", "mlp", "--lr", "1000", "--activation", "relu", "--epochs", "200",
            "-o", "never.xlsx"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-W", "error", "-m", "xlnet", *argv],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == EXIT_USAGE
    assert proc.stderr.count("\n") == 1 and "diverges" in proc.stderr, proc.stderr
    for word in NEVER:
        assert word not in proc.stderr


def test_the_reference_is_silent_even_when_numpy_would_raise(wine):
    """Every floating-point event is kept inside the reference: under np.errstate(all="raise")
    a diverging run still trains, and its overflow is still in the values."""
    spec = Spec(model="mlp", activation="relu", lr=1000, epochs=200, test_fraction=0.3)
    with np.errstate(all="raise"):
        run = Run.from_spec(spec, wine)
    assert run.overflow() is not None


def test_hostile_inputs_train_silently_and_fail_the_gradient_check(wine):
    """A workbook's edited inputs (what verify reads) can overflow in the data steps and the
    finite differences: no warning, and the check reports the failure."""
    spec = small_spec("mlp", "softmax")
    program = build_program(spec, wine.n, wine.f, wine.k)
    inputs = inputs_for(program, wine, spec)
    raw = inputs.raw.copy()
    raw[::2, 0], raw[1::2, 0] = 1e308, -1e308
    values = train(program, replace(inputs, raw=raw))
    assert not np.isfinite(values[("Std", None)]).all()
    huge = {p: v * 1e300 if p.startswith("W") else v for p, v in inputs.init.items()}
    worst, _ = gradient_check(program, replace(inputs, init=huge))
    assert not worst <= FD_TOLERANCE


@pytest.mark.parametrize(
    ("name", "says"),
    [("x" * 65, "at most 64"), ("a_x005F_b", "_xHHHH_"), ("#N/A", "error value"),
     (" #div/0! ", "error value")],
)  # fmt: skip
def test_class_names_that_cannot_read_back_are_refused(tmp_path, capsys, name, says):
    from xlnet.cli import main

    path = tmp_path / "c.csv"
    path.write_text(f"k,x\n{name},1\nb,2\n{name},3\nb,4\n", encoding="utf-8")
    assert main(["build", "logreg", "--data", str(path), "-o", str(tmp_path / "o.xlsx")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "c.csv" in err[0] and says in err[0]
    assert not (tmp_path / "o.xlsx").exists()
