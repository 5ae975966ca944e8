"""A model as an ordered list of steps over named tensors (Z1 = X.W1 + b1, ...).

The data steps run once; the epoch steps run once per epoch; the final steps once, on the last
epoch's values. A carried tensor of epoch e (a parameter P, an optimizer's state) reads its
value of epoch e-1, and its value of epoch 0 is an input on the Init sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .operation import Op
from .ops import OPS
from .spec import Spec


@dataclass(frozen=True)
class Dims:
    n: int  # training samples
    f: int  # features
    k: int  # classes
    hidden: tuple[int, ...]  # hidden layer sizes (none for the logistic regressor)
    n_test: int = 0  # held-out samples


@dataclass(frozen=True)
class Arg:
    name: str
    prev: bool = False  # the previous epoch's value (epoch 0: the initial value)


@dataclass(frozen=True)
class Step:
    out: str
    op: Op
    args: tuple[Arg, ...]


# Exercises give or leave blank whole groups of epoch steps, named by what they do (each op's
# group is in its registry entry).
GROUPS = ("params", "forward", "loss", "backward", "update")

# Adam's beta1^t and beta2^t, carried from epoch to epoch as running products from 1.
BETA_POWERS = ("beta1^t", "beta2^t")
TEST_PREFIX = "Test "


@dataclass(frozen=True)
class Program:
    spec: Spec
    dims: Dims
    tensors: dict[str, tuple[int, int]]  # name -> shape
    params: tuple[str, ...]
    state: tuple[str, ...]  # the optimizer's carried tensors: velocities, moments, beta^t
    inputs: tuple[str, ...]  # data blocks entered as numbers
    data_steps: tuple[Step, ...]
    epoch_steps: tuple[Step, ...]
    final_steps: tuple[Step, ...]  # on the last epoch's values (the confusion matrix)
    summary: dict[str, str]  # Summary column -> the 1x1 tensor of each epoch it lists

    @cached_property  # asked once per block and epoch by locate(): 185k times at 1000 epochs
    def data_tensors(self) -> tuple[str, ...]:
        return (*self.inputs, *(s.out for s in self.data_steps))

    def initial_value(self, name: str) -> float | None:
        """The fixed epoch-0 value of a state tensor (None: a parameter, drawn at random)."""
        if name in self.params:
            return None
        return 1.0 if name in BETA_POWERS else 0.0

    @property
    def initial(self) -> tuple[str, ...]:
        """The Init sheet's blocks: each parameter's and each state tensor's epoch-0 value."""
        return (*self.params, *self.state)

    def carried(self, name: str) -> str:
        """The tensor whose epoch-0 value an Init block is: "New W1" for W1, V W1 itself."""
        return "New " + name if name in self.params else name

    def locate(self, arg: Arg, epoch: int) -> tuple[str, int | None]:
        """(tensor, epoch) an argument of an epoch step refers to; data tensors have no epoch."""
        if arg.prev:
            return arg.name, epoch - 1
        if arg.name in self.data_tensors:
            return arg.name, None
        return arg.name, epoch


def _step(out: str, op: str, *args: str | Arg) -> Step:
    return Step(out, OPS[op], tuple(a if isinstance(a, Arg) else Arg(a) for a in args))


def _forward(
    spec: Spec, shapes: dict[str, tuple[int, int]], x: str, prefix: str, n: int, k: int
) -> list[Step]:
    """Z_l = A_(l-1).W_l + b_l and the activations, from input `x` to the output; a prefix
    names the held-out pass's blocks."""
    steps: list[Step] = []
    a_in = x
    sizes = (*spec.hidden_sizes, k)
    for layer, size in enumerate(sizes, start=1):
        z, a = f"{prefix}Z{layer}", f"{prefix}A{layer}"
        shapes[z] = shapes[a] = (n, size)
        steps.append(_step(z, "affine", a_in, f"W{layer}", f"b{layer}"))
        if layer < len(sizes):
            steps.append(_step(a, spec.activation, z))
        elif spec.output == "sigmoid":
            steps.append(_step(a, "sigmoid", z))
        else:
            shapes[f"{z} max"] = (n, 1)
            shapes[f"{prefix}E{layer}"] = (n, k)
            steps += [
                _step(f"{z} max", "row_max", z),
                _step(f"{prefix}E{layer}", "exp_shift", z, f"{z} max"),
                _step(a, "normalise", f"{prefix}E{layer}"),
            ]
        a_in = a
    return steps


