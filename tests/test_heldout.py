"""Held-out samples: a seeded stratified split, training statistics only, test accuracy per
epoch and the last epoch's confusion matrix as formulas, in both engines."""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pytest

from xlnet.data import DataError, split
from xlnet.evaluate import evaluate
from xlnet.layout import SUMMARY, TEST
from xlnet.run import Run
from xlnet.spec import Spec, SpecError
from xlnet.verification import verify
from xlnet.workbook import build
from xlnet.xlsxio import read_book

FRACTION = 0.3
EPOCHS = 4


@pytest.fixture(scope="module")
def heldout(tmp_path_factory, wine):
    path = tmp_path_factory.mktemp("heldout") / "heldout.xlsx"
    build(Spec(model="mlp", hidden=(3,), epochs=EPOCHS, test_fraction=FRACTION), wine, path)
    return path


def test_split_is_stratified_seeded_and_disjoint(wine):
    train, test = split(wine, FRACTION, seed=7)
    assert train.n + test.n == wine.n
    rows = {tuple(r) for r in train.features} | {tuple(r) for r in test.features}
    assert len(rows) == wine.n  # no sample in both parts, none lost
    for c in wine.classes:
        total = int((wine.labels == c).sum())
        assert int((test.labels == c).sum()) == round(FRACTION * total)
    again, _ = split(wine, FRACTION, seed=7)
    other, _ = split(wine, FRACTION, seed=8)
    assert np.array_equal(train.features, again.features)
    assert not np.array_equal(train.features, other.features)


def test_tiny_classes_are_refused(wine):
    one = wine.subset(np.r_[np.flatnonzero(wine.labels != 3), np.flatnonzero(wine.labels == 3)[:1]])
    with pytest.raises(DataError, match="at least 2 per class"):
        split(one, FRACTION, seed=0)
    with pytest.raises(SpecError, match="test fraction"):
        Spec(test_fraction=0.95)


def test_normalisation_uses_training_statistics_only(heldout, wine):
    book = read_book(heldout)
    run = Run.from_book(book)
    result = evaluate(book)
    mean = run.layout.block("Mean")
    got = np.array([result.value(mean.sheet, mean.row, mean.col + j) for j in range(wine.f)])
    train, test = split(wine, FRACTION, seed=0)
    np.testing.assert_allclose(got, train.features.mean(axis=0), rtol=1e-12)
    assert not np.allclose(got, wine.features.mean(axis=0), rtol=1e-6)
    x = run.layout.block("Test X")
    assert x.sheet == TEST and x.nrows == test.n
    formula = result.formulas[(result.index(TEST), x.row, x.col)]
    assert "Data!" in formula  # the held-out X reads the Data sheet's (training) mean and std


def test_formulas_agree_with_numpy(heldout):
    report = verify(heldout)
    assert report.ok, report.table()
    names = {b.block for b in report.blocks}
    assert {"Test X", "Test Prediction", "Test Accuracy", "Summary Test Accuracy",
            "Confusion"} <= names  # fmt: skip


@pytest.mark.libreoffice
def test_libreoffice_agrees_with_numpy(need_soffice, heldout):
    report = verify(heldout, engine="libreoffice")
    assert report.ok, report.table()
    assert report.error_cells == []


def test_summary_and_confusion_matrix(heldout, wine):
    book = read_book(heldout)
    run = Run.from_book(book)
    result = evaluate(book)

    def block(name, epoch=None):
        b = run.layout.block(name, epoch)
        return np.array([[result.value(b.sheet, r, c) for c in range(b.col, b.col + b.ncols)]
                         for r in range(b.row, b.row + b.nrows)])  # fmt: skip

    test_acc = block("Summary Test Accuracy")[:, 0]
    assert test_acc.shape == (EPOCHS,)
    assert np.array_equal(test_acc, [block("Test Accuracy", e)[0, 0] for e in range(1, EPOCHS + 1)])
    confusion = block("Confusion")
    _, test = split(wine, FRACTION, seed=0)
    assert confusion.sum() == test.n  # held-out samples, not training ones
    np.testing.assert_array_equal(confusion.sum(axis=1), [(test.labels == c).sum()
                                                          for c in wine.classes])  # fmt: skip
    assert np.trace(confusion) / test.n == pytest.approx(test_acc[-1], abs=1e-15)
    # Independently of the program: count predictions against labels here.
    pred, labels = block("Test Prediction", EPOCHS)[:, 0], test.labels
    for i, a in enumerate(wine.classes):
        for j, p in enumerate(wine.classes):
            assert confusion[i, j] == np.sum((labels == a) & (pred == p))


def test_chart_plots_train_loss_train_and_test_accuracy(heldout):
    with zipfile.ZipFile(heldout) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        xml = z.read(charts[0]).decode()
    values = re.findall(r"<c:yVal><c:numRef><c:f>Summary!\$([A-Z]+)\$2:", xml)
    assert values == ["B", "C", "D"]
    header = read_book(heldout).sheet(SUMMARY).values
    assert [header[(0, c)] for c in (1, 2, 3)] == ["Loss", "Accuracy", "Test Accuracy"]


def test_without_a_split_the_confusion_matrix_counts_training_samples(small_books, few_wine):
    book = read_book(small_books[("logreg", "softmax")])
    run = Run.from_book(book)
    result = evaluate(book)
    b = run.layout.block("Confusion")
    total = sum(result.value(b.sheet, r, c) for r in range(b.row, b.row + b.nrows)
                for c in range(b.col, b.col + b.ncols))  # fmt: skip
    assert total == few_wine.n
    assert "Summary Test Accuracy" not in run.program.summary


def test_prepare_reports_test_accuracy(wine):
    run = Run.from_spec(Spec(epochs=2, test_fraction=0.5), wine)
    assert run.test is not None and run.final_test_accuracy is not None
    assert run.dataset.n + run.test.n == wine.n
