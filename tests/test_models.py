"""Deeper nets, hidden activations and optimizers: written as formulas, recomputed by the
evaluator and LibreOffice, held against NumPy; NumPy's optimizers against loops written here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from xlnet import a1
from xlnet.evaluate import evaluate
from xlnet.layout import BETA1_NAME, MOMENTUM_NAME, TRAIN, Layout
from xlnet.program import build_program
from xlnet.reference import (
    gradient_check,
    initial_params,
    loss_and_grads,
    run_data,
    train,
)
from xlnet.run import Run, inputs_for
from xlnet.spec import Spec, SpecError
from xlnet.tolerances import FD_TOLERANCE
from xlnet.verification import FD_CHECK, verify
from xlnet.workbook import build
from xlnet.xlsxio import read_book
from xlsx_edit import edit_book, setting_cell

EPOCHS = 3
CASES = {
    "deep-relu": dict(model="mlp", hidden=(4, 3), activation="relu"),
    "sigmoid-arrays": dict(model="mlp", hidden=(3,), activation="sigmoid", layout="arrays"),
    "three-layers-momentum": dict(model="mlp", hidden=(3, 2, 2), optimizer="momentum", lr=0.3),
    "relu-adam-arrays": dict(model="mlp", hidden=(4, 3), activation="relu", optimizer="adam",
                             layout="arrays", lr=0.05),
    "logreg-adam-sigmoid": dict(model="logreg", optimizer="adam", output="sigmoid", lr=0.1),
    "momentum-relu-arrays": dict(model="mlp", hidden=(3,), activation="relu",
                                 optimizer="momentum", layout="arrays", lr=0.3),
}  # fmt: skip
LIBREOFFICE_CASES = ("relu-adam-arrays", "three-layers-momentum")


@pytest.fixture(scope="module")
def books(tmp_path_factory, few_wine):
    folder = tmp_path_factory.mktemp("models")
    out = {}
    for name, kw in CASES.items():
        out[name] = folder / f"{name}.xlsx"
        build(Spec(epochs=EPOCHS, **kw), few_wine, out[name])
    return out


@pytest.mark.parametrize("case", CASES)
def test_formulas_agree_with_numpy(books, case):
    report = verify(books[case])
    assert report.ok, report.table()
    assert report.error_cells == [] and report.unchecked_formulas == 0
    assert sum(b.cells for b in report.blocks if b.block != FD_CHECK) == report.formula_cells


@pytest.mark.libreoffice
@pytest.mark.parametrize("case", LIBREOFFICE_CASES)
def test_libreoffice_agrees_with_numpy(need_soffice, books, case):
    report = verify(books[case], engine="libreoffice")
    assert report.ok, report.table()
    assert report.error_cells == []


def test_the_file_says_what_it_is(books):
    run = Run.from_book(read_book(books["three-layers-momentum"]))
    spec = run.program.spec
    assert spec.hidden == (3, 2, 2) and spec.optimizer == "momentum"
    assert run.program.params == ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")
    assert run.program.tensors["W2"] == (3, 2) and run.program.tensors["W4"] == (2, 3)
    adam = Run.from_book(read_book(books["relu-adam-arrays"])).program
    assert adam.spec.activation == "relu"
    assert {"beta1^t", "beta2^t", "M W1", "S b2"} <= set(adam.state)


def test_optimizer_state_is_visible_per_epoch(books):
    """Each epoch shows the velocity (momentum) or both moments and t (Adam) as formulas."""
    book = read_book(books["relu-adam-arrays"])
    run = Run.from_book(book)
    result = evaluate(book)
    for e in range(1, EPOCHS + 1):
        b1t = run.layout.block("beta1^t", e)
        assert result.value(TRAIN, b1t.row, b1t.col) == pytest.approx(0.9**e, rel=1e-15)
        m = run.layout.block("M W1", e)
        assert (result.index(TRAIN), m.row, m.col) in result.formulas
    momentum = Run.from_book(read_book(books["three-layers-momentum"]))
    headers = read_book(books["three-layers-momentum"]).sheet(TRAIN).values
    v = momentum.layout.block("V W3", 2)
    # The block's name over its first column in the band's title row; below, its columns'
    # labels: W3 (2x2) maps the second hidden layer's units to the third's.
    assert headers[(v.row - 2, v.col)] == "V W3"
    assert [headers[(v.row - 1, v.col + j)] for j in range(2)] == ["unit 1", "unit 2"]


@pytest.mark.parametrize(("case", "name", "value"),
                         [("relu-adam-arrays", BETA1_NAME, 0.5),
                          ("three-layers-momentum", MOMENTUM_NAME, 0.2)])  # fmt: skip
def test_hyperparameters_are_live_input_cells(books, tmp_path, case, name, value):
    """Changing the named cell recomputes the run; a formula with the value typed in (0.9)
    would leave it unchanged and fail verify, which re-trains NumPy with the file's value."""
    edited = tmp_path / "edited.xlsx"
    sheet, cell = setting_cell(name)
    assert read_book(books[case]).sheet(sheet).values[a1.parse_cell(cell)] == 0.9
    edit_book(books[case], edited, {(sheet, cell): value})
    report = verify(edited)
    assert report.ok, report.table()
    loss = Run.from_book(read_book(edited)).layout.block("Loss", EPOCHS)
    before = evaluate(read_book(books[case])).value(TRAIN, loss.row, loss.col)
    after = evaluate(read_book(edited)).value(TRAIN, loss.row, loss.col)
    assert abs(before - after) > 1e-6


