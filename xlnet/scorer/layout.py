"""Where each block of a scorer sits: inputs and formulas on Score, numbers on Model."""

from __future__ import annotations

from ..block import Block
from ..program import Step, build_program
from ..spec import Spec
from .forward import PREDICTION, forward_steps
from .model import Scorer

SCORE = "Score"
MODEL = "Model"
SCORE_TOP = 4  # first input row (0-based): title, instructions, block titles, headers above
NAMES = "Class names"  # a Model row of text classes' names; the Prediction column shows them

# Model sheet: key and label of each row of the description table (values in column B).
INFO_ROWS: tuple[tuple[str, str], ...] = (
    ("model", "Model"),
    ("architecture", "Architecture"),
    ("hidden", "Hidden layers"),
    ("activation", "Activation"),
    ("output", "Output"),
    ("features", "Features"),
    ("classes", "Classes"),
    ("target", "Predicts"),
    ("rows", "Input rows"),
    ("source", "Weights from"),
)
INFO_TOP = 2
NORM_HEAD = INFO_TOP + len(INFO_ROWS) + 1  # header row of feature names over Mean and Std
CLASS_ROW = NORM_HEAD + 4
LAYERS_TOP = CLASS_ROW + 3


class ScorerLayout:
    """Where every block of a scorer sits: inputs and formulas on Score, numbers on Model."""

    def __init__(self, spec: Spec, f: int, k: int, rows: int, named: bool) -> None:
        self.spec, self.f, self.k, self.rows, self.named = spec, f, k, rows, named
        self.steps = forward_steps(spec, f, k)
        self.output = f"A{spec.layers}"
        width = {name: shape[1] for name, shape in build_program(spec, 1, f, k).tensors.items()}
        b: dict[str, Block] = {
            "Raw": Block(SCORE, SCORE_TOP, 0, rows, f),
            PREDICTION: Block(SCORE, SCORE_TOP, f + 1, rows, 1),
            self.output: Block(SCORE, SCORE_TOP, f + 2, rows, k),
        }
        col = f + 2 + k + 1
        for step in self.steps:
            if step.out not in b:
                b[step.out] = Block(SCORE, SCORE_TOP, col, rows, width[step.out])
                col += width[step.out] + 1
        self.score_cols = col
        b["Mean"] = Block(MODEL, NORM_HEAD + 1, 1, 1, f)
        b["Std"] = Block(MODEL, NORM_HEAD + 2, 1, 1, f)
        b["Classes"] = Block(MODEL, CLASS_ROW, 1, 1, k)
        if named:
            b[NAMES] = Block(MODEL, CLASS_ROW + 1, 1, 1, k)
        row = LAYERS_TOP
        widths = (f, *spec.hidden_sizes, k)
        for layer in range(1, spec.layers + 1):
            rows_in = widths[layer - 1]
            # A title row and a header row above W, b on the row below it.
            b[f"W{layer}"] = Block(MODEL, row + 2, 1, rows_in, widths[layer])
            b[f"b{layer}"] = Block(MODEL, row + 2 + rows_in, 1, 1, widths[layer])
            row += rows_in + 4
        self.about_top = row
        self.blocks = b
        self.params = tuple(f"{p}{layer}" for layer in range(1, spec.layers + 1) for p in "Wb")

    def block(self, name: str) -> Block:
        return self.blocks[name]

    def args(self, step: Step) -> list[Block]:
        """The blocks a step's formula reads; the prediction of text classes reads their
        names, so that the Predicted column shows a name."""
        names = [a.name for a in step.args]
        if step.out == PREDICTION and self.named:
            names[-1] = NAMES
        return [self.blocks[n] for n in names]

    def guard(self, i: int, body: str) -> str:
        """Row i's formula, blank ("") unless every input of the row is a number: a blank or
        half-typed row shows nothing rather than errors."""
        return f'IF(COUNT({self.blocks["Raw"].row_range(i, SCORE)})<{self.f},"",{body})'

    def formula(self, step: Step, i: int, j: int) -> str:
        return self.guard(i, step.op.cell(i, j, SCORE, *self.args(step)))


def layout_for(scorer: Scorer, rows: int) -> ScorerLayout:
    return ScorerLayout(scorer.spec, scorer.f, scorer.k, rows, scorer.class_names is not None)
