"""build -> verify round trips with the formulas engine, and verify's ability to fail."""

import json

import pytest

from conftest import LAYOUT_CASES, MODELS_OUTPUTS, SMALL_EPOCHS, small_spec
from xlnet.evaluate import EMPTY, evaluate, xl_error
from xlnet.layout import LR_NAME, TRAIN, Layout
from xlnet.program import build_program
from xlnet.run import Run
from xlnet.spec import Spec
from xlnet.verification import FD_CHECK, TOLERANCE, verify
from xlnet.workbook import build
from xlnet.xlsxio import read_book, read_cached
from xlsx_edit import edit_book, set_all_cached, set_formula, setting_cell


@pytest.mark.parametrize(("model", "output", "layout"), LAYOUT_CASES)
def test_round_trip(small_books, model, output, layout):
    report = verify(small_books[(model, output, layout)])
    assert report.ok, report.table()
    assert report.unchecked_formulas == 0
    assert report.error_cells == []
    epochs = {b.epoch for b in report.blocks if b.epoch is not None}
    assert epochs == set(range(1, SMALL_EPOCHS + 1))
    names = {b.block for b in report.blocks}
    assert {"X", "Y", "Mean", "Std", "Sample Loss", "Loss", "Accuracy", "New W1"} <= names
    assert all(b.max_rel_error <= TOLERANCE for b in report.blocks if b.epoch is not None)
    (fd,) = [b for b in report.blocks if b.block == FD_CHECK]
    assert fd.status == "ok" and fd.cells > 0


def test_every_block_cell_is_a_formula(small_books):
    path = small_books[("mlp", "softmax")]
    book = read_book(path)
    run = Run.from_book(book)
    train = book.sheet(TRAIN)
    for step in run.program.epoch_steps:
        block = run.layout.block(step.out, 2)
        for _, _, r, c in block.cells():
            assert (r, c) in train.formulas, f"{step.out} at {r},{c} is not a formula"
    headers = {
        (run.layout.band_top(e) + i, c)
        for e in range(1, SMALL_EPOCHS + 1)
        for i in (0, 1)
        for c in range(run.layout.train_cols)
    }
    w1 = run.layout.block("W1", 1)
    row_labels = {
        (run.layout.band_top(e) + w1.row - run.layout.band_top(1) + i, 0)
        for e in range(1, SMALL_EPOCHS + 1)
        for i in range(w1.nrows)
    }
    assert not train.values.keys() - headers - row_labels, (
        "the Train sheet holds only formulas besides its titles, headers and W1's row labels"
    )
    assert all(isinstance(train.values[rc], str) for rc in row_labels)


def test_cached_values_are_not_trusted(small_books, tmp_path):
    src = small_books[("logreg", "softmax")]
    bad = tmp_path / "stale.xlsx"
    assert set_all_cached(src, bad, TRAIN, "12345") > 1000
    cached = read_cached(bad)[TRAIN]
    assert 12345 in cached.values()
    report = verify(bad)
    assert report.ok, report.table()


def test_broken_formula_in_late_epoch_is_named(small_books, tmp_path):
    src = small_books[("mlp", "softmax")]
    run = Run.from_book(read_book(src))
    block = run.layout.block("New W2", SMALL_EPOCHS)
    cell = block.ref(1, 2, TRAIN)
    bad = tmp_path / "broken.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old.replace("-learning_rate", "+learning_rate"))
    report = verify(bad)
    assert not report.ok
    (failure,) = report.failures  # the summary reads Loss, which this cell does not feed
    assert (failure.block, failure.epoch) == ("New W2", SMALL_EPOCHS)
    assert failure.cell == f"{TRAIN}!{cell}"
    assert "+learning_rate" in failure.formula
    assert failure.wrong_cells == 1
    assert failure.expected != failure.got


def test_broken_formula_early_reports_first_block(small_books, tmp_path):
    src = small_books[("logreg", "sigmoid")]
    run = Run.from_book(read_book(src))
    cell = run.layout.block("dZ1", 2).ref(5, 0, TRAIN)
    bad = tmp_path / "broken.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: old + "*2")
    report = verify(bad)
    assert not report.ok
    # Reported once: the blocks after it are off the trajectory but right on their own inputs.
    assert [(f.block, f.epoch) for f in report.failures] == [("dZ1", 2)]
    assert {(d.block, d.epoch) for d in report.drifting} >= {("dW1", 2), ("New W1", 2)}
    assert "after the first failure" in report.table()


