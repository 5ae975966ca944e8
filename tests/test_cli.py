"""The command line: help for every command, exit codes, one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlnet.cli import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, make_parser
from xlnet.layout import TRAIN
from xlnet.run import Run
from xlnet.xlsxio import read_book
from xlsx_edit import edit_book, rewrite, set_formula, setting_cell, sheet_part


def _commands():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_of_every_command(cli, command):
    result = cli(command, "--help")
    assert result.returncode == 0
    out = result.stdout
    assert "examples:" in out and f"xlnet {command}" in out


def test_top_level_help(cli):
    out = cli("--help").stdout
    for command in _commands():
        assert command in out


@pytest.mark.parametrize(
    "args",
    [
        ["build", "logreg", "-o", "x.xlsx", "--epochs", "0"],
        ["build", "logreg", "-o", "x.xlsx", "--epochs", "-3"],
        ["build", "logreg", "-o", "x.xlsx", "--epochs", "ten"],
        ["build", "logreg", "-o", "x.xlsx", "--epochs", "1001"],
        ["build", "logreg", "-o", "x.xlsx", "--lr", "fast"],
        ["build", "logreg", "-o", "x.xlsx", "--lr", "-1"],
        ["build", "logreg", "-o", "x.xlsx", "--lr", "nan"],
        ["build", "mlp", "-o", "x.xlsx", "--hidden", "0"],
        ["build", "mlp", "-o", "x.xlsx", "--hidden", "65"],
        ["build", "mlp", "-o", "x.xlsx", "--seed", "-1"],
        ["build", "forest", "-o", "x.xlsx"],
        ["build", "logreg", "-o", "x.xlsx", "--output", "relu"],
        ["build", "logreg", "-o", "x.xlsx", "--layout", "diagonal"],
        ["build", "logreg"],
        ["build", "logreg", "-o", "no/such/folder/x.xlsx"],
        ["build", "logreg", "-o", "x.csv"],
        ["verify"],
        ["verify", "missing.xlsx"],
        ["verify", "x.xlsx", "--engine", "excel"],
        ["frobnicate"],
        ["build", "logreg", "-o", "x.xlsx", "--bogus"],
    ],
)
def test_bad_usage_is_exit_2_with_one_line(cli, tmp_path, args):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == EXIT_USAGE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xlnet")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.xlsx").exists()


@pytest.mark.parametrize(("content", "message"), [
    (b"hello, not a workbook", "not an .xlsx"),
    (b"PK\x03\x04truncated", "not an .xlsx"),
])  # fmt: skip
def test_verify_rejects_non_workbooks(cli, tmp_path, content, message):
    p = tmp_path / "bad.xlsx"
    p.write_bytes(content)
    result = cli("verify", p)
    assert result.returncode == EXIT_USAGE
    assert message in result.stderr and str(p) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_rejects_foreign_workbook(cli, tmp_path):
    import xlsxwriter

    p = tmp_path / "other.xlsx"
    wb = xlsxwriter.Workbook(p)
    wb.add_worksheet("Sheet1").write("A1", 1)
    wb.close()
    result = cli("verify", p)
    assert result.returncode == EXIT_USAGE
    assert "no sheet named" in result.stderr


def test_build_and_verify_exit_codes(cli, tmp_path):
    """As a user runs them: the console script, and `python -m xlnet`, each a process."""
    out = tmp_path / "net.xlsx"
    script = shutil.which("xlnet", path=str(Path(sys.executable).parent))
    assert script, "pip install -e '.[test]' installs the xlnet console script"
    result = subprocess.run([script, "build", "mlp", "--hidden", "2", "--epochs", "2", "-o",
                             str(out)], capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode == EXIT_OK, result.stderr
    assert "wrote" in result.stdout and out.exists()
    result = cli("verify", out, "--json", process=True)
    assert result.returncode == EXIT_OK, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] and report["engine"] == "formulas"
    assert result.stderr == ""  # no progress bar when not a terminal


def test_verify_exit_1_on_mismatch(cli, tmp_path, small_books):
    src = small_books[("logreg", "softmax")]
    cell = Run.from_book(read_book(src)).layout.block("db1", 1).ref(0, 1, TRAIN)
    bad = tmp_path / "bad.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("/n_samples", ""))
    result = cli("verify", bad)
    assert result.returncode == EXIT_DIFFERS
    assert "FAIL db1 epoch 1" in result.stdout and cell in result.stdout


def test_failed_build_keeps_existing_file(cli, tmp_path, monkeypatch):
    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"precious")
    import xlnet.workbook as wbmod

    def boom(*a, **k):
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr(wbmod, "_write", boom)
    assert cli("build", "logreg", "--epochs", "1", "-o", out).returncode == EXIT_USAGE
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xlsx"]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("n_samples", 0, "must be positive"),
        ("epochs", 2.5, "whole number"),
        ("classes", 0, "whole number"),
        ("features", -1, "whole number"),
        ("learning_rate", "fast", "must be a number"),
        ("model", "forest", "not an xlnet training workbook"),
    ],
)
def test_verify_rejects_broken_settings(cli, small_books, tmp_path, key, value, message):
    bad = edit_book(small_books[("logreg", "softmax")], tmp_path / "bad.xlsx",
                    {setting_cell(key): value})  # fmt: skip
    result = cli("verify", bad)
    assert result.returncode == EXIT_USAGE, result.stdout[-500:]
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_rejects_truncated_sheet_xml(cli, small_books, tmp_path):
    src = small_books[("logreg", "softmax")]
    bad = tmp_path / "trunc.xlsx"
    rewrite(src, bad, sheet_part(src, "Train"), lambda xml: xml[: len(xml) // 2])
    result = cli("verify", bad)
    assert result.returncode == EXIT_USAGE
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_libreoffice_engine_without_libreoffice(cli, small_books, monkeypatch):
    import xlnet.libreoffice as lo

    monkeypatch.setattr(lo, "soffice", lambda: None)
    result = cli("verify", small_books[("logreg", "softmax")], "--engine", "libreoffice")
    err = result.stderr.strip().splitlines()
    assert result.returncode == EXIT_USAGE
    assert len(err) == 1 and "LibreOffice is not installed" in err[0]
