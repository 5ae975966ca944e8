"""Hyperparameter sweeps: the grid trained as separate runs would be, ranked, printed, and
written as a Sweep sheet beside the best run's live formulas, in both engines."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import zipfile

import numpy as np
import pytest

from xlnet.evaluate import evaluate
from xlnet.run import Run
from xlnet.spec import Spec
from xlnet.sweepresults import BEST_MARK
from xlnet.sweeps import MAX_RUNS, SweepError, rank_order, run_sweep, write_sweep
from xlnet.sweepsheet import MAX_LEGEND, SWEEP, TABLE_TOP
from xlnet.verification import verify
from xlnet.xlsxio import read_book

EPOCHS = 5
HIDDEN = [(2,), (3, 2)]  # a deep candidate too, written "3,2"
LRS = [0.5, 1.0, 0.1]
# The Sweep sheet holds NumPy's numbers; the evaluated Summary holds the formulas' result.
AGREEMENT = 1e-9
# XlsxWriter stores a number with 16 significant digits, not always the double's 17.
STORED = 1e-15
# A relu net this deep at this rate overflows by epoch 3 (NaN loss) on the wine data; the
# narrow net at the same rate stays finite.
DIVERGES = (16,) * 8
DIVERGING_LR = 9e5


@pytest.fixture(scope="module")
def base() -> Spec:
    return Spec(model="mlp", epochs=EPOCHS)


@pytest.fixture(scope="module")
def sweep(base, wine):
    return run_sweep(base, wine, HIDDEN, LRS)


@pytest.fixture(scope="module")
def sweep_book(tmp_path_factory, sweep, wine):
    path = tmp_path_factory.mktemp("sweep") / "sweep.xlsx"
    write_sweep(sweep, wine, path)
    return path


def sheet_table(path) -> list[dict[str, object]]:
    """The Sweep sheet's results table as one dict per run, keyed by the headers."""
    values = read_book(path).sheet(SWEEP).values
    heads = {}
    c = 0
    while (TABLE_TOP, c) in values:
        heads[c] = values[(TABLE_TOP, c)]
        c += 1
    rows = []
    r = TABLE_TOP + 1
    while (r, 0) in values:
        rows.append({h: values.get((r, col)) for col, h in heads.items()})
        r += 1
    return rows


def test_grid_order_and_results_equal_separate_training(sweep, base, wine):
    assert [(r.hidden, r.lr) for r in sweep.runs] == [(h, lr) for h in HIDDEN for lr in LRS]
    for index in (1, 5):  # a shallow and a deep grid point, trained on their own
        run = sweep.runs[index]
        alone = Run.from_spec(dataclasses.replace(base, hidden=run.hidden, lr=run.lr), wine)
        assert run.final_loss == alone.final_loss
        assert run.losses == tuple(
            float(alone.values[("Loss", e)][0, 0]) for e in range(1, EPOCHS + 1)
        )
        assert run.train_accuracy == alone.final_accuracy
        assert run.test_accuracy is None


def test_best_is_the_lowest_final_loss(sweep):
    losses = [r.final_loss for r in sweep.runs]
    assert sweep.best_index == int(np.argmin(losses))
    assert [losses[i] for i in sweep.order] == sorted(losses)
    assert len(set(losses)) == len(losses)  # else argmin's tie-break would decide, not ours


def test_ties_go_to_the_first_in_grid_order_and_non_finite_ranks_last():
    nan, inf = math.nan, math.inf
    assert rank_order([1.0, nan, 0.5, inf, 0.5, -inf]) == [2, 4, 0, 1, 3, 5]
    # A run flagged as diverged (a non-finite number anywhere) ranks last whatever its loss.
    assert rank_order([0.1, 0.2, 0.3], [False, True, True]) == [1, 2, 0]


def test_table_lists_every_run_and_marks_the_best(sweep):
    text = sweep.table()
    lines = text.splitlines()
    rows = lines[2 : 2 + len(sweep.runs)]
    for row, run in zip(rows, sweep.runs, strict=True):
        cells = row.split()
        assert cells[0] == run.hidden_text
        assert float(cells[1]) == run.lr
        assert cells[2] == f"{run.final_loss:.6f}"
    marked = [i for i, row in enumerate(rows) if row.endswith(BEST_MARK)]
    assert marked == [sweep.best_index]
    best = sweep.best
    assert lines[-1] == (
        f"Best: hidden {best.hidden_text}, learning rate {best.lr:g}, final training loss "
        f"{best.final_loss:.6f} after {EPOCHS} epochs."
    )
    assert "test acc" not in text