def _update(spec: Spec, params: tuple[str, ...], shapes) -> tuple[list[Step], tuple[str, ...]]:
    """The optimizer's steps and the state tensors it carries from epoch to epoch."""
    steps: list[Step] = []
    state: list[str] = []
    if spec.optimizer == "adam":
        for name, op in zip(BETA_POWERS, ("beta1_power", "beta2_power"), strict=True):
            shapes[name] = (1, 1)
            state.append(name)
            steps.append(_step(name, op, Arg(name, prev=True)))
    for p in params:
        if spec.optimizer == "sgd":
            steps.append(_step("New " + p, "sgd", p, "d" + p))
        elif spec.optimizer == "momentum":
            v = "V " + p
            shapes[v] = shapes[p]
            state.append(v)
            steps += [_step(v, "velocity", Arg(v, prev=True), "d" + p),
                      _step("New " + p, "sgd", p, v)]  # fmt: skip
        else:
            m, s = "M " + p, "S " + p
            shapes[m] = shapes[s] = shapes[p]
            state += [m, s]
            steps += [
                _step(m, "moment1", Arg(m, prev=True), "d" + p),
                _step(s, "moment2", Arg(s, prev=True), "d" + p),
                _step("New " + p, "adam", p, m, s, *BETA_POWERS),
            ]
    return steps, tuple(state)


def build_program(spec: Spec, n: int, f: int, k: int, n_test: int = 0) -> Program:
    dims = Dims(n, f, k, spec.hidden_sizes, n_test)
    shapes: dict[str, tuple[int, int]] = {
        "Label": (n, 1),
        "Raw": (n, f),
        "Classes": (1, k),
        "Mean": (1, f),
        "Std": (1, f),
        "X": (n, f),
        "Y": (n, k),
    }
    inputs = ["Label", "Raw", "Classes"]
    data_steps = [
        _step("Mean", "col_mean", "Raw"),
        _step("Std", "col_std", "Raw"),
        _step("X", "zscore", "Raw", "Mean", "Std"),
        _step("Y", "onehot", "Label", "Classes"),
    ]
    if n_test:
        # Held-out samples are normalised with the training set's mean and std.
        t = TEST_PREFIX
        shapes.update({t + "Label": (n_test, 1), t + "Raw": (n_test, f), t + "X": (n_test, f)})
        inputs += [t + "Label", t + "Raw"]
        data_steps.append(_step(t + "X", "zscore", t + "Raw", "Mean", "Std"))
    layers = spec.layers
    widths = (f, *spec.hidden_sizes, k)
    params: tuple[str, ...] = ()
    for layer in range(1, layers + 1):
        shapes[f"W{layer}"] = (widths[layer - 1], widths[layer])
        shapes[f"b{layer}"] = (1, widths[layer])
        params += (f"W{layer}", f"b{layer}")
    forward = _forward(spec, shapes, "X", "", n, k)
    out = f"A{layers}"
    backward = [_step(f"dZ{layers}", "delta", out, "Y")]
    shapes[f"dZ{layers}"] = (n, k)
    for layer in range(layers, 0, -1):
        a_in = "X" if layer == 1 else f"A{layer - 1}"
        backward += [
            _step(f"dW{layer}", "grad_w", a_in, f"dZ{layer}"),
            _step(f"db{layer}", "grad_b", f"dZ{layer}"),
        ]
        if layer > 1:
            shapes[f"dZ{layer - 1}"] = (n, widths[layer - 1])
            backward.append(_step(f"dZ{layer - 1}", OPS[spec.activation].backward, f"dZ{layer}",
                                  f"W{layer}", f"A{layer - 1}"))  # fmt: skip
    for p in params:
        shapes["d" + p] = shapes[p]
        shapes["New " + p] = shapes[p]
    loss_op = "cross_entropy" if spec.output == "softmax" else "binary_cross_entropy"
    shapes.update({"Sample Loss": (n, 1), "Loss": (1, 1), "Prediction": (n, 1), "Accuracy": (1, 1)})
    update, state = _update(spec, params, shapes)
    steps = [_step(p, "copy", Arg("New " + p, prev=True)) for p in params]
    steps += forward
    steps += [
        _step("Sample Loss", loss_op, out, "Y"),
        _step("Loss", "mean", "Sample Loss"),
        _step("Prediction", "predict", out, "Classes"),
        _step("Accuracy", "accuracy", "Prediction", "Label"),
    ]
    summary = {"Summary Loss": "Loss", "Summary Accuracy": "Accuracy"}
    scored = ("Label", "Prediction")
    if n_test:
        t = TEST_PREFIX
        steps += _forward(spec, shapes, t + "X", t, n_test, k)
        shapes.update({t + "Prediction": (n_test, 1), t + "Accuracy": (1, 1)})
        steps += [
            _step(t + "Prediction", "predict", f"{t}A{layers}", "Classes"),
            _step(t + "Accuracy", "test_accuracy", t + "Prediction", t + "Label"),
        ]
        summary["Summary Test Accuracy"] = t + "Accuracy"
        scored = (t + "Label", t + "Prediction")
    steps += backward
    steps += update
    shapes["Confusion"] = (k, k)
    final = (_step("Confusion", "confusion", scored[0], scored[1], "Classes"),)
    for name in summary:
        shapes[name] = (spec.epochs, 1)
    return Program(spec, dims, shapes, params, state, tuple(inputs), tuple(data_steps),
                   tuple(steps), final, summary)  # fmt: skip
