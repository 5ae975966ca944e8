"""Points per block (template `points =`, `xlnet check --points`) and the roster's columns in
the gradebook (`xlnet check --roster`)."""

from __future__ import annotations

import csv
import io
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
from exercise_fill import fill as fill_exercise
from klaas_fill import fill

from xlnet.cli import EXIT_DIFFERS, EXIT_USAGE
from xlnet.exercises import write_exercise
from xlnet.spec import Spec
from xlnet.template import TemplateError, load_template

ROOT = Path(__file__).resolve().parents[1]
ROSTER = ROOT / "examples" / "students.csv"
KLAAS_TOML = ROOT / "xlnet" / "templates" / "klaas-ch1.toml"
LOGREG, MLP = "Logistic Regression", "2 Layer Wine Net"
# The logistic-regression sheet grades 11 blocks, the MLP sheet 21 (left blank: all missing).
LOGREG_BLOCKS, MLP_BLOCKS = 11, 21


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    """Two students of examples/students.csv: Ana Berg's LOG for LN in Sample Loss, Ben
    Okafor's sheet right; both leave the MLP sheet blank. And one file no student matches."""
    folder = tmp_path_factory.mktemp("points")
    ana = fill(folder / "Ana_Berg.xlsx", models=("logreg",), mistake="log")
    ben = fill(folder / "Ben_Okafor.xlsx", models=("logreg",))
    return {"ana": ana, "ben": ben, "stranger": Path(shutil.copy(ben, folder / "zed.xlsx"))}


