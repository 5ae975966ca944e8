"""A model as an ordered list of steps over named tensors (Z1 = X.W1 + b1, ...).

The data steps run once; the epoch steps run once per epoch. A parameter P of epoch e is a copy
of "New P" of epoch e-1, and "New P" of epoch 0 is the initial value on the Init sheet.
"""

from __future__ import annotations

from dataclasses import dataclass

from .ops import OPS, Op
from .spec import Spec


@dataclass(frozen=True)
class Dims:
    n: int  # samples
    f: int  # features
    k: int  # classes
    h: int  # hidden units (mlp)


@dataclass(frozen=True)
class Arg:
    name: str
    prev: bool = False  # the previous epoch's value (epoch 0: the initial value)


@dataclass(frozen=True)
class Step:
    out: str
    op: Op
    args: tuple[Arg, ...]


# Exercises give or leave blank whole groups of epoch steps, named by what they do.
STEP_GROUPS = {
    "copy": "params",
    "affine": "forward", "tanh": "forward", "sigmoid": "forward", "row_max": "forward",
    "exp_shift": "forward", "normalise": "forward",
    "cross_entropy": "loss", "binary_cross_entropy": "loss", "mean": "loss", "predict": "loss",
    "accuracy": "loss",
    "delta": "backward", "grad_w": "backward", "grad_b": "backward", "back_tanh": "backward",
    "sgd": "update",
}  # fmt: skip
GROUPS = ("params", "forward", "loss", "backward", "update")

# Blocks entered as numbers, not formulas.
INPUTS = ("Label", "Raw", "Classes")
DATA_TENSORS = (*INPUTS, "Mean", "Std", "X", "Y")
SUMMARY_TENSORS = {"Summary Loss": "Loss", "Summary Accuracy": "Accuracy"}


@dataclass(frozen=True)
class Program:
    spec: Spec
    dims: Dims
    tensors: dict[str, tuple[int, int]]  # name -> shape
    params: tuple[str, ...]
    data_steps: tuple[Step, ...]
    epoch_steps: tuple[Step, ...]

    def locate(self, arg: Arg, epoch: int) -> tuple[str, int | None]:
        """(tensor, epoch) an argument of an epoch step refers to; data tensors have no epoch."""
        if arg.prev:
            return arg.name, epoch - 1
        if arg.name in DATA_TENSORS:
            return arg.name, None
        return arg.name, epoch


def _step(out: str, op: str, *args: str | Arg) -> Step:
    return Step(out, OPS[op], tuple(a if isinstance(a, Arg) else Arg(a) for a in args))


def _output(z: str, layer: str, output: str) -> list[Step]:
    """The output activation: a sigmoid per class, or softmax as shift, exponentiate, divide."""
    if output == "sigmoid":
        return [_step("A" + layer, "sigmoid", z)]
    return [
        _step(f"{z} max", "row_max", z),
        _step("E" + layer, "exp_shift", z, f"{z} max"),
        _step("A" + layer, "normalise", "E" + layer),
    ]


def build_program(spec: Spec, n: int, f: int, k: int) -> Program:
    h = spec.hidden if spec.model == "mlp" else 0
    dims = Dims(n, f, k, h)
    shapes: dict[str, tuple[int, int]] = {
        "Label": (n, 1),
        "Raw": (n, f),
        "Classes": (1, k),
        "Mean": (1, f),
        "Std": (1, f),
        "X": (n, f),
        "Y": (n, k),
    }
    data_steps = (
        _step("Mean", "col_mean", "Raw"),
        _step("Std", "col_std", "Raw"),
        _step("X", "zscore", "Raw", "Mean", "Std"),
        _step("Y", "onehot", "Label", "Classes"),
    )
    loss_op = "cross_entropy" if spec.output == "softmax" else "binary_cross_entropy"
    steps: list[Step]
    if spec.model == "logreg":
        params = ("W1", "b1")
        shapes.update({"W1": (f, k), "b1": (1, k), "Z1": (n, k), "A1": (n, k), "dZ1": (n, k)})
        out = "A1"
        forward = [_step("Z1", "affine", "X", "W1", "b1"), *_output("Z1", "1", spec.output)]
        backward = [
            _step("dZ1", "delta", "A1", "Y"),
            _step("dW1", "grad_w", "X", "dZ1"),
            _step("db1", "grad_b", "dZ1"),
        ]
    else:
        params = ("W1", "b1", "W2", "b2")
        shapes.update(
            {
                "W1": (f, h), "b1": (1, h), "Z1": (n, h), "A1": (n, h),
                "W2": (h, k), "b2": (1, k), "Z2": (n, k), "A2": (n, k),
                "dZ2": (n, k), "dZ1": (n, h),
            }
        )  # fmt: skip
        out = "A2"
        forward = [
            _step("Z1", "affine", "X", "W1", "b1"),
            _step("A1", "tanh", "Z1"),
            _step("Z2", "affine", "A1", "W2", "b2"),
            *_output("Z2", "2", spec.output),
        ]
        backward = [
            _step("dZ2", "delta", "A2", "Y"),
            _step("dW2", "grad_w", "A1", "dZ2"),
            _step("db2", "grad_b", "dZ2"),
            _step("dZ1", "back_tanh", "dZ2", "W2", "A1"),
            _step("dW1", "grad_w", "X", "dZ1"),
            _step("db1", "grad_b", "dZ1"),
        ]
    layer = "1" if spec.model == "logreg" else "2"
    if spec.output == "softmax":
        shapes[f"Z{layer} max"] = (n, 1)
        shapes[f"E{layer}"] = (n, k)
    for p in params:
        shapes["d" + p] = shapes[p]
        shapes["New " + p] = shapes[p]
    shapes.update({"Sample Loss": (n, 1), "Loss": (1, 1), "Prediction": (n, 1), "Accuracy": (1, 1)})
    steps = [_step(p, "copy", Arg("New " + p, prev=True)) for p in params]
    steps += forward
    steps += [
        _step("Sample Loss", loss_op, out, "Y"),
        _step("Loss", "mean", "Sample Loss"),
        _step("Prediction", "predict", out, "Classes"),
        _step("Accuracy", "accuracy", "Prediction", "Label"),
    ]
    steps += backward
    steps += [_step("New " + p, "sgd", p, "d" + p) for p in params]
    return Program(spec, dims, shapes, params, data_steps, tuple(steps))
