"""The scoring sheet: scorers from training and from workbooks, recomputed against NumPy."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest

from conftest import SPECIES
from xlnet import a1
from xlnet.data import load_csv, load_wine
from xlnet.evaluate import evaluate, is_error
from xlnet.layout import INIT, TRAIN
from xlnet.run import Run
from xlnet.scorer import (
    INPUT_NAME,
    MODEL,
    PREDICTION,
    SCORE,
    SCORE_TOP,
    ScorerError,
    check_scorer,
    fill_inputs,
    layout_for,
    read_scorer,
    score_numpy,
    scorer_from_training,
    scorer_from_workbook,
    write_scorer,
)
from xlnet.spec import Spec
from xlnet.verification import TOLERANCE
from xlnet.workbook import build
from xlnet.xlsxio import read_book, read_cached
from xlsx_edit import edit_book, set_formula

EPOCHS = 5
# Trained on few_wine: recomputing a training workbook costs per sample, its weights do not.
CASES = {
    "logreg-softmax": Spec(model="logreg", output="softmax", epochs=EPOCHS),
    "mlp-relu-sigmoid": Spec(
        model="mlp", hidden=(4, 3), activation="relu", output="sigmoid", epochs=EPOCHS
    ),
    "mlp-tanh-adam-heldout": Spec(
        model="mlp", hidden=5, activation="tanh", optimizer="adam", lr=0.05, epochs=EPOCHS,
        test_fraction=0.2,
    ),
}  # fmt: skip
# Rows of the test scorers: FILLED wine samples, the rest blank. Few rows keep the evaluator's
# work (one formula at a time: COUNT and "" have no vectorised form) small.
ROWS = 50
FILLED = 40
# The weights recomputed from a workbook's formulas against NumPy's trained weights.
WEIGHT_TOLERANCE = 1e-12


@pytest.fixture(scope="module")
def samples(wine) -> np.ndarray:
    """FILLED wine samples spread over the file, which is sorted by class."""
    return wine.features[np.linspace(0, wine.n - 1, FILLED).round().astype(int)]


@pytest.fixture(scope="module")
def trained(few_wine):
    return {name: scorer_from_training(spec, few_wine) for name, spec in CASES.items()}


@pytest.fixture(scope="module")
def books(tmp_path_factory, few_wine) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("training")
    out = {}
    for name, spec in CASES.items():
        out[name] = folder / f"{name}.xlsx"
        build(spec, few_wine, out[name])
    return out


@pytest.fixture(scope="module")
def scorer_files(tmp_path_factory, trained) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("scorers")
    out = {}
    for name, scorer in trained.items():
        out[name] = folder / f"{name}-scorer.xlsx"
        write_scorer(scorer, out[name], rows=ROWS)
    return out


def independent(scorer, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass written out by hand, not through ops.py: probabilities, classes."""
    spec, last = scorer.spec, scorer.spec.layers
    hidden = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0),
              "sigmoid": lambda z: 1 / (1 + np.exp(-z))}[spec.activation]  # fmt: skip
    a = (raw - scorer.mean) / scorer.std
    for layer in range(1, last + 1):
        z = a @ scorer.weights[f"W{layer}"] + scorer.weights[f"b{layer}"]
        if layer < last:
            a = hidden(z)
        elif spec.output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            a = 1 / (1 + np.exp(-z))
    return a, np.asarray(scorer.classes)[a.argmax(axis=1)]


def score_cells(path: Path) -> list[tuple[int, int, object]]:
    """Recompute a filled scorer copy: every formula cell of its Score sheet, with its value."""
    result = evaluate(read_book(path))
    s = result.index(SCORE)
    return [(r, c, result.grids[s][r, c]) for (t, r, c) in result.formulas if t == s]