def _toml(tmp_path: Path, text: str, name: str = "points.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def _grade(cli, *args) -> dict:
    done = cli("check", "--template", "klaas-ch1", "--json", *args)
    assert done.returncode == EXIT_DIFFERS, done.stderr
    return json.loads(done.stdout)


def test_points_file_weights_the_score_as_by_hand(cli, books, tmp_path):
    blocks = '[{ name = "Sample Loss", points = 5 }, { name = "W1", points = 2.5 }]'
    points = _toml(tmp_path, _points(LOGREG, blocks))
    doc = _grade(cli, "--points", points, books["ana"])
    # Correct: W1 (2.5) and the 9 other logreg blocks but Sample Loss (1 each).
    earned = 2.5 + (LOGREG_BLOCKS - 2)
    possible = 5 + 2.5 + (LOGREG_BLOCKS - 2) + MLP_BLOCKS
    assert (doc["points_earned"], doc["points_possible"]) == (earned, possible)
    assert doc["score"] == round(100 * earned / possible, 1) == 30.7
    pts = {(s["sheet"], b["block"]): b["points"] for s in doc["sheets"] for b in s["blocks"]}
    assert pts[(LOGREG, "Sample Loss")] == 5 and pts[(MLP, "Sample Loss")] == 1
    text = cli("check", "--template", "klaas-ch1", "--points", points, books["ana"]).stdout
    assert "(10 of 32 blocks correct, 11.5 of 37.5 points)" in text


def test_default_is_a_point_per_block(cli, books):
    doc = _grade(cli, books["ana"])
    n = LOGREG_BLOCKS + MLP_BLOCKS
    assert (doc["points_earned"], doc["points_possible"]) == (LOGREG_BLOCKS - 1, n)
    assert doc["score"] == round(100 * (LOGREG_BLOCKS - 1) / n, 1)


def test_template_points_and_the_file_overriding_them(cli, books, tmp_path):
    text = KLAAS_TOML.read_text(encoding="utf-8")
    blank = json.dumps(str(KLAAS_TOML.with_suffix(".xlsx")))
    text = text.replace('source = "klaas-ch1.xlsx"', f"source = {blank}")
    text = text.replace('{ name = "Sample Loss", ', '{ name = "Sample Loss", points = 4, ')
    template = _toml(tmp_path, text, "weighted.toml")
    done = cli("check", "--template", template, "--json", books["ana"])
    doc = json.loads(done.stdout)
    # Sample Loss weighs 4 on both sheets: 3 more possible points on each.
    assert (doc["points_earned"], doc["points_possible"]) == (10, 32 + 3 + 3)
    assert doc["score"] == round(100 * 10 / 38, 1)
    points = _toml(tmp_path, _points(LOGREG, '[{ name = "Sample Loss", points = 1 }]'))
    done = cli("check", "--template", template, "--json", "--points", points, books["ana"])
    assert json.loads(done.stdout)["points_possible"] == 32 + 3


@pytest.mark.parametrize("points", ["0", "-1", '"two"', "true"])
def test_template_refuses_points_that_are_not_positive_numbers(tmp_path, points):
    text = KLAAS_TOML.read_text(encoding="utf-8").replace(
        '{ name = "Z1", ', f'{{ name = "Z1", points = {points}, ', 1
    )
    with pytest.raises(TemplateError, match=r"weighted\.toml: block 'Z1': points must be"):
        load_template(_toml(tmp_path, text, "weighted.toml"))


Z1 = '{ name = "Z1", points = 2 }'
# Case -> (sheet, its blocks list, what the one line says).
REFUSED = {
    "unknown sheet": ("Nope", f"[{Z1}]", "sheet 'Nope' block 'Z1' is not graded"),
    "unknown block": (LOGREG, '[{ name = "Z9", points = 2 }]', "block 'Z9' is not graded"),
    "given block": (LOGREG, '[{ name = "X", points = 2 }]', "block 'X' is not graded"),
    "zero": (LOGREG, '[{ name = "Z1", points = 0 }]', "'Z1': points must be a positive number"),
    "negative": (LOGREG, '[{ name = "Z1", points = -2 }]', "a positive number, not -2"),
    "text": (LOGREG, '[{ name = "Z1", points = "2" }]', "a positive number, not '2'"),
    "missing": (LOGREG, '[{ name = "Z1" }]', "a positive number, not None"),
    "duplicate": (LOGREG, f"[{Z1}, {Z1}]", f"sheet '{LOGREG}' block 'Z1' is listed twice"),
}


def _points(sheet: str, blocks: str) -> str:
    return f'[[sheet]]\nname = "{sheet}"\nblocks = {blocks}\n'


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_points_files_are_refused_in_one_line(cli, books, tmp_path, case):
    sheet, blocks, message = REFUSED[case]
    points = _toml(tmp_path, _points(sheet, blocks))
    done = cli("check", "--template", "klaas-ch1", "--points", points, books["ana"])
    assert done.returncode == EXIT_USAGE
    assert done.stderr.count("\n") == 1 and str(points) in done.stderr, done.stderr
    assert message in done.stderr


def test_duplicate_across_sheet_tables_and_bad_toml_are_refused(cli, books, tmp_path):
    twice = _points(LOGREG, f"[{Z1}]")
    for text, message in ((twice * 2, "listed twice"), ("[[sheet]\n", "not a readable TOML")):
        points = _toml(tmp_path, text)
        done = cli("check", "--template", "klaas-ch1", "--points", points, books["ana"])
        assert done.returncode == EXIT_USAGE and message in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1


def test_exercise_points_go_by_block_name_on_the_train_sheet(cli, few_wine, tmp_path):
    """In an exercise written by xlnet, each block is graded once per epoch ("dW1" of epochs 1
    and 2): a block's points count for each of its epochs."""
    src = tmp_path / "ex.xlsx"
    write_exercise(Spec(model="logreg", epochs=2), few_wine, src, ("params",))
    wrong = lambda step, epoch, i, j, f: "0" if (step, epoch) == ("dW1", 1) else f  # noqa: E731
    filled = fill_exercise(src, tmp_path / "filled.xlsx", wrong)
    plain = json.loads(cli("check", "--json", filled).stdout)
    blocks = [b for s in plain["sheets"] for b in s["blocks"]]
    points = _toml(tmp_path, _points("Train", '[{ name = "dW1", points = 3 }]'))
    doc = json.loads(cli("check", "--json", "--points", points, filled).stdout)
    dw1 = [b for s in doc["sheets"] for b in s["blocks"] if b["block"] == "dW1"]
    seen = [(b["epoch"], b["points"], b["verdict"]) for b in dw1]
    assert seen == [(1, 3, "wrong"), (2, 3, "correct")]
    # Every block but dW1@1 correct, dW1's two epochs 3 points each.
    assert doc["points_possible"] == len(blocks) + 2 * 2
    assert doc["points_earned"] == len(blocks) - 1 + 2
    bad = _toml(tmp_path, _points("Train", '[{ name = "dW9", points = 3 }]'))
    done = cli("check", "--points", bad, filled)
    assert done.returncode == EXIT_USAGE and "block 'dW9' is not graded" in done.stderr


def test_gradebook_leads_with_the_roster_columns(cli, books, tmp_path):
    report = tmp_path / "grades.csv"
    files = [books["ana"], books["ben"], books["stranger"], books["ana"]]
    done = cli("check", "--template", "klaas-ch1", "--roster", ROSTER, "--report", report, *files)
    assert done.returncode == EXIT_DIFFERS
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "zed.xlsx" in warnings[0] and str(ROSTER) in warnings[0]
    rows = _csv(report)
    assert rows[0][:6] == ["id", "name", "email", "file", "student", "score"]
    by_file = [(r[0], r[1], r[2], Path(r[3]).name) for r in rows[1:]]
    assert by_file == [
        ("s01", "Ana Berg", "ana.berg@example.edu", "Ana_Berg.xlsx"),
        ("s02", "Ben Okafor", "ben.okafor@example.edu", "Ben_Okafor.xlsx"),
        ("", "", "", "zed.xlsx"),  # no student of that name: the roster's columns left empty
        ("s01", "Ana Berg", "ana.berg@example.edu", "Ana_Berg.xlsx"),
    ]


def test_canvas_roster_columns_pass_through(cli, books, tmp_path):
    """A roster exported from Canvas's gradebook (Student, ID, SIS User ID, SIS Login ID,
    Section) names the files by its Student column and leads the gradebook unchanged, so
    Canvas finds its student columns on import; `score` is the assignment's column."""
    roster = tmp_path / "canvas.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section\n"
        '"Berg, Ana",101,s01,ana.berg,ML 1\n"Okafor, Ben",102,s02,ben.okafor,ML 1\n',
        encoding="utf-8",
    )
    folder = tmp_path / "subs"
    folder.mkdir()
    ana = shutil.copy(books["ana"], folder / "Berg_Ana.xlsx")
    report = tmp_path / "grades.csv"
    cli("check", "--template", "klaas-ch1", "--roster", roster, "--report", report, ana)
    head, row = _csv(report)
    assert head[:6] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "file"]
    assert "score" in head
    assert row[:5] == ["Berg, Ana", "101", "s01", "ana.berg", "ML 1"]


