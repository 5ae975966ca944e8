"""A corpus of hostile and broken workbooks: each gets a one-line message naming the file and
the problem, and exit 2 (unusable) or 1 (it computes, but not what xlnet wrote); never a
traceback, a hang or a macro run."""

from __future__ import annotations

import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from xlnet.layout import TRAIN
from xlnet.run import Run
from xlnet.xlsxio import read_book
from xlsx_edit import edit_book, rewrite, set_dimension, set_formula, setting_cell, sheet_part

# Files built to exhaust memory or time: read in a process of their own, capped and timed.
BOMBS = ("zip bomb", "billion laughs")
ROWS = 1_048_576  # a sheet's last row


def one_line(result: subprocess.CompletedProcess, path: Path, *words: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0], lines[0]
    for w in words:
        assert w in lines[0], lines[0]


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">&lol4;</workbook>"""


def _corrupt(name: str, tmp: Path, good: Path) -> Path:
    p = tmp / "bad.xlsx"
    if name == "empty file":
        p.write_bytes(b"")
    elif name == "plain text":
        p.write_text("Cultivar,Alcohol\n1,14.2\n")
    elif name == "truncated zip":
        p.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif name == "xls renamed":
        p.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 504)
    elif name == "encrypted":
        p.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"EncryptionInfo" + b"\0" * 498)
    elif name == "ods renamed":
        _zip(p, {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                 "content.xml": b"<office:document-content/>"})  # fmt: skip
    elif name == "zip of other things":
        _zip(p, {"readme.txt": b"hello"})
    elif name == "zip bomb":
        _zip(p, {"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"0" * 60_000_000})
    elif name == "billion laughs":
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(p, "w") as zout:
            for item in zin.infolist():
                data = zin.read(item.filename)
                zout.writestr(item, BILLION_LAUGHS if item.filename == "xl/workbook.xml" else data)
    elif name == "folder":
        p.mkdir()
    elif name == "missing file":
        pass
    return p


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("empty file", ["not an .xlsx"]),
        ("plain text", ["not an .xlsx"]),
        ("truncated zip", ["not an .xlsx"]),
        ("xls renamed", ["legacy .xls"]),
        ("encrypted", ["encrypted"]),
        ("ods renamed", ["OpenDocument"]),
        ("zip of other things", ["no xl/workbook.xml"]),
        ("zip bomb", ["zip bomb"]),
        ("billion laughs", ["cannot read"]),
        ("folder", ["folder"]),
        ("missing file", ["no such file"]),
    ],
)
def test_unreadable_files(cli, tmp_path, small_books, case, words):
    bad = _corrupt(case, tmp_path, small_books[("logreg", "softmax")])
    result = cli("verify", bad, process=case in BOMBS)
    assert result.returncode == 2
    one_line(result, bad, *words)


@pytest.mark.parametrize(
    ("case", "edit", "code", "words"),
    [
        ("missing sheet", lambda wb: wb.remove(wb["Init"]), 2, ["no sheet named 'Init'"]),
        ("text where a number belongs", {("Init", "B3"): "abc"}, 2,
         ["Init!B3", "should hold a number"]),
        ("error value typed in the data", {("Data", "C7"): "#DIV/0!"}, 2, ["Data!C7"]),
        ("empty learning rate", {setting_cell("learning_rate"): None}, 2, ["is empty"]),
        ("circular reference", {("Summary", "H30"): "=H31+1", ("Summary", "H31"): "=H30+1"},
         2, ["circular reference", "Summary!H3"]),
        ("external workbook link", {("Summary", "H30"): "=[1]Sheet1!A1"}, 2,
         ["another workbook"]),
    ],
)  # fmt: skip
def test_broken_workbooks(cli, tmp_path, small_books, case, edit, code, words):
    bad = edit_book(small_books[("logreg", "softmax")], tmp_path / "bad.xlsx", edit)
    result = cli("verify", bad)
    assert result.returncode == code, result.stdout[-800:] + result.stderr
    one_line(result, bad, *words)


def test_volatile_function_fails_and_is_named(cli, tmp_path, small_books):
    src = small_books[("logreg", "softmax")]
    cell = Run.from_book(read_book(src)).layout.block("New b1", 2).ref(0, 0, TRAIN)
    bad = tmp_path / "rand.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old + "+RAND()*0")
    result = cli("verify", bad)
    assert result.returncode == 1
    assert "VOLATILE: 1 formulas" in result.stdout and cell in result.stdout