# --- building scorers ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_from_training_keeps_the_last_epochs_weights(few_wine, trained, name):
    spec, wine = CASES[name], few_wine
    run = Run.from_spec(spec, wine)
    scorer = trained[name]
    assert set(scorer.weights) == set(run.program.params)
    for p in run.program.params:
        np.testing.assert_array_equal(scorer.weights[p], run.values[("New " + p, EPOCHS)])
        # The epoch before differs: taking the wrong epoch would be caught.
        assert not np.array_equal(scorer.weights[p], run.values[("New " + p, EPOCHS - 1)])
    np.testing.assert_array_equal(scorer.mean, run.values[("Mean", None)])
    np.testing.assert_array_equal(scorer.std, run.values[("Std", None)])
    assert scorer.feature_names == wine.feature_names and scorer.target_name == "Cultivar"
    assert scorer.classes == (1.0, 2.0, 3.0) and scorer.class_names is None
    if spec.test_fraction:
        # Normalised with the training part only, as the workbook does.
        assert run.dataset.n < wine.n
        assert not np.allclose(scorer.mean, wine.features.mean(axis=0, keepdims=True))


@pytest.mark.parametrize("name", CASES)
def test_from_workbook_recomputes_numpys_weights(books, trained, name):
    numpy_scorer, book_scorer = trained[name], scorer_from_workbook(books[name])
    assert book_scorer.spec.hidden_sizes == CASES[name].hidden_sizes
    assert (book_scorer.spec.activation, book_scorer.spec.output) == (
        CASES[name].activation,
        CASES[name].output,
    )
    assert set(book_scorer.weights) == set(numpy_scorer.weights)
    for p, w in numpy_scorer.weights.items():
        scale = max(float(np.abs(w).max()), 1.0)
        assert np.abs(book_scorer.weights[p] - w).max() <= WEIGHT_TOLERANCE * scale, p
    for got, want in ((book_scorer.mean, numpy_scorer.mean), (book_scorer.std, numpy_scorer.std)):
        assert np.abs(got - want).max() <= WEIGHT_TOLERANCE * np.abs(want).max()
    assert book_scorer.classes == numpy_scorer.classes
    assert book_scorer.feature_names == numpy_scorer.feature_names
    assert book_scorer.target_name == numpy_scorer.target_name
    assert book_scorer.class_names is None


def test_from_workbook_ignores_cached_values(books, few_wine, tmp_path):
    """A learning rate changed in the file (cached values now stale) gives other weights."""
    src = books["logreg-softmax"]
    changed = tmp_path / "lr.xlsx"
    cell = a1.cell(*_setting_cell(src, "learning_rate"))
    edit_book(src, changed, {("Settings", cell): 0.01})
    slow = scorer_from_training(dataclasses.replace(CASES["logreg-softmax"], lr=0.01), few_wine)
    got = scorer_from_workbook(changed)
    assert np.abs(got.weights["W1"] - slow.weights["W1"]).max() <= WEIGHT_TOLERANCE
    assert not np.allclose(got.weights["W1"], scorer_from_workbook(src).weights["W1"])


def _setting_cell(path: Path, key: str) -> tuple[int, int]:
    block = Run.from_book(read_book(path)).layout.setting(key)
    return block.row, block.col


# --- checking the formulas against NumPy --------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_scorer_computes_numpys_predictions(scorer_files, trained, samples, name):
    scorer = trained[name]
    report = check_scorer(scorer_files[name], samples, scorer)
    assert report.ok, report.describe()
    assert (report.samples, report.blank_rows) == (FILLED, ROWS - FILLED)
    assert report.error_cells == []
    assert report.checked_cells == report.formula_cells
    probs, classes = independent(scorer, samples)
    assert np.abs(report.probabilities - probs).max() <= TOLERANCE
    assert report.predicted == list(classes)
    np.testing.assert_array_equal(score_numpy(scorer, samples)[1], classes)
    if scorer.spec.output == "softmax":
        assert np.abs(report.probabilities.sum(axis=1) - 1).max() <= TOLERANCE
    assert len(set(report.predicted)) > 1  # the samples are not all given one class


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", ["logreg-softmax", "mlp-relu-sigmoid"])
def test_scorer_in_libreoffice(need_soffice, scorer_files, trained, samples, name):
    scorer = trained[name]
    raw = samples.copy()
    raw[5, 3] = np.nan  # a half-typed row
    report = check_scorer(scorer_files[name], raw, scorer, engine="libreoffice")
    assert report.ok, report.describe()
    assert (report.samples, report.blank_rows) == (FILLED - 1, ROWS - FILLED + 1)
    assert report.error_cells == []
    probs, classes = independent(scorer, np.delete(raw, 5, axis=0))
    assert np.abs(report.probabilities - probs).max() <= TOLERANCE
    assert report.predicted == list(classes)