@pytest.mark.parametrize("factor", ["*(1+1E-7)", "+1E-8"])
def test_a_slightly_wrong_formula_is_not_drift(small_books, tmp_path, factor):
    """The local check forgives rounding, never a formula that computes something else."""
    src = small_books[("mlp", "softmax")]
    run = Run.from_book(read_book(src))
    cell = run.layout.block("dW1", 3).ref(2, 1, TRAIN)
    bad = tmp_path / "slight.xlsx"
    set_formula(src, bad, TRAIN, cell, lambda old: f"({old}){factor}")
    report = verify(bad)
    assert not report.ok
    assert [(f.block, f.epoch) for f in report.failures] == [("dW1", 3)]
    assert report.failures[0].local_rel_error > 1e-9


@pytest.fixture(scope="module")
def chaotic_sigmoid(tmp_path_factory, wine):
    """A two-layer sigmoid net at lr 50: chaotic, and its outputs saturate to exactly 1."""
    path = tmp_path_factory.mktemp("chaos") / "sig50.xlsx"
    build(Spec(model="mlp", output="sigmoid", hidden=2, lr=50.0, epochs=12), wine, path)
    return path


def _first_saturated_loss_cell(path) -> str:
    """A Sample Loss cell of an early epoch whose sample has an output of exactly 1."""
    from xlnet.evaluate import evaluate

    book = read_book(path)
    run = Run.from_book(book)
    result = evaluate(book)
    for epoch in (2, 3, 4):
        a2, loss = run.layout.block("A2", epoch), run.layout.block("Sample Loss", epoch)
        for i in range(a2.nrows):
            if any(result.value(TRAIN, a2.row + i, a2.col + j) == 1.0 for j in range(a2.ncols)):
                return loss.ref(i, 0, TRAIN)
    raise AssertionError("no output saturates to 1 in epochs 2-4: pick another case")


@pytest.mark.parametrize(
    ("where", "edit"),
    [
        ("accuracy", lambda old: f"({old})+0.01"),
        ("onehot", lambda old: old.replace(",1,0)", ",0.5,0)")),
        ("mean", lambda old: f"({old})*(1+1E-6)"),
        ("summary", lambda old: f"({old})*(1+1E-8)"),
        ("dW1 at epoch 1", lambda old: f"({old})+9E-10"),
        ("saturated loss", lambda old: "0"),
    ],
)
def test_small_mistakes_never_pass_as_drift(chaotic_sigmoid, tmp_path, where, edit):
    """Drift is allowed only where NumPy's own run is chaotic, or after a failure; a step that
    compares or copies is exact; the formulas engine's values get no slack."""
    book = read_book(chaotic_sigmoid)
    run = Run.from_book(book)
    layout = run.layout
    places = {
        "accuracy": lambda: (TRAIN, layout.block("Accuracy", 2).ref(0, 0, TRAIN)),
        "onehot": lambda: ("Data", layout.block("Y").ref(1, 0, "Data")),
        "mean": lambda: ("Data", layout.block("Mean").ref(0, 6, "Data")),
        "summary": lambda: ("Summary", layout.block("Summary Loss").ref(10, 0, "Summary")),
        "dW1 at epoch 1": lambda: (TRAIN, layout.block("dW1", 1).ref(3, 1, TRAIN)),
        "saturated loss": lambda: (TRAIN, _first_saturated_loss_cell(chaotic_sigmoid)),
    }
    sheet, cell = places[where]()
    bad = tmp_path / "bad.xlsx"
    set_formula(chaotic_sigmoid, bad, sheet, cell, edit)
    report = verify(bad)
    assert not report.ok, report.table()
    assert report.failures, report.table()


def test_chaotic_run_verifies_with_drift(chaotic_sigmoid):
    report = verify(chaotic_sigmoid)
    assert report.ok, report.table()
    assert report.drifting and all(b.local_rel_error <= 1e-13 for b in report.drifting)