def test_json_round_trips_and_names_the_best(sweep):
    doc = sweep.to_json()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    runs = doc["runs"]
    assert [(r["hidden"], r["lr"]) for r in runs] == [
        (",".join(map(str, h)), lr) for h in HIDDEN for lr in LRS
    ]
    assert [r["best"] for r in runs].count(True) == 1
    assert runs[sweep.best_index]["best"] and doc["best"] == runs[sweep.best_index]
    assert doc["best"]["final_loss"] == sweep.best.final_loss
    assert all(r["test_accuracy"] is None for r in runs)


def test_sweep_workbook_verifies_with_the_formulas_engine(sweep_book):
    report = verify(sweep_book)
    assert report.ok, report.table()
    assert report.unchecked_formulas == 0
    book = read_book(sweep_book)
    assert list(book.sheets)[:2] == ["About", SWEEP]
    sheet = book.sheet(SWEEP)
    assert not sheet.formulas and not sheet.arrays


def test_sweep_sheet_agrees_with_the_evaluated_training(sweep_book, sweep):
    rows = sheet_table(sweep_book)
    assert len(rows) == len(sweep.runs)
    best = [row for row in rows if row["Best"] == "best"]
    assert len(best) == 1 and best[0]["Run"] == sweep.best_index + 1
    book = read_book(sweep_book)
    run = Run.from_book(book)
    result = evaluate(book)
    loss = run.layout.block("Summary Loss")
    evaluated = result.value(loss.sheet, loss.row + EPOCHS - 1, loss.col)
    assert abs(best[0]["Final loss"] - evaluated) <= AGREEMENT
    assert run.program.spec.hidden == sweep.best.hidden
    assert run.inputs.lr == sweep.best.lr
    assert run.program.spec.epochs == EPOCHS


@pytest.mark.libreoffice
def test_sweep_workbook_verifies_in_libreoffice(sweep_book, need_soffice):
    report = verify(sweep_book, engine="libreoffice")
    assert report.ok, report.table()
    assert report.unchecked_formulas == 0


def test_chart_has_one_series_per_run(sweep_book, sweep):
    with zipfile.ZipFile(sweep_book) as z:
        charts = [
            z.read(n).decode() for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
        ]
    ours = [c for c in charts if f"{SWEEP}!" in c]
    assert len(ours) == 1
    chart = ours[0]
    assert chart.count("<c:ser>") == len(sweep.runs)
    assert '<c:legendPos val="b"/>' in chart
    assert "Epoch" in chart and "Training loss per epoch" in chart


def test_a_large_grid_keeps_its_plot_readable(tmp_path, wine):
    lrs = [0.05 * i for i in range(1, MAX_LEGEND + 2)]
    result = run_sweep(Spec(model="logreg", epochs=2, layout="arrays"), wine, [], lrs)
    path = tmp_path / "large.xlsx"
    write_sweep(result, wine, path)
    with zipfile.ZipFile(path) as z:
        chart = next(
            text
            for n in z.namelist()
            if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
            and f"{SWEEP}!" in (text := z.read(n).decode())
        )
    assert chart.count("<c:ser>") == len(lrs)
    # The legend names the best run only; every other entry is deleted.
    assert chart.count('<c:delete val="1"/></c:legendEntry>') == len(lrs) - 1


def test_held_out_samples_show_test_accuracy(wine):
    spec = Spec(model="logreg", epochs=EPOCHS, test_fraction=0.3)
    result = run_sweep(spec, wine, [], [0.5, 1.0])
    text = result.table()
    assert "test acc" in text.splitlines()[0]
    for run in result.runs:
        alone = Run.from_spec(dataclasses.replace(spec, lr=run.lr), wine)
        assert alone.final_test_accuracy is not None
        assert run.test_accuracy == alone.final_test_accuracy
        assert f"{alone.final_test_accuracy:.4f}" in text
        assert run.hidden == ()  # a logistic regressor sweeps the learning rate only
    assert [r["test_accuracy"] for r in result.to_json()["runs"]] == [
        r.test_accuracy for r in result.runs
    ]


def test_sweep_sheet_shows_test_accuracy(tmp_path, wine):
    spec = Spec(model="logreg", epochs=3, test_fraction=0.3, layout="arrays")
    result = run_sweep(spec, wine, [], [0.5, 1.0])
    path = tmp_path / "heldout.xlsx"
    write_sweep(result, wine, path)
    rows = sheet_table(path)
    assert [row["Test accuracy"] for row in rows] == [r.test_accuracy for r in result.runs]
    assert "Hidden" not in rows[0]