def _descend(program, data, params, n, epochs, update):
    """Full-batch descent written out here, independent of program.py's update steps."""
    params = {p: v.copy() for p, v in params.items()}
    state: dict = {}
    for t in range(1, epochs + 1):
        _, grads = loss_and_grads(program, data, params, n)
        for p in params:
            params[p] = update(p, params[p], grads[p], state, t)
    return params


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_optimizers_match_an_independent_loop(wine, optimizer):
    lr, mu, b1, b2, eps = 0.1, 0.8, 0.85, 0.995, 1e-7
    spec = Spec(model="mlp", hidden=(3,), epochs=6, lr=lr, optimizer=optimizer, momentum=mu,
                beta1=b1, beta2=b2, epsilon=eps)  # fmt: skip
    program = build_program(spec, wine.n, wine.f, wine.k)
    inputs = inputs_for(program, wine, spec)
    values = train(program, inputs)

    def update(p, w, g, state, t):
        if optimizer == "sgd":
            return w - lr * g
        if optimizer == "momentum":
            state[p] = mu * state.get(p, 0.0) + g
            return w - lr * state[p]
        m = state[p + "m"] = b1 * state.get(p + "m", 0.0) + (1 - b1) * g
        s = state[p + "s"] = b2 * state.get(p + "s", 0.0) + (1 - b2) * g * g
        return w - lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)

    init = {p: inputs.init[p] for p in program.params}
    mine = _descend(program, run_data(program, inputs), init, inputs.n, 6, update)
    for p in program.params:
        np.testing.assert_allclose(values[("New " + p, 6)], mine[p], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("hidden", [(3,), (4, 3), (3, 2, 2)])
def test_gradients_match_finite_differences(wine, activation, hidden):
    spec = Spec(model="mlp", hidden=hidden, activation=activation, epochs=1)
    program = build_program(spec, wine.n, wine.f, wine.k)
    worst, count = gradient_check(program, inputs_for(program, wine, spec))
    assert count == sum(int(np.prod(program.tensors[p])) for p in program.params)
    assert worst <= FD_TOLERANCE


def test_a_wrong_derivative_fails_the_gradient_check(wine):
    """The check can fail: a relu net back-propagated with tanh's derivative."""
    spec = Spec(model="mlp", hidden=(4, 3), activation="relu", epochs=1)
    program = build_program(spec, wine.n, wine.f, wine.k)
    wrong = build_program(replace(spec, activation="tanh"), wine.n, wine.f, wine.k)
    steps = tuple(
        s
        if not s.op.name.startswith("back_")
        else next(w for w in wrong.epoch_steps if w.out == s.out)
        for s in program.epoch_steps
    )
    program = replace(program, epoch_steps=steps)  # fmt: skip
    worst, _ = gradient_check(program, inputs_for(program, wine, spec))
    assert worst > 100 * FD_TOLERANCE


@pytest.fixture(scope="module")
def kink_book(few_wine, tmp_path_factory):
    """Biases of -100 kill every unit of the first layer, so the second layer's Z is exactly
    its bias, 0: relu's kink."""
    import xlnet.run as training

    def dead_first_layer(program, seed):
        params = initial_params(program, seed)
        params["b1"] = np.full(params["b1"].shape, -100.0)
        return params

    path = tmp_path_factory.mktemp("kink") / "kink.xlsx"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "initial_params", dead_first_layer)
        build(Spec(model="mlp", hidden=(3, 2), activation="relu", epochs=2), few_wine, path)
    return path