def test_blank_and_half_typed_rows_show_nothing(scorer_files, samples, tmp_path):
    """Blank rows, a row missing a feature and a row with text typed in: "" everywhere, no
    error in any cell."""
    src = scorer_files["mlp-relu-sigmoid"]
    raw = samples[:4].copy()
    raw[1, 2] = np.nan
    filled = tmp_path / "filled.xlsx"
    fill_inputs(src, filled, raw)
    edit_book(filled, filled, {(SCORE, f"A{SCORE_TOP + 3 + 1}"): "n/a"})  # row 3: text typed
    cells = score_cells(filled)
    assert cells and not [v for _, _, v in cells if is_error(v)]
    by_row: dict[int, list] = {}
    for r, _, v in cells:
        by_row.setdefault(r - SCORE_TOP, []).append(v)
    assert len(by_row) == ROWS
    for i, values in by_row.items():
        if i in (0, 2):  # complete samples: numbers everywhere (numeric classes)
            assert all(isinstance(v, int | float) and v != "" for v in values), (i, values)
        else:
            assert all(v == "" for v in values), (i, values)


def test_formulas_are_guarded_and_portable(scorer_files):
    book = read_book(scorer_files["mlp-tanh-adam-heldout"])
    score = book.sheet(SCORE)
    assert score.formulas and not score.arrays
    f = len(load_wine().feature_names)
    for (r, _), text in score.formulas.items():
        guard = f'=IF(COUNT($A{r + 1}:${a1.col_letters(f - 1)}{r + 1})<{f},"",'
        assert text.startswith(guard), text
        for banned in ("LOG(", "_xlfn", "LET(", "SEQUENCE(", "#"):
            assert banned not in text.upper(), text
    assert book.sheet(MODEL).formulas == {}
    assert book.names[INPUT_NAME.upper()] == f"Score!$A${SCORE_TOP + 1}:$M${SCORE_TOP + ROWS}"


def test_corrupted_weight_fails_the_check(scorer_files, trained, samples, tmp_path):
    name = "mlp-relu-sigmoid"
    scorer = trained[name]
    w1 = layout_for(scorer, ROWS).block("W1")
    cell = a1.cell(w1.row + 2, w1.col + 1)
    bad = tmp_path / "bad-weight.xlsx"
    edit_book(scorer_files[name], bad, {(MODEL, cell): float(scorer.weights["W1"][2, 1]) + 0.5})
    report = check_scorer(bad, samples, scorer)
    assert not report.ok
    first = report.mismatches[0]
    assert (first.block, first.cell) == ("W1", f"{MODEL}!{cell}")
    assert any(m.block == "A3" for m in report.mismatches), report.describe()
    assert "FAILED" in report.describe() and f"{MODEL}!{cell}" in report.describe()
    # Against the weights the file now holds, its formulas are still right.
    assert check_scorer(bad, samples).ok


def test_wrong_formula_fails_the_check(scorer_files, samples, tmp_path):
    name = "logreg-softmax"
    lay = layout_for(read_scorer(scorer_files[name]), ROWS)
    cell = lay.block("Z1").ref(7, 1, SCORE)
    bad = tmp_path / "bad-formula.xlsx"
    set_formula(scorer_files[name], bad, SCORE, cell, lambda old: old.replace(")+", ")-"))
    report = check_scorer(bad, samples)
    assert not report.ok
    first = report.mismatches[0]
    assert (first.block, first.cell, first.sample) == ("Z1", f"{SCORE}!{cell}", 8)
    assert ")-" in first.formula


