"""Exercises written by `xlnet exercise`, filled by a script, graded by `xlnet check`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from exercise_fill import fill

from xlnet.a1 import col_index, col_letters
from xlnet.cli import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, main
from xlnet.exercises import (
    ExerciseError,
    blank_steps,
    parse_given,
    read_roster,
    student_seed,
    write_exercise,
)
from xlnet.grade import grade_file as grade
from xlnet.gradebook import grade_files, report_csv
from xlnet.layout import LR_NAME, setting_block
from xlnet.program import build_program
from xlnet.spec import Spec
from xlnet.verdicts import VERDICTS
from xlnet.xlsxio import read_book
from xlsx_edit import edit_book, setting_cell

EXERCISE_CASES = [
    ("logreg", "softmax", "cells"),
    ("logreg", "sigmoid", "arrays"),
    ("mlp", "softmax", "arrays"),
    ("mlp", "sigmoid", "cells"),
]


@pytest.fixture(scope="module")
def exercises(tmp_path_factory, few_wine) -> dict[tuple[str, str, str], Path]:
    folder = tmp_path_factory.mktemp("exercises")
    out = {}
    for model, output, layout in EXERCISE_CASES:
        spec = Spec(model=model, output=output, layout=layout, epochs=2, hidden=3)
        path = folder / f"{model}-{output}-{layout}.xlsx"
        write_exercise(spec, few_wine, path, ("params",))
        out[(model, output, layout)] = path
    return out


@pytest.fixture(scope="module")
def mlp_exercise(exercises) -> Path:
    return exercises[("mlp", "softmax", "arrays")]


def _not_correct(g):
    return [(b.block, b.epoch, b.verdict) for b in g.graded if b.verdict != "correct"]


@pytest.mark.parametrize("case", EXERCISE_CASES)
def test_correct_fill_scores_full_marks(exercises, few_wine, tmp_path, case):
    model, output, layout = case
    filled = fill(exercises[case], tmp_path / "filled.xlsx", arrays=layout == "arrays")
    g = grade(filled)
    assert g.error is None
    assert _not_correct(g) == []
    assert g.score == 100.0
    # Every blank step of both epochs was graded.
    spec = Spec(model=model, output=output, epochs=2, hidden=3)
    program = build_program(spec, few_wine.n, few_wine.f, few_wine.k)
    assert len(g.graded) == 2 * len(blank_steps(program, ("params",)))


def test_blank_exercise_is_all_missing(mlp_exercise):
    g = grade(mlp_exercise)
    assert {b.verdict for b in g.graded} == {"missing"}
    assert g.score == 0.0


def _replace(step: str, epoch: int, old: str, new: str):
    def edit(s, e, i, j, f):
        return f.replace(old, new) if (s, e) == (step, epoch) else f

    return edit


def _z_for_a(m: re.Match) -> str:
    """(1-A1*A1) -> (1-Z1*Z1): Z1 sits 4 columns left of A1 (3 hidden units and a gap)."""
    z = f"{col_letters(col_index(m[1]) - 4)}{m[2]}"
    return f"(1-{z}*{z})"


# Each planted mistake: the one block it must be reported in, and words of the hint.
MISTAKES = {
    "wrong sign": (_replace("New W1", 1, "-learning_rate", "+learning_rate"), "New W1", 1,
                   "wrong", "wrong sign"),
    "missing 1/N": (_replace("dW2", 1, "/n_samples", ""), "dW2", 1, "wrong", "missing 1/N"),
    "LOG for LN": (_replace("Sample Loss", 2, "LN(", "LOG("), "Sample Loss", 2, "wrong", "LN"),
    "tanh derivative of Z": (
        lambda s, e, i, j, f: re.sub(r"\(1-([A-Z]+)(\d+)\*\1\2\)", _z_for_a, f)
        if (s, e) == ("dZ1", 1) else f,
        "dZ1", 1, "wrong", "from Z1"),
    "text in arithmetic": (lambda s, e, i, j, f: f + '+"x"' if (s, e) == ("db1", 1) else f,
                           "db1", 1, "error", "text"),
    "pasted numbers": (lambda s, e, i, j, f: "0.5" if (s, e) == ("A1", 1) else f, "A1", 1,
                       "not_formula", "formulas"),
    "left blank": (lambda s, e, i, j, f: "" if (s, e) == ("New b2", 2) else f, "New b2", 2,
                   "missing", None),
}  # fmt: skip


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_is_one_verdict_on_its_block(mlp_exercise, tmp_path, mistake):
    edit, block, epoch, verdict, hint = MISTAKES[mistake]

    def writer(s, e, i, j, f):
        out = edit(s, e, i, j, f)
        if out == "0.5":
            return 0.5  # a typed number, not a formula
        return out

    filled = fill(mlp_exercise, tmp_path / "m.xlsx", edit=writer)
    g = grade(filled)
    assert _not_correct(g) == [(block, epoch, verdict)], mistake
    b = next(b for b in g.graded if b.verdict != "correct")
    assert b.cell and b.cell.startswith("Train!")
    if hint:
        assert b.hint and hint in b.hint, b.hint
    if verdict == "wrong":
        assert b.formula and b.expected is not None and b.got is not None and b.wrong_cells > 0


def test_given_groups_choose_the_blank_blocks():
    program = build_program(Spec(model="mlp", hidden=3), 178, 13, 3)
    blanks = blank_steps(program, parse_given("forward,loss,params"))
    assert blanks == {"dZ2", "dW2", "db2", "dZ1", "dW1", "db1", "New W1", "New b1", "New W2",
                      "New b2"}  # fmt: skip
    assert parse_given("none") == () and "update" in parse_given("all")
    with pytest.raises(ExerciseError, match="unknown block group 'gradients'"):
        parse_given("forward,gradients")


def test_all_given_is_refused(wine, tmp_path):
    with pytest.raises(ExerciseError, match="nothing is left"):
        write_exercise(Spec(), wine, tmp_path / "x.xlsx", parse_given("all"))


def test_exercise_holds_no_answers(mlp_exercise):
    """Blank blocks are blank, and no cached value of a formula gives an answer away."""
    book = read_book(mlp_exercise)
    train = book.sheet("Train")
    assert train.formulas or train.arrays  # the weight copies are given
    from xlnet.xlsxio import read_cached

    cached = read_cached(mlp_exercise)["Train"]
    numbers = [v for v in cached.values() if isinstance(v, float) and v != 0]
    assert numbers == []


def test_roster_variants(wine, tmp_path):
    roster = tmp_path / "students.csv"
    roster.write_text("id,student\n1,Ada Lovelace\n2,Alan Turing\n3,Grace Hopper\n")
    outdir = tmp_path / "out"
    outdir.mkdir()
    code = main(["exercise", "logreg", "--roster", str(roster), "--outdir", str(outdir),
                 "--vary-lr"])  # fmt: skip
    assert code == EXIT_OK
    files = sorted(outdir.glob("*.xlsx"))
    assert [f.name for f in files] == ["Ada_Lovelace.xlsx", "Alan_Turing.xlsx", "Grace_Hopper.xlsx"]
    inits, lrs = set(), set()
    for f in files:
        book = read_book(f)
        settings = book.sheet("Settings").values
        inits.add(tuple(v for (r, c), v in sorted(book.sheet("Init").values.items())
                        if isinstance(v, float)))  # fmt: skip
        lr = setting_block(LR_NAME)
        lrs.add(settings[(lr.row, lr.col)])
        g = grade(f)
        assert g.student == f.stem.replace("_", " ")
    assert len(inits) == 3 and len(lrs) == 3  # copied values cannot match another's
    assert student_seed(0, "Ada Lovelace") == student_seed(0, " Ada Lovelace ")
    assert student_seed(0, "Ada Lovelace") != student_seed(1, "Ada Lovelace")
    # A filled variant grades against its own weights and learning rate.
    filled = fill(files[0], tmp_path / "ada-filled.xlsx")
    assert grade(filled).score == 100.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("student\n", "lists no students"),
        ("name\nAda\nada\n", "listed twice"),
        ("name,email\nAda,a@x\n,b@x\n", "line 3 has no student name"),
    ],
)
def test_bad_rosters(tmp_path, text, message):
    roster = tmp_path / "r.csv"
    roster.write_text(text)
    with pytest.raises(ExerciseError, match=message):
        read_roster(roster)


def test_roster_not_utf8(tmp_path):
    roster = tmp_path / "r.csv"
    roster.write_bytes("name\nJos\xe9\n".encode("latin-1"))
    with pytest.raises(ExerciseError, match="not UTF-8"):
        read_roster(roster)


def test_check_never_changes_the_file(mlp_exercise, tmp_path):
    filled = fill(mlp_exercise, tmp_path / "f.xlsx")
    before = (filled.read_bytes(), filled.stat().st_mtime_ns)
    assert main(["check", str(filled)]) == EXIT_OK
    assert (filled.read_bytes(), filled.stat().st_mtime_ns) == before


def test_check_json_and_gradebook(mlp_exercise, tmp_path, capsys):
    good = fill(mlp_exercise, tmp_path / "good.xlsx")
    bad = fill(mlp_exercise, tmp_path / "bad.xlsx", edit=MISTAKES["missing 1/N"][0])
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    report = tmp_path / "grades.csv"
    code = main(["check", str(good), str(bad), str(broken), "--json", "--report", str(report)])
    assert code == EXIT_DIFFERS
    docs = json.loads(capsys.readouterr().out)
    assert [d["file"] for d in docs] == [str(good), str(bad), str(broken)]
    assert [d["score"] for d in docs][:1] == [100.0] and docs[1]["score"] < 100
    assert "not an .xlsx" in docs[2]["error"] and docs[2]["score"] == 0
    block = docs[1]["sheets"][0]["blocks"][0]
    assert {"block", "verdict", "cell", "formula", "expected", "got", "wrong_cells",
            "hint"} <= block.keys()  # fmt: skip
    assert all(b["verdict"] in VERDICTS for b in docs[0]["sheets"][0]["blocks"])
    rows = report.read_text().splitlines()
    assert len(rows) == 4
    head = rows[0].split(",")
    assert head[:3] == ["file", "student", "score"] and "dW2 (epoch 1)" in head
    bad_row = dict(zip(head, rows[2].split(","), strict=False))
    assert bad_row["dW2 (epoch 1)"] == "wrong" and bad_row["dW1 (epoch 1)"] == "correct"


def test_parallel_grading_matches_serial(mlp_exercise, tmp_path):
    files = [fill(mlp_exercise, tmp_path / "a.xlsx"),
             fill(mlp_exercise, tmp_path / "b.xlsx", edit=MISTAKES["wrong sign"][0]),
             mlp_exercise]  # fmt: skip
    serial = grade_files(files, None, jobs=1)
    parallel = grade_files(files, None, jobs=3)
    assert report_csv(serial) == report_csv(parallel)
    assert [g.file for g in parallel] == [str(f) for f in files]


@pytest.mark.parametrize(
    "args",
    [
        ["exercise", "-o", "x.xlsx"],
        ["exercise", "logreg"],
        ["exercise", "logreg", "-o", "x.xlsx", "--given", "gradients"],
        ["exercise", "logreg", "-o", "x.xlsx", "--given", "all"],
        ["exercise", "logreg", "--roster", "r.csv"],
        ["exercise", "logreg", "-o", "x.xlsx", "--vary-lr"],
        ["exercise", "logreg", "-o", "no/such/dir/x.xlsx"],
        ["exercise", "--template", "no-such-template", "-o", "x.xlsx"],
        ["check"],
        ["check", "x.xlsx", "--template", "no-such-template"],
        ["check", "x.xlsx", "--report", "no/such/dir/g.csv"],
        ["check", "x.xlsx", "--report", "g.txt"],
        ["check", "x.xlsx", "--jobs", "0"],
    ],
)
def test_bad_exercise_and_check_usage(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    assert main(args) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert list(tmp_path.iterdir()) == []


def test_report_may_not_overwrite_a_submission(mlp_exercise, tmp_path, capsys):
    sub = tmp_path / "sub.csv"
    sub.write_text("x")
    assert main(["check", str(sub), "--report", str(sub)]) == EXIT_USAGE
    assert sub.read_text() == "x"


def test_given_override_stops_a_student_editing_settings(mlp_exercise, tmp_path, capsys):
    """A student who edits Settings to say more was given cannot shrink the exercise."""
    cheat = tmp_path / "cheat.xlsx"
    edit_book(mlp_exercise, cheat, {setting_cell("given"): "params,forward,loss,backward"})
    g = grade(cheat)
    assert g.score == 0.0  # only the update blocks, left blank, are graded
    assert len(g.graded) == 8
    honest = grade(cheat, given=("params",))
    assert len(honest.graded) == 2 * 20 and honest.score == 0.0  # 24 steps less 4 copies
    assert "the file's Settings say" in honest.sheets[0].notes[0]
    assert main(["check", str(cheat), "--given", "params", "--json"]) == EXIT_DIFFERS
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["sheets"][0]["blocks"]) == len(honest.graded)


def test_gradebook_fields_cannot_run_as_formulas(tmp_path):
    from xlnet.verdicts import FileGrade

    g = FileGrade("=cmd|' /C calc'!A0.xlsx", student='=HYPERLINK("http://x","y")', error="-1")
    text = report_csv([g])
    row = text.splitlines()[1]
    assert "'=HYPERLINK" in row and "'=cmd" in row and ",'-1" in row


def test_exercise_never_overwrites_its_template(tmp_path, capsys):
    from xlnet.template import load_template

    source = load_template("klaas-ch1").source
    before = source.read_bytes()
    assert main(["exercise", "--template", "klaas-ch1", "-o", str(source)]) == EXIT_USAGE
    assert "is also an input" in capsys.readouterr().err
    assert source.read_bytes() == before


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_deeper_net_exercises_grade(few_wine, tmp_path, activation):
    """An exercise of a net with two hidden layers: the right fill scores 100%; relu's
    derivative taken as 1 at 0 (A>=0) or sigmoid's written as tanh's is one wrong block."""
    spec = Spec(model="mlp", hidden=(4, 3), activation=activation, epochs=1)
    ex = write_exercise(spec, few_wine, tmp_path / "deep.xlsx", ("params",)).path
    g = grade(fill(ex, tmp_path / "right.xlsx"))
    assert g.error is None and _not_correct(g) == [] and g.score == 100.0
    assert {b.block for b in g.graded} >= {"Z3", "dZ2", "dZ1", "New W3"}

    def mistake(step, epoch, i, j, f):
        if step != "dZ1":
            return f
        return (
            f.replace(">0,1,0)", ">=0,1,0)")
            if activation == "relu"
            else (f.split("*", 1)[0] + "*(1-" + f.rsplit("*(1-", 1)[1].replace(")", "^2)", 1))
        )

    g = grade(fill(ex, tmp_path / "wrong.xlsx", edit=mistake))
    assert _not_correct(g) == [("dZ1", 1, "wrong")]
    if activation == "sigmoid":
        assert "tanh's derivative" in next(b.hint for b in g.graded if b.verdict == "wrong")

    def no_derivative(step, epoch, i, j, f):
        return f.split("*", 1)[0] if step == "dZ2" else f

    g = grade(fill(ex, tmp_path / "missing.xlsx", edit=no_derivative))
    assert _not_correct(g) == [("dZ2", 1, "wrong")]
    hint = next(b.hint for b in g.graded if b.verdict == "wrong")
    assert f"the {activation} derivative is missing" in hint
