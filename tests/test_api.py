"""The Python API: `import xlnet`, each command as a function, DataFrames, one error base."""

from __future__ import annotations

import errno
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import xlnet
from xlnet.data import DataError
from xlnet.spec import SpecError
from xlnet.xlsxio import BookError

ROOT = Path(__file__).resolve().parents[1]
API = ("build", "verify", "exercise", "check", "sweep", "export_scorer")


def test_import_is_cheap_and_exports_the_api():
    heavy = "('numpy', 'pandas', 'formulas', 'openpyxl', 'xlsxwriter')"
    code = (f"import sys, xlnet; print(sorted(m for m in {heavy} if m in sys.modules)); "
            "print(callable(xlnet.build))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()  # fmt: skip
    assert out == ["[]", "True"]
    assert set(API) <= set(xlnet.__all__) and xlnet.XlnetError and xlnet.FileError


@pytest.mark.parametrize("name", API)
def test_no_submodule_is_named_like_an_api_function(name):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"xlnet.{name}")
    assert callable(getattr(xlnet, name)) and getattr(xlnet, name).__doc__


def test_importing_the_modules_leaves_the_functions_in_place():
    import xlnet.exercises
    import xlnet.sweeps
    import xlnet.verification

    assert all(callable(getattr(xlnet, name)) for name in API)


def test_every_error_class_is_an_xlnet_error():
    from xlnet.errors import XlnetError
    from xlnet.evaluate import EvalError
    from xlnet.exercises import ExerciseError
    from xlnet.libreoffice import LibreOfficeError
    from xlnet.scorer import ScorerError
    from xlnet.sweeps import SweepError
    from xlnet.template import TemplateError

    for cls in (SpecError, DataError, BookError, EvalError, LibreOfficeError, ExerciseError,
                TemplateError, SweepError, ScorerError, xlnet.FileError):  # fmt: skip
        assert issubclass(cls, XlnetError)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("api")
    return d, xlnet.build("mlp", d / "net.xlsx", hidden=5, epochs=3, test_fraction=0.3)


def test_build_returns_the_file_and_its_history(built):
    d, run = built
    assert run.path == d / "net.xlsx" and run.path.exists() and run.formula_cells > 0
    h = run.history
    assert list(h.columns) == ["epoch", "loss", "accuracy", "test_accuracy"]
    assert list(h.epoch) == [1, 2, 3] and h.loss.iloc[-1] == pytest.approx(run.final_loss)
    assert h.accuracy.between(0, 1).all() and h.test_accuracy.between(0, 1).all()


def test_verify_frame_has_a_row_per_block_and_epoch(built):
    _, run = built
    report = xlnet.verify(run.path)
    assert report.ok
    frame = report.to_frame()
    assert len(frame) == len(report.blocks)
    assert {"block", "epoch", "status", "max_error", "cells"} <= set(frame.columns)
    assert set(frame.status) == {"ok"} and (frame.max_error <= report.tolerance).all()
    assert sorted(frame.epoch.dropna().unique()) == [1, 2, 3]


def test_exercise_and_check_give_a_gradebook_frame(tmp_path):
    from exercise_fill import fill

    (blank,) = xlnet.exercise("logreg", tmp_path / "blank.xlsx")
    done = fill(blank, tmp_path / "done.xlsx")  # filled with xlnet's own formulas
    grades = xlnet.check([done, blank])
    frame = grades.to_frame()
    assert list(frame.columns[:3]) == ["file", "student", "score"] and len(frame) == 2
    assert list(frame.score) == [100.0, 0.0] and not grades.ok
    assert (frame.filter(like="(epoch 1)").iloc[1] == "missing").all()
    assert (frame.filter(like="(epoch 1)").iloc[0] == "correct").all()
    assert xlnet.check(done).ok


def test_sweep_returns_a_table_and_writes_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = xlnet.sweep(hidden=[2, (3, 2)], lr=[0.1, 1.0], epochs=3).to_frame()
    assert list(table.hidden) == [(2,), (2,), (3, 2), (3, 2)]
    assert list(table.lr) == [0.1, 1.0, 0.1, 1.0]
    assert table.best.sum() == 1 and sorted(table["rank"]) == [1, 2, 3, 4]
    assert list(tmp_path.iterdir()) == []
    xlnet.sweep(hidden=[2], lr=[1.0], epochs=2, path=tmp_path / "s.xlsx")
    assert (tmp_path / "s.xlsx").exists()


def test_export_scorer_from_a_workbook_and_from_training(built, tmp_path):
    _, run = built
    a = xlnet.export_scorer(run.path, tmp_path / "a.xlsx", check=True)
    b = xlnet.export_scorer("logreg", tmp_path / "b.xlsx", epochs=2, lr=0.5)
    assert a.path.exists() and b.path.exists() and a.formula_cells > b.formula_cells
    with pytest.raises(xlnet.XlnetError, match="epochs= applies when training"):
        xlnet.export_scorer(run.path, tmp_path / "c.xlsx", epochs=2)


def test_errors_are_xlnet_errors_never_system_exit(tmp_path):
    with pytest.raises(BookError):
        xlnet.verify(tmp_path / "missing.xlsx")
    with pytest.raises(SpecError):
        xlnet.build("mlp", tmp_path / "x.xlsx", lr=-1)
    with pytest.raises(DataError):
        xlnet.build("logreg", tmp_path / "x.xlsx", data=tmp_path / "none.csv")
    with pytest.raises(xlnet.FileError) as info:
        xlnet.build("logreg", tmp_path / "no" / "x.xlsx", epochs=1)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOENT
    assert str(info.value) == f"{tmp_path / 'no' / 'x.xlsx'}: No such file or directory"


def test_a_full_disk_is_a_file_error(tmp_path, monkeypatch):
    import xlnet.outfile

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    monkeypatch.setattr(xlnet.outfile.os, "replace", full)
    with pytest.raises(xlnet.FileError) as info:
        xlnet.build("logreg", tmp_path / "x.xlsx", epochs=1)
    assert info.value.errno == errno.ENOSPC and not list(tmp_path.iterdir())


def _readme_api_code() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "the README's Python API section has a code block"
    return "\n".join(blocks)


def test_the_readme_python_api_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_api_code(), "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "no-such-file.xlsx" in out and (tmp_path / "scorer.xlsx").exists()
    assert isinstance(pd.read_excel, object)  # pandas is installed with xlnet