def test_division_by_zero_in_a_formula_is_an_error_cell(cli, tmp_path, small_books):
    src = small_books[("logreg", "softmax")]
    cell = Run.from_book(read_book(src)).layout.block("db1", 1).ref(0, 0, TRAIN)
    bad = tmp_path / "div0.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("/n_samples", "/0"))
    result = cli("verify", bad)
    assert result.returncode == 1
    assert "ERROR CELL" in result.stdout and "#DIV/0!" in result.stdout


def test_macro_workbook_is_read_without_running_anything(cli, tmp_path, small_books):
    """An .xlsm carrying a VBA project verifies like its .xlsx: macros are never executed."""
    src = small_books[("logreg", "softmax")]
    xlsm = tmp_path / "macro.xlsm"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(xlsm, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        zout.writestr("xl/vbaProject.bin", b'Attribute VB_Name = "Module1"\nSub Auto_Open()')
    result = cli("verify", xlsm)
    assert result.returncode == 0, result.stdout[-500:] + result.stderr


def test_a_million_rows(cli, tmp_path):
    # The sheet XlsxWriter writes (constant_memory) with 0, 1, ... down column A to the last
    # row, joined here as text: five times quicker than a million write_number calls.
    one = tmp_path / "one.xlsx"
    wb = xlsxwriter.Workbook(one)
    wb.add_worksheet("Data").write_number(0, 0, 0)
    wb.close()
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r - 1}</v></c></row>' for r in range(1, ROWS + 1))

    def fill(xml: str) -> str:
        xml = re.sub(r"<sheetData>.*</sheetData>", lambda _: f"<sheetData>{rows}</sheetData>", xml,
                     flags=re.S)  # fmt: skip
        return set_dimension(xml, f"A1:A{ROWS}")

    p = tmp_path / "big.xlsx"
    rewrite(one, p, sheet_part(one, "Data"), fill)
    result = cli("verify", p, process=True)
    assert result.returncode == 2
    one_line(result, p, "no sheet named")


def test_no_partial_output_when_build_fails(cli, tmp_path):
    out = tmp_path / "x.xlsx"
    result = cli("build", "mlp", "--hidden", "0", "-o", out)
    assert result.returncode == 2 and not list(tmp_path.iterdir())


def test_zip_member_names_are_not_trusted(cli, tmp_path, small_books):
    # A path-traversal name inside the archive is never written anywhere: xlnet only reads.
    src = small_books[("logreg", "softmax")]
    bad = tmp_path / "evil.xlsx"
    rewrite(src, bad, sheet_part(src, "About"), lambda xml: xml)
    with zipfile.ZipFile(bad, "a") as z:
        z.writestr("../../evil.txt", b"x")
    result = cli("verify", bad)
    assert result.returncode == 0
    assert not (tmp_path.parent / "evil.txt").exists()


CORPUS = [
    "empty file", "truncated zip", "xls renamed", "encrypted", "ods renamed", "folder",
    "zip of other things", "zip bomb", "billion laughs", "missing file",
]  # fmt: skip


def test_check_grades_the_batch_around_hostile_files(cli, tmp_path, small_books):
    """In grading, an unusable file gets an error of its own; the rest of the batch is graded."""
    import json

    from exercise_fill import fill

    from xlnet.data import load_wine
    from xlnet.exercises import write_exercise
    from xlnet.spec import Spec

    exercise = write_exercise(Spec(epochs=1), load_wine(), tmp_path / "ex.xlsx", ("params",)).path
    good = fill(exercise, tmp_path / "good.xlsx")
    files = []
    for k, name in enumerate(CORPUS):
        sub = tmp_path / f"case{k}"
        sub.mkdir()
        files.append(_corrupt(name, sub, small_books[("logreg", "softmax")]))
    files.append(small_books[("logreg", "softmax")])  # a training workbook, not an exercise
    result = cli("check", "--json", good, *files, process=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    docs = json.loads(result.stdout)
    assert docs[0]["score"] == 100.0 and "error" not in docs[0]
    for doc, path in zip(docs[1:], files, strict=True):
        assert doc["score"] == 0 and str(path) in doc["error"], doc
        assert len(doc["error"].splitlines()) == 1
    assert "not an exercise" in docs[-1]["error"]
