"""A spec's run in NumPy: the split, the program, its layout, the inputs and every value of
every epoch, which the writer caches in the workbook, the sweep ranks and the scorer keeps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Dataset, check_normalisable, split
from .layout import Layout
from .program import TEST_PREFIX, Program, build_program
from .reference import Inputs, Key, initial_params, train
from .spec import Spec


def inputs_for(program: Program, dataset: Dataset, spec: Spec, test: Dataset | None = None):
    return Inputs(
        raw=dataset.features,
        label=dataset.labels[:, None],
        classes=np.array([dataset.classes]),
        init=initial_params(program, spec.seed),
        lr=float(spec.lr),
        n=float(dataset.n),
        test_raw=None if test is None else test.features,
        test_label=None if test is None else test.labels[:, None],
        momentum=float(spec.momentum),
        beta1=float(spec.beta1),
        beta2=float(spec.beta2),
        epsilon=float(spec.epsilon),
    )


@dataclass(frozen=True)
class Prepared:
    """A spec and dataset made ready to write: the split, the program, its layout, the run."""

    spec: Spec
    dataset: Dataset  # the samples trained on
    test: Dataset | None
    program: Program
    layout: Layout
    inputs: Inputs
    values: dict[Key, np.ndarray]

    @property
    def final_loss(self) -> float:
        return float(self.values[("Loss", self.spec.epochs)][0, 0])

    def history(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...] | None]:
        """Per epoch: the loss, the accuracy and (with held-out samples) the test accuracy."""
        epochs = range(1, self.spec.epochs + 1)

        def per_epoch(name: str) -> tuple[float, ...]:
            return tuple(float(self.values[(name, e)][0, 0]) for e in epochs)

        test = TEST_PREFIX + "Accuracy"
        has_test = (test, 1) in self.values
        return per_epoch("Loss"), per_epoch("Accuracy"), per_epoch(test) if has_test else None

    @property
    def first_loss(self) -> float:
        return float(self.values[("Loss", 1)][0, 0])

    @property
    def final_accuracy(self) -> float:
        return float(self.values[("Accuracy", self.spec.epochs)][0, 0])

    def overflow(self) -> tuple[str, int] | None:
        """The first (tensor, epoch) whose values leave the double range, if the run diverges
        (an unbounded relu net at a large learning rate): a spreadsheet shows them as #NUM!."""
        for e in range(1, self.spec.epochs + 1):
            for step in self.program.epoch_steps:
                if not np.isfinite(self.values[(step.out, e)]).all():
                    return step.out, e
        return None

    @property
    def final_test_accuracy(self) -> float | None:
        key = (TEST_PREFIX + "Accuracy", self.spec.epochs)
        return float(self.values[key][0, 0]) if key in self.values else None


def prepare(spec: Spec, dataset: Dataset) -> Prepared:
    """Split off the held-out samples (if asked), lay the run out and train NumPy on it."""
    train_set, test = dataset, None
    if spec.test_fraction > 0:
        train_set, test = split(dataset, spec.test_fraction, spec.seed)  # checks both parts
    else:  # a Dataset made in code has not been through load_csv's checks
        check_normalisable(dataset.source or "the data", dataset.feature_names, dataset.features)
    n_test = 0 if test is None else test.n
    program = build_program(spec, train_set.n, train_set.f, train_set.k, n_test)
    layout = Layout(program)
    inputs = inputs_for(program, train_set, spec, test)
    return Prepared(spec, train_set, test, program, layout, inputs, train(program, inputs))