def test_edited_learning_rate_still_verifies(small_books, tmp_path):
    src = small_books[("mlp", "sigmoid")]
    edited = tmp_path / "lr.xlsx"
    assert Run.from_book(read_book(src)).inputs.lr == 1.0
    edit_book(src, edited, {setting_cell(LR_NAME): 0.25})
    before = verify(src)
    after = verify(edited)
    assert after.ok, after.table()
    book_before, book_after = read_book(src), read_book(edited)
    loss = Run.from_book(book_after).layout.block("Loss", SMALL_EPOCHS)
    v_before = evaluate(book_before).value(TRAIN, loss.row, loss.col)
    v_after = evaluate(book_after).value(TRAIN, loss.row, loss.col)
    assert before.ok and abs(v_before - v_after) > 1e-3


def test_json_report(small_books):
    report = verify(small_books[("logreg", "softmax")])
    data = json.loads(json.dumps(report.to_json()))
    assert data["ok"] is True
    assert {"block", "epoch", "max_abs_error", "max_rel_error", "status"} <= data["blocks"][
        0
    ].keys()


def test_same_command_same_bytes(tmp_path, wine):
    spec = small_spec("logreg", "softmax", epochs=2)
    a, b = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    build(spec, wine, a)
    build(spec, wine, b)
    assert a.read_bytes() == b.read_bytes()


def test_layout_fits_the_sheet():
    spec = small_spec("mlp", "softmax", epochs=200)
    with pytest.raises(ValueError, match="rows"):
        Layout(build_program(spec, 10_000, 13, 3))  # 200 bands of 10,003 rows


@pytest.mark.parametrize("layout", ["cells", "arrays"])
def test_every_formula_carries_its_cached_value(small_books, layout):
    path = small_books[("mlp", "sigmoid", layout)]
    book = read_book(path)
    cached = read_cached(path)
    result = evaluate(book)
    for (s, r, c), _formula in result.formulas.items():
        sheet = result.sheet_names[s]
        value = cached[sheet].get((r, c))
        assert isinstance(value, int | float), f"{sheet} {r},{c} has no cached number"
        assert value == pytest.approx(result.grids[s][r, c], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("model", "output"), MODELS_OUTPUTS)
def test_layouts_hold_the_same_numbers(small_books, model, output):
    cells, arrays = (small_books[(model, output, lay)] for lay in ("cells", "arrays"))
    book_c, book_a = read_book(cells), read_book(arrays)
    assert book_a.sheet(TRAIN).arrays and not book_c.sheet(TRAIN).arrays
    # Fewer formulas to parse: at least every block bigger than one row is one formula.
    assert (
        len(book_a.sheet(TRAIN).arrays) + len(book_a.sheet(TRAIN).formulas)
        < len(book_c.sheet(TRAIN).formulas) / 5
    )
    rc, ra = evaluate(book_c), evaluate(book_a)
    assert rc.formulas.keys() == ra.formulas.keys()
    for s, r, c in rc.formulas:
        assert ra.grids[s][r, c] == pytest.approx(rc.grids[s][r, c], rel=1e-12, abs=1e-12)


def test_array_layout_writes_one_formula_per_block(small_books):
    book = read_book(small_books[("mlp", "softmax", "arrays")])
    run = Run.from_book(book)
    arrays = book.sheet(TRAIN).arrays
    for step in run.program.epoch_steps:
        block = run.layout.block(step.out, 2)
        if block.nrows * block.ncols > 1 and step.op.array is not None:
            text, nr, nc = arrays[(block.row, block.col)]
            assert (nr, nc) == (block.nrows, block.ncols), step.out
            assert not any(f in text.upper() for f in ("LAMBDA", "LET(", "SEQUENCE", "ANCHORARRAY"))


def test_broken_array_formula_is_named(small_books, tmp_path):
    src = small_books[("mlp", "sigmoid", "arrays")]
    run = Run.from_book(read_book(src))
    block = run.layout.block("dW1", SMALL_EPOCHS)
    cell = block.ref(0, 0, TRAIN)
    bad = tmp_path / "broken.xlsx"
    old = set_formula(src, bad, TRAIN, cell, lambda old: old.removesuffix("/n_samples"))
    assert old.endswith("/n_samples")
    report = verify(bad)
    first = report.failures[0]
    assert (first.block, first.epoch, first.cell) == ("dW1", SMALL_EPOCHS, f"{TRAIN}!{cell}")
    assert first.wrong_cells == block.nrows * block.ncols
    assert first.formula.startswith("{")