@pytest.mark.parametrize(
    ("model", "hidden", "lrs", "message"),
    [
        ("mlp", [(2,)], [], "no learning rates"),
        ("mlp", [], [0.5], "no hidden sizes"),
        ("mlp", [(5,), 5], [0.5], "hidden size 5 is listed twice"),
        ("mlp", [(8, 4), (8, 4)], [0.5], "hidden size 8,4 is listed twice"),
        ("mlp", [(5,)], [0.5, 1, 0.5], "learning rate 0.5 is listed twice"),
        ("mlp", [(h,) for h in range(1, 12)], [0.1 * i for i in range(1, 11)], "110 runs"),
        ("logreg", [(2,), (5,)], [0.5], "no hidden layer"),
        ("mlp", [(0,)], [0.5], "hidden must be"),
        ("mlp", [(5,)], [0.0], "learning rate must be"),
        ("mlp", [(5,)], [math.nan], "learning rate must be"),
        ("mlp", [(5,)], ["fast"], "lr 'fast'"),
    ],
)
def test_bad_grids_are_refused(wine, model, hidden, lrs, message):
    with pytest.raises(SweepError, match=re.escape(message)):
        run_sweep(Spec(model=model, epochs=1), wine, hidden, lrs)


def test_the_largest_grid_is_allowed(wine):
    lrs = [0.01 * i for i in range(1, MAX_RUNS + 1)]
    assert len(run_sweep(Spec(model="logreg", epochs=1), wine, [], lrs).runs) == MAX_RUNS


def test_progress_counts_every_run(base, wine):
    seen: list[tuple[int, int]] = []
    run_sweep(base, wine, [(2,)], [0.5, 1.0], progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)]


def test_a_diverged_run_ranks_last_and_is_written_as_blanks(tmp_path, wine):
    spec = Spec(model="mlp", activation="relu", epochs=3)
    result = run_sweep(spec, wine, [DIVERGES, (2,)], [DIVERGING_LR])
    diverged, fine = result.runs
    assert not diverged.finite and math.isnan(diverged.final_loss)
    assert fine.finite and result.best_index == 1
    assert result.order == (1, 0)
    row = result.table().splitlines()[2]
    assert "diverged" in row and BEST_MARK not in row
    doc = result.to_json()
    json.dumps(doc, allow_nan=False)  # valid JSON: no NaN
    assert doc["runs"][0]["final_loss"] is None and doc["runs"][0]["finite"] is False
    path = tmp_path / "diverged.xlsx"
    write_sweep(result, wine, path)
    assert sheet_table(path)[0]["Final loss"] == "diverged"
    values = read_book(path).sheet(SWEEP).values
    curves = [(r, c) for (r, c), v in values.items() if v == diverged.label]
    assert len(curves) == 1
    header, col = curves[0]
    written = [values.get((header + e, col)) for e in range(1, 4)]
    assert written[:2] == pytest.approx(diverged.losses[:2], rel=STORED)
    assert written[2] is None  # the NaN epoch is a gap in the chart, not a number


def test_a_grid_where_every_run_diverged_is_not_written(tmp_path, wine):
    result = run_sweep(Spec(model="mlp", activation="relu", epochs=3), wine, [DIVERGES],
                       [DIVERGING_LR])  # fmt: skip
    assert "every one diverged" in result.table()
    with pytest.raises(SweepError, match="diverged"):
        write_sweep(result, wine, tmp_path / "none.xlsx")
    assert not (tmp_path / "none.xlsx").exists()


def test_writing_with_another_dataset_is_refused(tmp_path, sweep, wine):
    other = wine.subset(np.arange(wine.n - 1))
    with pytest.raises(SweepError, match="dataset differs"):
        write_sweep(sweep, other, tmp_path / "other.xlsx")


def test_command_line_prints_the_table_and_writes_sweep_xlsx(tmp_path, monkeypatch, capsys):
    from xlnet.cli import EXIT_OK, main

    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--hidden", "2,3", "--lr", "0.5,1", "--epochs", "3"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "<- best" in out and out.count("\n2 ") + out.count("\n3 ") == 4
    assert (tmp_path / "sweep.xlsx").exists()
    assert verify(tmp_path / "sweep.xlsx").ok


def test_command_line_json(tmp_path, capsys):
    from xlnet.cli import EXIT_OK, main

    out = tmp_path / "s.xlsx"
    args = ["sweep", "--hidden", "2,4x2", "--lr", "1", "--epochs", "2", "--json", "-o", str(out)]
    assert main(args) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert [r["hidden"] for r in doc["runs"]] == ["2", "4,2"]
    assert doc["file"] == str(out) and doc["best"]["best"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden", "5,5"], "twice"),
        (["--hidden", "0"], "hidden"),
        (["--lr", "0.1,fast"], "not a number"),
        (["--lr", ",".join(str(i) for i in range(1, 102))], "100"),
        (["--target", "y"], "--target goes with --data"),
        (["--model", "logreg", "--hidden", "3,4"], "--hidden goes with --model mlp"),
    ],
)
def test_command_line_bad_grids_are_one_line(tmp_path, capsys, args, message):
    from xlnet.cli import EXIT_USAGE, main

    out = tmp_path / "s.xlsx"
    assert main(["sweep", *args, "--epochs", "1", "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()
