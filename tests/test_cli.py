"""The command line: help for every command, exit codes, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xlnet.cli import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, main, make_parser
from xlnet.run import Run


def _commands():
    parser = make_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xlnet", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)  # fmt: skip


@pytest.mark.smoke
@pytest.mark.parametrize("command", sorted(_commands()))
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"xlnet {command}" in out


def test_top_level_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
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
def test_bad_usage_is_exit_2_with_one_line(tmp_path, args):
    result = run(*args, cwd=tmp_path)
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
def test_verify_rejects_non_workbooks(tmp_path, content, message):
    p = tmp_path / "bad.xlsx"
    p.write_bytes(content)
    result = run("verify", str(p))
    assert result.returncode == EXIT_USAGE
    assert message in result.stderr and str(p) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_rejects_foreign_workbook(tmp_path):
    import xlsxwriter

    p = tmp_path / "other.xlsx"
    wb = xlsxwriter.Workbook(p)
    wb.add_worksheet("Sheet1").write("A1", 1)
    wb.close()
    result = run("verify", str(p))
    assert result.returncode == EXIT_USAGE
    assert "no sheet named" in result.stderr


def test_build_and_verify_exit_codes(tmp_path):
    out = tmp_path / "net.xlsx"
    result = run("build", "mlp", "--hidden", "2", "--epochs", "2", "-o", str(out))
    assert result.returncode == EXIT_OK, result.stderr
    assert "wrote" in result.stdout and out.exists()
    result = run("verify", str(out), "--json")
    assert result.returncode == EXIT_OK, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] and report["engine"] == "formulas"
    assert result.stderr == ""  # no progress bar when not a terminal


def test_verify_exit_1_on_mismatch(tmp_path, small_books):
    from xlnet.layout import TRAIN
    from xlnet.xlsxio import read_book
    from xlsx_edit import set_formula

    src = small_books[("logreg", "softmax")]
    cell = Run.from_book(read_book(src)).layout.block("db1", 1).ref(0, 1, TRAIN)
    bad = tmp_path / "bad.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("/n_samples", ""))
    result = run("verify", str(bad))
    assert result.returncode == EXIT_DIFFERS
    assert "FAIL db1 epoch 1" in result.stdout and cell in result.stdout


def test_failed_build_keeps_existing_file(tmp_path, monkeypatch):
    out = tmp_path / "keep.xlsx"
    out.write_bytes(b"precious")
    import xlnet.workbook as wbmod

    def boom(*a, **k):
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr(wbmod, "_write", boom)
    assert main(["build", "logreg", "--epochs", "1", "-o", str(out)]) == EXIT_USAGE
    assert out.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.xlsx"]


def _edited(src, dst, key, value):
    import openpyxl

    from xlnet.layout import setting_block

    wb = openpyxl.load_workbook(src)
    b = setting_block(key)
    wb[b.sheet].cell(b.row + 1, b.col + 1).value = value
    wb.save(dst)
    return dst


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
def test_verify_rejects_broken_settings(small_books, tmp_path, key, value, message):
    bad = _edited(small_books[("logreg", "softmax")], tmp_path / "bad.xlsx", key, value)
    result = run("verify", str(bad))
    assert result.returncode == EXIT_USAGE, result.stdout[-500:]
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_verify_rejects_truncated_sheet_xml(small_books, tmp_path):
    from xlsx_edit import rewrite, sheet_part

    src = small_books[("logreg", "softmax")]
    bad = tmp_path / "trunc.xlsx"
    rewrite(src, bad, sheet_part(src, "Train"), lambda xml: xml[: len(xml) // 2])
    result = run("verify", str(bad))
    assert result.returncode == EXIT_USAGE
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_libreoffice_engine_without_libreoffice(small_books, monkeypatch, capsys):
    import xlnet.libreoffice as lo

    monkeypatch.setattr(lo, "soffice", lambda: None)
    code = main(["verify", str(small_books[("logreg", "softmax")]), "--engine", "libreoffice"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE
    assert len(err) == 1 and "LibreOffice is not installed" in err[0]