def test_relu_derivative_at_zero_is_zero(kink_book):
    run = Run.from_book(read_book(kink_book))
    values = train(run.program, run.inputs)
    assert np.all(values[("Z2", 1)] == 0.0) and np.all(values[("A2", 1)] == 0.0)
    assert np.all(values[("dZ2", 1)] == 0.0)  # the derivative at 0 is 0, not 1 or 1/2
    report = verify(kink_book)
    assert report.ok, report.table()


@pytest.mark.libreoffice
def test_libreoffice_takes_relu_derivative_at_zero_as_zero(need_soffice, kink_book):
    report = verify(kink_book, engine="libreoffice")
    assert report.ok, report.table()


def test_layer_bounds_are_checked():
    with pytest.raises(SpecError, match="hidden"):
        Spec(model="mlp", hidden=(4, 0))
    with pytest.raises(SpecError, match="hidden"):
        Spec(model="mlp", hidden=tuple([2] * 9))
    with pytest.raises(SpecError, match="activation"):
        Spec(model="mlp", activation="softplus")
    with pytest.raises(SpecError, match="beta2"):
        Spec(optimizer="adam", beta2=1.0)


def test_layouts_past_the_sheet_are_refused_cleanly():
    """Too many rows for one sheet is a SpecError (a one-line message), never a broken file."""
    with pytest.raises(SpecError, match="rows"):
        Layout(build_program(Spec(epochs=20), 100_000, 13, 3))


def test_a_diverging_net_is_refused_before_any_file_is_written(tmp_path, capsys):
    """An unbounded relu net at lr 50 overflows the double range (#NUM! in a spreadsheet):
    a one-line error naming the epoch, and no workbook."""
    from xlnet.cli import EXIT_USAGE, main

    out = tmp_path / "diverges.xlsx"
    args = ["build", "mlp", "--activation", "relu", "--lr", "50", "--epochs", "200"]
    assert main([*args, "-o", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "diverges" in err and "epoch 95" in err and err.count("\n") == 1
    assert not out.exists()


def test_no_formula_raises_to_a_power(books):
    """LibreOffice's ^ is #NUM! when the result underflows (1E-170^2) and is not correctly
    rounded (0.1^300 is off by 2e-14): every op writes squares as products and Adam carries
    beta^t as a running product, so no formula xlnet writes holds a ^."""
    for path in books.values():
        result = evaluate(read_book(path))
        powers = [f for f in result.formulas.values() if "^" in f]
        assert powers == []


@pytest.mark.libreoffice
def test_adam_at_a_large_learning_rate_never_shows_num_in_libreoffice(need_soffice, wine,
                                                                        tmp_path):  # fmt: skip
    """At lr 50 tanh saturates and gradients reach ~1e-170 by epoch 6; dW^2 was #NUM! in
    LibreOffice there (and in every block after it), dW*dW is 0 as in NumPy."""
    path = tmp_path / "adam50.xlsx"
    build(Spec(model="mlp", optimizer="adam", lr=50.0, epochs=8, layout="arrays"), wine, path)
    report = verify(path, engine="libreoffice")
    assert report.ok, report.table()
    assert report.error_cells == []