def _glob(arg: str, cwd: Path) -> list[str]:
    """What a shell makes of `arg` in `cwd`."""
    return sorted(str(p.relative_to(cwd)) for p in cwd.glob(arg)) if "*" in arg else [arg]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Points and the LMS", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```\n(.*?)```", section, re.S)
    return [line.strip() for b in blocks for line in b.splitlines() if line.startswith("xlnet ")]


def test_readme_points_and_roster_examples_run(cli, tmp_path):
    """The README's commands, as written, from a folder holding examples/: the roster's copies
    of the book's sheet, two of them filled, graded with points and the roster's columns."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    commands = _readme_commands()
    assert [c.split()[1] for c in commands] == ["exercise", "check"]
    exercise, check = (shlex.split(c.split("#", 1)[0])[1:] for c in commands)
    assert cli(*exercise, cwd=tmp_path).returncode == 0
    for stem, mistake in (("Ana_Berg", "log"), ("Ben_Okafor", None)):
        copy = tmp_path / "ch1" / f"{stem}.xlsx"
        fill(copy, models=("logreg", "mlp"), mistake=mistake, template=copy)
    done = cli(*(a for arg in check for a in _glob(arg, tmp_path)), cwd=tmp_path)
    assert done.returncode == EXIT_DIFFERS, done.stderr
    head, *rows = _csv(tmp_path / "grades.csv")
    # Moodle maps an identifier column (email address, ID number) and a grade column.
    assert head[:3] == ["id", "name", "email"] and "score" in head
    scores = {r[1]: float(r[head.index("score")]) for r in rows}
    assert scores["Ben Okafor"] == 100 and scores["Ana Berg"] < 100
    assert scores["Chiara Rossi"] < scores["Ana Berg"]  # left blank but her initial weights


def test_api_takes_points_and_roster(books, tmp_path):
    import xlnet

    points = _toml(tmp_path, _points(LOGREG, '[{ name = "Sample Loss", points = 5 }]'))
    grades = xlnet.check([books["ben"], books["stranger"]], template="klaas-ch1", points=points,
                         roster=ROSTER, jobs=1)  # fmt: skip
    assert grades[0].points_possible == LOGREG_BLOCKS + 4 + MLP_BLOCKS
    assert grades.unmatched == [str(books["stranger"])]
    frame = grades.to_frame()
    assert list(frame.columns[:4]) == ["id", "name", "email", "file"]
    assert list(frame["id"]) == ["s02", ""]


def test_roster_columns_named_like_the_gradebooks_own_are_prefixed(books, tmp_path):
    import xlnet

    roster = tmp_path / "roster.csv"
    roster.write_text("student,score\nAna Berg,A\n", encoding="utf-8")
    frame = xlnet.check(books["ana"], template="klaas-ch1", roster=roster, jobs=1).to_frame()
    assert list(frame.columns[:5]) == ["roster student", "roster score", "file", "student", "score"]
    assert frame["roster student"][0] == "Ana Berg" and frame["score"][0] < 100


def test_feedback_pages_show_points_and_the_rosters_names(books, tmp_path):
    import xlnet

    points = _toml(tmp_path, _points(LOGREG, '[{ name = "Sample Loss", points = 5 }]'))
    out = tmp_path / "fb"
    grades = xlnet.check([books["ben"], books["stranger"]], template="klaas-ch1", points=points,
                         roster=ROSTER, jobs=1, feedback=out)  # fmt: skip
    ben = grades[0]
    page = (out / (books["ben"].stem + ".html")).read_text(encoding="utf-8")
    assert f"{ben.points_earned:g} of {ben.points_possible:g} points" in page
    assert "<th>points</th>" in page and "5 of 5" in page
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<bdi>Ben Okafor</bdi>" in index
    stranger = (out / (books["stranger"].stem + ".html")).read_text(encoding="utf-8")
    assert "Okafor" not in stranger
