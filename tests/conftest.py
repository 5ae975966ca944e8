"""Shared fixtures: the data sets, the book's template, small workbooks built once per session,
LibreOffice availability, and the command line run as a user runs it."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from xlnet.cli import main
from xlnet.data import load_wine
from xlnet.libreoffice import soffice
from xlnet.spec import Spec
from xlnet.template import load_template
from xlnet.workbook import build

MODELS_OUTPUTS = [(m, o) for m in ("logreg", "mlp") for o in ("softmax", "sigmoid")]
LAYOUT_CASES = [(m, o, lay) for m, o in MODELS_OUTPUTS for lay in ("cells", "arrays")]
SMALL_EPOCHS = 3
SMALL_HIDDEN = 3
SPECIES = ("setosa", "versicolor", "virginica")
FLOWERS_PER_SPECIES = 12
FEW_PER_CLASS = 10  # wine samples of each class in few_wine

# The command line: a hang is a failure, not a slow pass; so is running out of memory.
SECONDS = 60
MEMORY = 2 * 1024**3  # address-space cap of a command run in its own process
NEVER = ("Traceback", "unexpected", "please report", "MemoryError")  # never on stderr


def small_spec(model: str, output: str, **kw) -> Spec:
    kw.setdefault("epochs", SMALL_EPOCHS)
    kw.setdefault("hidden", SMALL_HIDDEN)
    return Spec(model=model, output=output, **kw)


@pytest.fixture(scope="session")
def wine():
    return load_wine()


@pytest.fixture(scope="session")
def few_wine(wine):
    """The first FEW_PER_CLASS wine samples of each class: for what holds whatever the number
    of samples and costs more with each (formulas computed one cell at a time, grading)."""
    rows = [np.flatnonzero(wine.labels == c)[:FEW_PER_CLASS] for c in wine.classes]
    return wine.subset(np.concatenate(rows))


@pytest.fixture(scope="session")
def flowers(tmp_path_factory) -> Path:
    """An iris-like CSV: four measurements, a text class column in the middle of the header,
    FLOWERS_PER_SPECIES samples of each species, which take turns (not sorted in the file)."""
    rng = np.random.default_rng(0)
    lines = ["sepal length,sepal width,species,petal length,petal width (cm)"]
    for i in range(len(SPECIES) * FLOWERS_PER_SPECIES):
        k = (2, 0, 1)[i % 3]
        m = rng.normal(size=4) * 0.4 + np.array([5.0, 3.4, 1.5, 0.2]) * (1 + 0.4 * k)
        lines.append(f"{m[0]:.2f},{m[1]:.2f},{SPECIES[k]},{m[2]:.2f},{m[3]:.2f}")
    path = tmp_path_factory.mktemp("flowers") / "flowers.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def klaas():
    """The book's chapter-1 exercise, as `xlnet check --template klaas-ch1` grades it."""
    return load_template("klaas-ch1")


@pytest.fixture(scope="session")
def small_books(tmp_path_factory, few_wine) -> dict[tuple[str, ...], Path]:
    """One small workbook (few epochs, hidden units and samples) per (model, output) in the
    cells layout, and per (model, output, layout) for both layouts."""
    folder = tmp_path_factory.mktemp("books")
    out: dict[tuple[str, ...], Path] = {}
    for model, output, layout in LAYOUT_CASES:
        path = folder / f"{model}-{output}-{layout}.xlsx"
        build(small_spec(model, output, layout=layout), few_wine, path)
        out[(model, output, layout)] = path
        if layout == "cells":
            out[(model, output)] = path
    return out


@pytest.fixture(scope="session")
def need_soffice() -> str:
    """LibreOffice's soffice; skipped locally when missing, a failure in CI."""
    exe = soffice()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true but LibreOffice (soffice) is not installed; .ci/run installs it")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


Cli = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def cli(capsys, monkeypatch) -> Cli:
    """`cli(*args, cwd=None)`: `xlnet ARGS` run in this process (in `cwd`), as a
    CompletedProcess: exit status, stdout, stderr. With `process=True`, `python -m xlnet ARGS`
    in a process group of its own, its address space capped at MEMORY (unless `cap=False`),
    killed after `timeout` seconds. Either way it must finish within `timeout` and print none
    of NEVER."""

    def run(*args, cwd: Path | None = None, process: bool = False, timeout: float = SECONDS,
            cap: bool = True) -> subprocess.CompletedProcess:  # fmt: skip
        argv = [str(a) for a in args]
        start = time.perf_counter()
        if process:
            result = _in_a_process(argv, cwd, timeout, cap)
        else:
            capsys.readouterr()
            with monkeypatch.context() as patch:
                if cwd is not None:
                    patch.chdir(cwd)
                try:
                    code = main(argv)
                except SystemExit as exc:  # --help: argparse exits once it has printed
                    code = exc.code
            out, err = capsys.readouterr()
            result = subprocess.CompletedProcess(argv, code, out, err)
        assert time.perf_counter() - start < timeout
        for word in NEVER:
            assert word not in result.stderr, result.stderr
        return result

    return run


def _in_a_process(argv: list[str], cwd: Path | None, timeout: float,
                  cap: bool) -> subprocess.CompletedProcess:  # fmt: skip
    cmd = [sys.executable, "-m", "xlnet", *argv]

    def limit() -> None:
        if cap:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with subprocess.Popen(cmd, cwd=cwd, **pipes, start_new_session=True,
                          preexec_fn=limit) as proc:  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"xlnet {' '.join(argv)}: still running after {timeout} s")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
