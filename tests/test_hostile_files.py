"""Hostile workbooks, edited at the byte level to read differently here than in a spreadsheet.

§1 never fooled: a file that Excel or LibreOffice would compute differently from what our reader
sees never verifies (exit 0), and a file that is merely stored in another legal order still does.
§2 never stalled: a file built to exhaust time or memory, a FIFO or a device, broken XML or zip
data give exit 2 (or 1 where said) and one line naming the file, quickly, in a process of its
own under a memory cap; never a traceback, never "unexpected ... (please report)".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from exercise_fill import fill

from xlnet.exercises import write_exercise
from xlnet.layout import LR_NAME, SETTINGS, TRAIN, setting_block
from xlnet.spec import Spec
from xlnet.workbook import build
from xlnet.xlsxio import read_book
from xlsx_edit import (
    add_cell,
    add_name,
    change_formula,
    corrupt_member,
    duplicate_cell,
    duplicate_row,
    edit_parts,
    row_of,
    rows_at_end,
    rows_at_start,
    set_dimension,
    sheet_index,
    sheet_part,
    take_row,
)

QUICK = 20  # for what needs no computing at all: a FIFO, a device, a formula too long
LO_SECONDS = 300


def one_line(result: subprocess.CompletedProcess, path: Path) -> str:
    """The single line on stderr, which names `path`."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stdout[-800:] + result.stderr
    assert str(path) in lines[0], lines[0]
    return lines[0]


def names_cell(line: str, sheet: str, *cells: str) -> None:
    """`line` names `sheet` and one of `cells` (as B7 or $B$7, not inside AB7 or B70)."""
    assert sheet in line, line
    pats = [r"\$?".join(re.fullmatch(r"([A-Z]+)(\d+)", c).groups()) for c in cells]
    assert any(re.search(rf"(?<![A-Z$])\$?{p}(?!\d)", line) for p in pats), line


@pytest.fixture(scope="module")
def books(tmp_path_factory, wine) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    out = {}
    for layout in ("cells", "arrays"):
        out[layout] = folder / f"logreg-{layout}.xlsx"
        build(Spec(model="logreg", epochs=2, layout=layout), wine, out[layout])
    return out


@pytest.fixture(scope="module")
def cells(books) -> Path:
    return books["cells"]