def test_fewer_epochs_in_settings_than_in_the_sheet_fails(small_books, tmp_path):
    edited = tmp_path / "fewer.xlsx"
    edit_book(small_books[("logreg", "softmax")], edited, {setting_cell("epochs"): 1})
    report = verify(edited)
    assert not report.ok
    assert report.unchecked_formulas > 0
    assert any(c.startswith(TRAIN) for c in report.unchecked_cells)
    assert "UNCHECKED" in report.table()


LOCALLY = "differs from NumPy applied to the values it reads"


def _planted(src, value, *, why: str | None = None, drop_formula: bool = False):
    """compare() on `src`'s recalculation with one cell of epoch 2's dW1 replaced by `value`
    (and its formula dropped); the check of that block and the cell's name."""
    from dataclasses import replace

    import numpy as np

    from xlnet.comparison import compare
    from xlnet.reference import train

    book = read_book(src)
    run = Run.from_book(book)
    result = evaluate(book)
    block = run.layout.block("dW1", 2)
    s, r, c = result.index(TRAIN), block.row + 1, block.col + 1
    grids = [g.copy() for g in result.grids]
    if value is not None:
        grids[s][r, c] = value(grids[s][r, c])
    formulas = dict(result.formulas) if drop_formula else result.formulas
    if drop_formula:
        del formulas[(s, r, c)]
    planted = replace(result, grids=grids, formulas=formulas,
                      why={(s, r, c): why} if why else {})  # fmt: skip
    checks = compare(run, planted, train(run.program, run.inputs))
    (check,) = [k for k in checks if (k.block, k.epoch) == ("dW1", 2)]
    assert not np.isnan(check.max_rel_error)
    return check, f"{TRAIN}!{block.ref(1, 1, TRAIN)}"


@pytest.mark.parametrize(
    ("value", "why", "problem", "structural"),
    [
        (lambda v: True, None, "not a number", 1),  # a boolean is no number, though an int
        (lambda v: "text", None, "not a number", 1),
        (lambda v: EMPTY, None, "not a number", 1),  # a formula cell holding a blank
        (lambda v: xl_error("#DIV/0!"), "planted", "not a number (planted)", 1),
        (lambda v: float("inf"), None, "not finite", 1),
        (lambda v: float("nan"), None, "not finite", 1),
        # Numbers (an int is one) off their step: named by the local check.
        (lambda v: v + 1.0, None, LOCALLY, 0),
        (lambda v: int(v) + 1, None, LOCALLY, 0),
    ],
)
def test_a_cell_holding_no_number_is_named(small_books, value, why, problem, structural):
    check, cell = _planted(small_books[("mlp", "softmax")], value, why=why)
    assert check.status == "FAIL"
    assert (check.cell, check.problem) == (cell, problem)
    assert (check.wrong_cells, check.structural) == (1, structural)
    assert check.formula is not None and check.expected is not None
    if problem.startswith("not a number"):
        assert type(check.got) is type(value(0.5))


def test_numbers_of_any_float_type_are_numbers(small_books):
    import numpy as np

    check, _ = _planted(small_books[("mlp", "softmax")], np.float64)
    assert check.status == "ok" and check.wrong_cells == 0


@pytest.mark.parametrize(
    ("value", "problem"), [(None, "not a formula"), (lambda v: EMPTY, "empty")]
)
def test_a_block_cell_without_a_formula_is_named(small_books, value, problem):
    check, cell = _planted(small_books[("mlp", "softmax")], value, drop_formula=True)
    assert (check.status, check.cell, check.problem, check.formula) == ("FAIL", cell, problem, None)
    assert check.structural == 1


def test_unchecked_formulas_are_every_formula_outside_the_blocks(small_books, tmp_path):
    """Counted and listed as a set of cells would: every formula cell outside every block, the
    first 20 in sheet, row and column order."""
    from xlnet import a1
    from xlnet.comparison import blocks_to_check

    edited = tmp_path / "fewer.xlsx"
    edit_book(small_books[("mlp", "sigmoid", "arrays")], edited, {setting_cell("epochs"): 2})
    report = verify(edited)
    book = read_book(edited)
    result = evaluate(book)
    checked = {
        (result.index(blk.sheet), r, c)
        for _, _, blk in blocks_to_check(Run.from_book(book))
        for _, _, r, c in blk.cells()
    }
    left = sorted(set(result.formulas) - checked)
    assert report.unchecked_formulas == len(left) > 20
    assert report.unchecked_cells == [
        f"{result.sheet_names[s]}!{a1.cell(r, c)}" for s, r, c in left[:20]
    ]
