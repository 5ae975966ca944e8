"""The NumPy reference, checked against central finite differences and by behaviour."""

import numpy as np
import pytest

from conftest import MODELS_OUTPUTS, small_spec
from xlnet.ops import EXP_CLAMP, OPS, Env
from xlnet.program import build_program
from xlnet.reference import finite_difference_grads, loss_and_grads, run_data, train
from xlnet.run import inputs_for
from xlnet.tolerances import FD_TOLERANCE


def _setup(model, output, wine, seed=3):
    spec = small_spec(model, output, seed=seed)
    program = build_program(spec, wine.n, wine.f, wine.k)
    inputs = inputs_for(program, wine, spec)
    return program, inputs, run_data(program, inputs)


@pytest.mark.parametrize(("model", "output"), MODELS_OUTPUTS)
def test_gradients_match_finite_differences(model, output, wine):
    program, inputs, data = _setup(model, output, wine)
    rng = np.random.default_rng(11)
    # Random, non-zero biases so the check covers them away from the initial zeros.
    params = {p: v + 0.1 * rng.standard_normal(v.shape) for p, v in inputs.init.items()}
    _, grads = loss_and_grads(program, data, params, inputs.n)
    numeric = finite_difference_grads(program, data, params, inputs.n)
    for p in params:
        err = np.abs(grads[p] - numeric[p]).max()
        assert err < FD_TOLERANCE, (
            f"{p}: max |analytic - numeric| = {err:.3e}\n{grads[p]}\n{numeric[p]}"
        )


def test_finite_difference_check_can_fail(wine):
    program, inputs, data = _setup("mlp", "softmax", wine)
    _, grads = loss_and_grads(program, data, inputs.init, inputs.n)
    numeric = finite_difference_grads(program, data, inputs.init, inputs.n)
    # Halving the gradient (a missing factor) must be detected.
    assert np.abs(grads["W1"] / 2 - numeric["W1"]).max() > FD_TOLERANCE


@pytest.mark.parametrize(("model", "output"), MODELS_OUTPUTS)
def test_training_learns(model, output, wine):
    spec = small_spec(model, output, epochs=20, lr=1.0)
    program = build_program(spec, wine.n, wine.f, wine.k)
    values = train(program, inputs_for(program, wine, spec))
    losses = [values[("Loss", e)][0, 0] for e in range(1, 21)]
    assert losses[-1] < 0.5 * losses[0]
    assert values[("Accuracy", 20)][0, 0] > 0.9


def test_epoch_starts_from_previous_update(wine):
    spec = small_spec("mlp", "softmax")
    program = build_program(spec, wine.n, wine.f, wine.k)
    values = train(program, inputs_for(program, wine, spec))
    for p in program.params:
        assert np.array_equal(values[(p, 2)], values[("New " + p, 1)])
        assert not np.array_equal(values[(p, 2)], values[(p, 1)])


def test_guards_keep_extremes_finite():
    env = Env(lr=1.0, n=2.0)
    z = np.array([[1e5, -1e5, 0.0], [-800.0, 800.0, 3.0]])
    e = OPS["exp_shift"].numpy(env, z, OPS["row_max"].numpy(env, z))
    softmax = OPS["normalise"].numpy(env, e)
    # Extreme logits still give the true softmax: a one-hot row, not a uniform one.
    assert np.allclose(softmax, [[1, 0, 0], [0, 1, 0]], atol=1e-300)
    for a in (softmax, OPS["sigmoid"].numpy(env, z)):
        assert np.isfinite(a).all()
        for loss in ("cross_entropy", "binary_cross_entropy"):
            assert np.isfinite(OPS[loss].numpy(env, a, np.eye(3)[:2])).all()
    assert OPS["sigmoid"].numpy(env, np.array([[EXP_CLAMP + 50]]))[0, 0] == 1.0


def test_normalisation_uses_population_std(wine):
    spec = small_spec("logreg", "softmax")
    program = build_program(spec, wine.n, wine.f, wine.k)
    data = run_data(program, inputs_for(program, wine, spec))
    x = data[("X", None)]
    assert np.allclose(x.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(x.std(axis=0, ddof=0), 1, atol=1e-12)