def test_numpy_disagreeing_is_reported(scorer_files, trained, samples):
    """The file is right, the model it is held against is not: weights and classes."""
    name = "logreg-softmax"
    scorer = trained[name]
    w = {p: v.copy() for p, v in scorer.weights.items()}
    w["W1"][0, 0] += 1e-6
    nudged = dataclasses.replace(scorer, weights=w)
    report = check_scorer(scorer_files[name], samples, nudged)
    assert not report.ok
    blocks = {m.block for m in report.mismatches}
    assert {"W1", "A1"} <= blocks, report.describe()
    assert report.mismatch_count > FILLED  # every sample's probabilities moved
    swapped = dataclasses.replace(scorer, classes=(3.0, 2.0, 1.0))
    report = check_scorer(scorer_files[name], samples, swapped)
    assert PREDICTION in {m.block for m in report.mismatches}, report.describe()


def test_cached_values_are_numpys(trained, tmp_path):
    scorer = trained["mlp-tanh-adam-heldout"]
    path = tmp_path / "examples.xlsx"
    result = write_scorer(scorer, path, rows=12, examples=5)
    assert result.examples == 5 and result.inputs == f"Score!$A$5:$M${SCORE_TOP + 12}"
    lay = layout_for(scorer, 12)
    book = read_book(path)
    raw_block = lay.block("Raw")
    raw = np.array([[book.sheet(SCORE).values[(raw_block.row + i, j)] for j in range(scorer.f)]
                    for i in range(5)])  # fmt: skip
    assert (raw_block.row + 5, 0) not in book.sheet(SCORE).values
    probs, classes = independent(scorer, raw)
    cached = read_cached(path)[SCORE]
    out, pred = lay.block(lay.output), lay.block(PREDICTION)
    got = np.array([[cached[(out.row + i, out.col + j)] for j in range(scorer.k)]
                    for i in range(5)])  # fmt: skip
    assert np.abs(got - probs).max() <= TOLERANCE
    assert [cached[(pred.row + i, pred.col)] for i in range(5)] == list(classes)
    assert all(cached.get((out.row + i, out.col), "") == "" for i in range(5, 12))
    # And the formulas, recomputed, hold what was cached.
    report = check_scorer(path, raw, scorer)
    assert report.ok, report.describe()


def test_default_leaves_the_input_area_blank(trained, tmp_path):
    path = tmp_path / "blank.xlsx"
    write_scorer(trained["logreg-softmax"], path, rows=7)
    values = read_book(path).sheet(SCORE).values
    assert not [rc for rc in values if rc[0] >= SCORE_TOP]
    assert all(v in ("", None) for (r, _), v in read_cached(path)[SCORE].items() if r >= SCORE_TOP)


# --- text classes -------------------------------------------------------------------------


def test_text_classes_show_their_names(flowers, tmp_path):
    flowers = load_csv(flowers, "species")
    spec = Spec(model="logreg", epochs=30)
    scorer = scorer_from_training(spec, flowers)
    assert scorer.class_names == SPECIES
    path = tmp_path / "flowers-scorer.xlsx"
    write_scorer(scorer, path, rows=30, examples=6)
    cached = read_cached(path)[SCORE]
    pred = layout_for(scorer, 30).block(PREDICTION)
    shown = [cached[(pred.row + i, pred.col)] for i in range(6)]
    assert set(shown) == set(SPECIES)
    report = check_scorer(path, flowers.features[:25], scorer)
    assert report.ok, report.describe()
    _, codes = independent(scorer, flowers.features[:25])
    assert report.predicted == [SPECIES[int(c) - 1] for c in codes]
    assert read_scorer(path).class_names == SPECIES
    # A training workbook of the same data gives its names back too.
    book = tmp_path / "flowers.xlsx"
    build(spec, flowers, book)
    assert scorer_from_workbook(book).class_names == SPECIES


# --- what cannot be exported --------------------------------------------------------------


def test_broken_initial_weight_is_one_line(books, tmp_path):
    src = books["logreg-softmax"]
    block = Run.from_book(read_book(src)).layout.block("New W1", 0)
    cell = a1.cell(block.row + 1, block.col + 2)
    bad = tmp_path / "broken-init.xlsx"
    edit_book(src, bad, {(INIT, cell): "#VALUE!"})
    with pytest.raises(ScorerError) as exc:
        scorer_from_workbook(bad)
    message = str(exc.value)
    assert "\n" not in message and f"{INIT}!{cell}" in message


