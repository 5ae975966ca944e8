"""The README's two quick-start commands work from a clean copy, and CI runs the second."""

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache",
                                ".ruff_cache", ".hypothesis", "build", "*.xlsx")  # fmt: skip


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```\n(.*?)```", section, re.S)]


def test_two_commands_and_ci_runs_the_test_command():
    commands = quick_start()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each quick-start command is one line"
    main, tests = commands
    assert "xlnet build" in main and "xlnet verify" in main
    assert "pytest" in tests
    assert tests in (ROOT / ".ci" / "run").read_text().splitlines()


# The quick start's setup; what follows it in the command are xlnet's own commands.
SETUP = "python3 -m venv .venv && . .venv/bin/activate && pip install -q . && "


def test_main_command_builds_and_verifies(tmp_path):
    """The quick start's command from a clean copy, its setup taken apart: the wheel pip builds
    from the copy is installed on its own (its dependencies are checked below, and CI's virtual
    environment installs them from the same list), then xlnet's commands run as written with
    that installation's console script."""
    main, _ = quick_start()
    assert main.startswith(SETUP)
    repo, site = tmp_path / "repo", tmp_path / "site"
    shutil.copytree(ROOT, repo, symlinks=True, ignore=IGNORE)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), "."]
    done = subprocess.run(pip, cwd=repo, capture_output=True, text=True, timeout=600,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**os.environ, "PYTHONPATH": str(site),
           "PATH": f"{site / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    where = subprocess.run([sys.executable, "-c", "import xlnet; print(xlnet.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, env=env,
                           check=True)  # fmt: skip
    assert where.stdout.startswith(str(site / "xlnet")), where.stdout  # not the repository's
    result = subprocess.run(["bash", "-c", main.removeprefix(SETUP)], cwd=repo,
                            capture_output=True, text=True, env=env, timeout=600,
                            check=False)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (repo / "wine-net.xlsx").exists()
    assert "OK:" in result.stdout and "wrote" in result.stdout


def _installs(requirements: list[str]) -> set[str]:
    """The distributions `pip install` brings for `requirements` (no extras), found through
    the requirements of those installed here."""
    found: set[str] = set()
    todo = list(requirements)
    while todo:
        req = Requirement(todo.pop())
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        todo.extend(metadata.requires(name) or [])
    return found


def test_every_module_xlnet_imports_comes_with_pip_install():
    """`pip install .` alone (no test extras) gives xlnet every module it imports."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    installs = _installs(project["project"]["dependencies"])
    owners = metadata.packages_distributions()
    imported = set()
    for path in (ROOT / "xlnet").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"xlnet"}
    assert {"numpy", "formulas", "openpyxl"} <= third_party
    missing = {m for m in third_party if not {canonicalize_name(d) for d in owners[m]} & installs}
    assert not missing, f"imported, yet not installed by pyproject's dependencies: {missing}"


def test_test_command_installs_what_the_suite_needs():
    # CI runs the README's test command verbatim on a fresh machine, which checks it whole; a
    # run of the suite from inside the suite would only repeat that. Here: what it installs,
    # '.[test]', holds the test tools, and pytest finds the tests.
    _, tests = quick_start()
    assert "pip install -q -e '.[test]'" in tests and tests.endswith("python -m pytest")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = " ".join(project["project"]["optional-dependencies"]["test"])
    assert all(tool in extras for tool in ("pytest", "pytest-xdist", "hypothesis", "ruff"))
    assert project["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_code_is_ruff_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run([ruff, *args], cwd=ROOT, capture_output=True, text=True,
                                check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


EXAMPLE_SECTIONS = ("## Beyond the book", "## Sweeps", "## Scoring sheets")


def section_commands(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.startswith("xlnet ")]


@pytest.mark.parametrize("heading", EXAMPLE_SECTIONS)
def test_feature_examples_run_and_verify(heading, tmp_path, monkeypatch, capsys):
    """Every example of the section runs as written (from a folder holding examples/) and
    every workbook it writes verifies."""
    import shlex

    from xlnet.cli import main
    from xlnet.verification import verify

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    commands = section_commands(heading)
    assert commands
    for command in commands:
        args = shlex.split(command.split("#", 1)[0])[1:]
        assert main(args) == 0, (command, capsys.readouterr().err)
    # Training workbooks (build, sweep) verify; scorers are checked by `--check` and their tests.
    books = [b for b in sorted(tmp_path.glob("*.xlsx")) if not b.name.startswith("scorer")]
    assert books
    for book in books:
        report = verify(book)
        assert report.ok, (book.name, report.table())


def test_exercise_examples_run_as_written(tmp_path, monkeypatch, capsys):
    """The README's `xlnet exercise` lines run from a folder holding examples/ (the roster
    examples/students.csv), their --outdir folders created when missing."""
    import shlex

    from xlnet.cli import main

    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    commands = [
        c for c in section_commands("## Exercises and grading") if c.startswith("xlnet exercise ")
    ]
    assert any("--roster examples/students.csv" in c for c in commands)
    for command in commands:
        args = shlex.split(command.split("#", 1)[0])[1:]
        assert main(args) == 0, (command, capsys.readouterr().err)
    assert len(list((tmp_path / "ex").glob("*.xlsx"))) == 5