def _part(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(sheet_part(path, sheet)).decode()


def edit_train(src: Path, dst: Path, edit) -> Path:
    edit_parts(src, dst, {sheet_part(src, TRAIN): edit})
    return dst


# §1 case 1: a name scoped to a sheet wins over the workbook's name inside that sheet.


def _scoped_lr(src: Path, dst: Path, scope: str, value) -> Path:
    """learning_rate defined once more, scoped to sheet `scope`, as Settings!$E$25 = value."""
    ref, index = f"{SETTINGS}!$E$25", sheet_index(src, scope)
    edits = {
        "xl/workbook.xml": lambda x: add_name(x, LR_NAME, ref, index),
        sheet_part(src, SETTINGS): lambda x: add_cell(x, "E25", f"<v>{value}</v>"),
    }
    edit_parts(src, dst, edits)
    return dst


def _lr(src: Path) -> float:
    b = setting_block(LR_NAME)
    return read_book(src).sheet(SETTINGS).values[(b.row, b.col)]


@pytest.mark.parametrize(
    ("scope", "same", "code"),
    [(TRAIN, False, 1), ("Data", False, 0), (TRAIN, True, 0)],
    ids=["case1-train-scoped-other-value", "case1-unused-scope", "case1-train-scoped-same-value"],
)
def test_sheet_scoped_name(cli, tmp_path, cells, scope, same, code):
    """§1 case 1: learning_rate scoped to Train (whose formulas use it) at another value is a
    FAIL; scoped to a sheet that never uses it, or at the same value, it changes nothing."""
    assert (LR_NAME in _part(cells, scope)) == (scope == TRAIN)  # Train's formulas use it
    value = _lr(cells) if same else _lr(cells) / 2
    bad = _scoped_lr(cells, tmp_path / "scoped.xlsx", scope, value)
    result = cli("verify", bad)
    assert result.returncode == code, result.stdout[-1500:] + result.stderr


@pytest.mark.libreoffice
def test_sheet_scoped_name_libreoffice(cli, need_soffice, tmp_path, cells):
    """§1 case 1 in LibreOffice: it, too, reads Train's own learning_rate: a FAIL."""
    bad = _scoped_lr(cells, tmp_path / "scoped.xlsx", TRAIN, _lr(cells) / 2)
    result = cli("verify", "--engine", "libreoffice", bad, timeout=LO_SECONDS)
    assert result.returncode == 1, result.stdout[-1500:] + result.stderr


# §1 cases 2 and 3: a row, or a cell, given twice (LibreOffice keeps the second copy).

ROW = 10


def _row_twice(src: Path, dst: Path, ref: str) -> Path:
    """Train's row ROW given twice, the second copy with `ref`'s formula changed."""

    def second(row: str) -> str:
        return change_formula(row, lambda f: f + "+0.001", ref)

    return edit_train(src, dst, lambda x: duplicate_row(x, ROW, second))


def test_row_given_twice(cli, tmp_path, cells):
    """§1 case 2: exit 2, one line naming the file, Train, the row and that it is twice."""
    bad = _row_twice(cells, tmp_path / "row-twice.xlsx", f"J{ROW}")
    result = cli("verify", bad)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    line = one_line(result, bad)
    assert TRAIN in line and re.search(rf"(?<!\d){ROW}(?!\d)", line), line
    assert re.search(r"twice|duplicate", line, re.I), line


@pytest.mark.libreoffice
def test_row_given_twice_libreoffice(cli, need_soffice, tmp_path, cells):
    """§1 case 2 with --engine libreoffice: never OK (refused before LibreOffice runs is fine)."""
    bad = _row_twice(cells, tmp_path / "row-twice.xlsx", f"J{ROW}")
    result = cli("verify", "--engine", "libreoffice", bad, timeout=LO_SECONDS)
    assert result.returncode != 0, result.stdout[-1500:] + result.stderr


def test_row_given_twice_in_a_graded_batch(cli, tmp_path, wine):
    """§1 case 2 in `xlnet check`: the file gets an error of its own, the batch goes on."""
    exercise = write_exercise(Spec(epochs=1), wine, tmp_path / "ex.xlsx", ("params",)).path
    good = fill(exercise, tmp_path / "good.xlsx")
    assert re.search(rf'<c r="J{ROW}"[^>]*><f>', row_of(_part(good, TRAIN), ROW))
    bad = _row_twice(good, tmp_path / "row-twice.xlsx", f"J{ROW}")
    result = cli("check", "--json", good, bad)
    assert result.returncode == 1, result.stdout[-1500:] + result.stderr
    docs = json.loads(result.stdout)
    assert docs[0]["score"] == 100.0 and "error" not in docs[0], docs[0]
    assert "error" in docs[1] and docs[1]["score"] == 0, docs[1]
    assert str(bad) in docs[1]["error"] and len(docs[1]["error"].splitlines()) == 1


def test_cell_given_twice_in_a_row(cli, tmp_path, cells):
    """§1 case 3: two <c r="B7"> in one row, the second another formula: exit 2 naming B7."""

    def second(cell: str) -> str:
        return change_formula(cell, lambda f: "1/0")

    bad = edit_train(cells, tmp_path / "cell-twice.xlsx", lambda x: duplicate_cell(x, "B7", second))
    result = cli("verify", bad)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    names_cell(one_line(result, bad), TRAIN, "B7")


# §1 cases 4 and 5: cells outside the declared <dimension>, rows stored out of order.


@pytest.mark.parametrize("formula", ["1/0", "1+1"], ids=["case4-error-cell", "case4-plausible"])
def test_cell_outside_the_declared_dimension(cli, tmp_path, cells, formula):
    """§1 case 4: a formula at B5000, far below <dimension ref="A1:AX361">, is never dropped:
    an error cell, or a formula outside every block, fails the check (exit 1)."""
    bad = edit_train(
        cells,
        tmp_path / "outside.xlsx",
        lambda x: add_cell(x, "B5000", f"<f>{formula}</f>", widen=False),
    )
    result = cli("verify", bad)
    assert result.returncode == 1, result.stdout[-1500:] + result.stderr


def _move_to_end(x: str) -> str:
    x, row = take_row(x, 4)
    return rows_at_end(x, row)


def _swap(x: str) -> str:
    four, five = row_of(x, 4), row_of(x, 5)
    return x.replace(four + five, five + four, 1)


def _move_to_start(x: str) -> str:
    x, row = take_row(x, 100)
    return rows_at_start(x, row)


@pytest.mark.parametrize(
    "move",
    [_move_to_end, _swap, _move_to_start],
    ids=["case5a-row4-moved-to-end", "case5b-rows4-5-swapped", "case5c-row100-moved-to-start"],
)
def test_rows_out_of_order_still_verify(cli, tmp_path, cells, move):
    """§1 case 5 (a-c): rows stored in another order are the same sheet: exit 0."""
    moved = edit_train(cells, tmp_path / "moved.xlsx", move)
    assert _part(moved, TRAIN) != _part(cells, TRAIN)
    result = cli("verify", moved)
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr


def test_late_row_with_a_lower_number_is_not_dropped(cli, tmp_path, cells):
    """§1 case 5 (d): row 181 (a gap between the epochs' bands) appended after row 361,
    holding =1/0: exit 1, not silently dropped."""
    assert '<row r="181"' not in _part(cells, TRAIN) and '<row r="361"' in _part(cells, TRAIN)
    bad = edit_train(
        cells, tmp_path / "late-row.xlsx", lambda x: add_cell(x, "B181", "<f>1/0</f>", widen=False)
    )
    late = '<row r="181"><c r="B181"><f>1/0</f></c></row></sheetData>'
    assert late in _part(bad, TRAIN)  # after row 361
    result = cli("verify", bad)
    assert result.returncode == 1, result.stdout[-1500:] + result.stderr


# §1 cases 6 and 7: array ranges that overlap, formulas inside another cell's array range.


def test_unchanged_arrays_file_verifies(cli, books):
    """§1 case 7 (control): covered cells holding only a cached <v> are normal: exit 0."""
    result = cli("verify", books["arrays"])
    assert result.returncode == 0, result.stdout[-1500:] + result.stderr


def test_overlapping_array_ranges(cli, tmp_path, books):
    """§1 case 6: W1's array B3:D15 widened to B3:F15 overlaps b1's array F3:H3: exit 2."""
    src = books["arrays"]
    assert '<f t="array" ref="B3:D15">' in _part(src, TRAIN)
    assert '<f t="array" ref="F3:H3">' in _part(src, TRAIN)
    bad = edit_train(
        src, tmp_path / "overlap.xlsx", lambda x: x.replace('ref="B3:D15"', 'ref="B3:F15"', 1)
    )
    result = cli("verify", bad)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    names_cell(one_line(result, bad), TRAIN, "B3", "F3")


def test_formula_in_a_cell_covered_by_an_array(cli, tmp_path, books):
    """§1 case 7: K3 lies inside the array J3:L180; a formula of its own there: exit 2."""
    src = books["arrays"]
    assert re.search(r'<c r="K3"[^>]*><v>', _part(src, TRAIN))

    def edit(x: str) -> str:
        return re.sub(r'(<c r="K3"[^>]*>)<v>', r"\1<f>1+1</f><v>", x, count=1)

    bad = edit_train(src, tmp_path / "covered.xlsx", edit)
    result = cli("verify", bad)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    names_cell(one_line(result, bad), TRAIN, "K3")


# §2 cases 8 to 10: formulas built to exhaust time or memory.

HUGE = '<c r="A1048570"><f t="array" ref="A1048570:XFD1048576">1</f></c>'


@pytest.mark.parametrize("widen", [False, True], ids=["case8-dimension-kept", "case8-widened"])
def test_array_over_the_last_rows_of_the_grid(cli, tmp_path, cells, widen):
    """§2 case 8: an array formula over A1048570:XFD1048576: exit 1 or 2, in time, capped."""

    def edit(x: str) -> str:
        x = rows_at_end(x, f'<row r="1048570">{HUGE}</row>')
        return set_dimension(x, "A1:XFD1048576") if widen else x

    bad = edit_train(cells, tmp_path / "huge-array.xlsx", edit)
    result = cli("verify", bad, process=True)
    assert result.returncode in (1, 2), result.stdout[-1500:] + result.stderr
    if result.returncode == 2:
        one_line(result, bad)


LOSS = "Z3"  # one epoch's mean loss: a formula cell of the Train sheet


@pytest.mark.parametrize("length", [9_001, 50_001], ids=["case9-9001-chars", "case9-50001"])
def test_formula_longer_than_excel_allows(cli, tmp_path, cells, length):
    """§2 case 9: Excel keeps at most 8,192 characters of a formula: exit 2, quickly."""
    text = "+".join(["1"] * (length // 2 + 1))[:length].rstrip("+")
    bad = edit_train(
        cells, tmp_path / "long.xlsx", lambda x: change_formula(x, lambda f: text, LOSS)
    )
    result = cli("verify", bad, process=True, timeout=QUICK + 10)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    line = one_line(result, bad)
    assert re.search(r"8,?192|too long", line), line


@pytest.mark.parametrize(
    "formula",
    ["(" * 70 + "1" + ")" * 70, "ABS(" * 70 + "1" + ")" * 70],
    ids=["case10-parentheses", "case10-functions"],
)
def test_nesting_deeper_than_excel_allows(cli, tmp_path, cells, formula):
    """§2 case 10: Excel nests at most 64 levels: exit 2 naming the limit."""
    bad = edit_train(
        cells, tmp_path / "deep.xlsx", lambda x: change_formula(x, lambda f: formula, LOSS)
    )
    result = cli("verify", bad, process=True)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    line = one_line(result, bad)
    assert re.search(r"64|nest", line, re.I), line


# §2 cases 11 and 12: what is not a regular file; broken XML or zip data in one part.


@pytest.mark.parametrize(
    "kind",
    ["fifo", "folder", "/dev/zero", "/dev/urandom"],
    ids=lambda k: f"case11-{k.rsplit('/')[-1]}",
)
def test_not_a_regular_file(cli, tmp_path, kind):
    """§2 case 11: a FIFO (whose open blocks without a writer), a folder, a character device:
    exit 2, one line, quickly."""
    if kind == "fifo":
        path = tmp_path / "fifo.xlsx"
        os.mkfifo(path)
    elif kind == "folder":
        path = tmp_path / "folder.xlsx"
        path.mkdir()
    else:
        path = Path(kind)
    result = cli("verify", path, process=True, timeout=QUICK)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    one_line(result, path)


def _half(x: str) -> str:
    return x[: len(x) // 2]


def _mid_element(x: str) -> str:
    return x[: x.index('<c r="J100"') + len('<c r="J1')]


BROKEN = {
    "case12-styles": ("xl/styles.xml", _half),
    "case12-workbook": ("xl/workbook.xml", _half),
    "case12-content-types": ("[Content_Types].xml", _half),
    "case12-shared-strings": ("xl/sharedStrings.xml", _half),
    "case12-sheet-empty": (TRAIN, lambda x: ""),
    "case12-sheet-truncated": (TRAIN, _mid_element),
    "case12-zip-data-workbook": ("xl/workbook.xml", None),
    "case12-zip-data-sheet": (TRAIN, None),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_part(cli, tmp_path, cells, case):
    """§2 case 12: broken XML in one part, or damaged compressed data under an intact zip
    directory: exit 2, one line naming the file."""
    part, edit = BROKEN[case]
    part = sheet_part(cells, TRAIN) if part == TRAIN else part
    with zipfile.ZipFile(cells) as z:
        assert part in z.namelist()
    bad = tmp_path / "broken.xlsx"
    if edit is None:
        corrupt_member(cells, bad, part)
        with zipfile.ZipFile(bad) as z, pytest.raises((zipfile.BadZipFile, zlib.error)):
            z.read(part)
    else:
        edit_parts(cells, bad, {part: edit})
    result = cli("verify", bad, process=True)
    assert result.returncode == 2, result.stdout[-1500:] + result.stderr
    one_line(result, bad)