def test_error_in_training_reaches_the_weights(books, tmp_path):
    """A formula that fails in the last epoch: the weight it feeds is named."""
    src = books["mlp-relu-sigmoid"]
    layout = Run.from_book(read_book(src)).layout
    cell = layout.block("dW2", EPOCHS).ref(1, 0, TRAIN)
    bad = tmp_path / "broken-train.xlsx"
    set_formula(src, bad, TRAIN, cell, "1/0")
    with pytest.raises(ScorerError) as exc:
        scorer_from_workbook(bad)
    message = str(exc.value)
    new_w2 = layout.block("New W2", EPOCHS).ref(1, 0, TRAIN)
    assert "\n" not in message
    assert f"{TRAIN}!{new_w2}" in message and "New W2, epoch 5" in message, message


def test_bad_arguments(trained, scorer_files, samples, tmp_path):
    scorer = trained["logreg-softmax"]
    with pytest.raises(ScorerError, match="rows"):
        write_scorer(scorer, tmp_path / "x.xlsx", rows=0)
    with pytest.raises(ScorerError, match="examples"):
        write_scorer(scorer, tmp_path / "x.xlsx", rows=3, examples=4)
    assert not (tmp_path / "x.xlsx").exists()
    with pytest.raises(ScorerError, match="13"):
        check_scorer(scorer_files["logreg-softmax"], samples[:, :5])
    with pytest.raises(ScorerError, match="up to 50"):
        check_scorer(scorer_files["logreg-softmax"], np.vstack([samples, samples]))
    with pytest.raises(ScorerError, match="not an xlnet"):
        read_scorer(_not_a_scorer(tmp_path))


def _not_a_scorer(tmp_path: Path) -> Path:
    path = tmp_path / "other.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = MODEL
    wb.create_sheet(SCORE)
    wb.save(path)
    return path


def test_command_line_from_a_workbook_and_checked(books, tmp_path, capsys):
    from xlnet.cli import EXIT_OK, main

    source = next(iter(books.values()))
    out = tmp_path / "scorer.xlsx"
    assert main(["export-scorer", str(source), "--rows", "30", "--check", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "match NumPy" in text and "30 input rows" in text
    written, recomputed = read_scorer(out), scorer_from_workbook(source)
    for p, w in recomputed.weights.items():
        np.testing.assert_allclose(written.weights[p], w, rtol=1e-15)
    # Trained now, with build's options.
    out2 = tmp_path / "trained.xlsx"
    args = ["export-scorer", "mlp", "--hidden", "3,2", "--activation", "sigmoid", "--epochs",
            "3", "--examples", "4", "-o", str(out2)]  # fmt: skip
    assert main(args) == EXIT_OK
    assert read_scorer(out2).spec.hidden == (3, 2)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{book}", "--hidden", "3"], "--hidden applies when training"),
        (["{book}", "--test-fraction", "0.2"], "--test-fraction applies when training"),
        (["{book}", "--epochs", "20"], "--epochs applies when training"),  # the default, given
        (["forest"], "neither a model"),
        (["{book}", "--rows", "0"], "--rows"),
        (["{missing}"], "missing.xlsx"),
    ],
)
def test_command_line_bad_input_is_one_line(books, tmp_path, capsys, args, message):
    from xlnet.cli import EXIT_USAGE, main

    source = next(iter(books.values()))
    fill = {"book": str(source), "missing": str(tmp_path / "missing.xlsx")}
    out = tmp_path / "out.xlsx"
    argv = ["export-scorer", *(a.format(**fill) for a in args), "-o", str(out)]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_command_line_refuses_to_overwrite_its_source(books, tmp_path, capsys):
    from xlnet.cli import EXIT_USAGE, main

    copy = tmp_path / "book.xlsx"
    shutil.copy(next(iter(books.values())), copy)
    before = copy.read_bytes()
    assert main(["export-scorer", str(copy), "-o", str(copy)]) == EXIT_USAGE
    assert "also an input" in capsys.readouterr().err
    assert copy.read_bytes() == before
