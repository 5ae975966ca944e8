"""Each command's help epilog: its examples, then what it refuses, prints and exits with."""

BUILD_EXAMPLES = """\
examples:
  xlnet build logreg -o wine-logreg.xlsx            # the book's regressor: lr 1, 20 epochs
  xlnet build mlp --hidden 5 -o wine-net.xlsx       # 13 -> 5 (tanh) -> 3
  xlnet build mlp --output sigmoid --epochs 50 --lr 0.5 -o net.xlsx
  xlnet build mlp --hidden 8,4 --activation relu --lr 0.3 -o deep.xlsx   # two hidden layers
  xlnet build mlp --optimizer adam --lr 0.05 -o adam.xlsx       # moments M, S per epoch
  xlnet build mlp --optimizer momentum --momentum 0.8 --lr 0.3 -o mom.xlsx
  xlnet build logreg --test-fraction 0.3 -o heldout.xlsx        # test accuracy per epoch
  xlnet build logreg --data iris.csv --target species -o iris.xlsx   # your own CSV

Options that do not apply are refused: --hidden and --activation with logreg, --momentum
without --optimizer momentum, --beta1/--beta2/--epsilon without --optimizer adam. A run whose
final loss is above its first epoch's is written, with a warning on stderr.

--data: a CSV with a header row and one class column (--target, default the first column)
holding 2 to 10 classes, as numbers or text; every other column is a numeric feature, named by
the header. Text classes are coded 1..K in sorted order and shown by name.
"""

VERIFY_EXAMPLES = """\
examples:
  xlnet verify wine-net.xlsx                        # the verdict, a summary, every failure
  xlnet verify wine-net.xlsx --details              # and a row for every block of every epoch
  xlnet verify wine-net.xlsx --json > report.json
  xlnet verify wine-net.xlsx --engine libreoffice   # recalculate in headless LibreOffice

The first line is the verdict (OK or FAILED); then the blocks and epochs checked, the worst
error, the drift, and every failure in full.

exit status: 0 all blocks agree within the tolerance, 1 something differs (the report says
where), 2 bad usage or a file that is not an xlnet workbook.
"""


EXERCISE_EXAMPLES = """\
examples:
  xlnet exercise logreg -o ex1.xlsx                 # data, weights given; the rest to fill
  xlnet exercise mlp --given forward,loss -o ex2.xlsx   # forward pass given, gradients to do
  xlnet exercise mlp --roster examples/students.csv --outdir ex/ --vary-lr   # one per student
  xlnet exercise --template klaas-ch1 -o ch1.xlsx   # the book's blank chapter-1 sheet
  xlnet exercise --template klaas-ch1 --roster examples/students.csv --outdir ch1/

block groups: params (each epoch's copy of the previous New weights), forward (Z, activations),
loss (per-sample loss, loss, prediction, accuracy), backward (dZ, dW, db), update (New W, b).
"""

SWEEP_EXAMPLES = """\
examples:
  xlnet sweep --hidden 2,5,10 --lr 0.1,0.5,1        # the book's exercise 4; writes sweep.xlsx
  xlnet sweep --hidden 5,8x4 --lr 0.3,1 --activation relu -o relu-sweep.xlsx
  xlnet sweep --model logreg --lr 0.01,0.1,1,10 --test-fraction 0.3 --json

The best run is the one with the lowest final training loss (ties: the first in the grid); a
run that diverges (numbers overflow) ranks last. Every run starts from the same seed.
"""

SCORER_EXAMPLES = """\
examples:
  xlnet export-scorer wine-net.xlsx -o scorer.xlsx      # the trained weights of a workbook
  xlnet export-scorer mlp --hidden 8 --epochs 200 --lr 0.5 -o scorer.xlsx   # train now
  xlnet export-scorer logreg --examples 5 --check -o scorer.xlsx

The Score sheet's yellow rows take one sample each (the raw features, in the training data's
units: the sheet normalises them with the training mean and std); a row shows its predicted
class and one probability per class once every feature is filled, and nothing before.
"""

CHECK_EXAMPLES = """\
examples:
  xlnet check ex1.xlsx                              # an exercise written by xlnet exercise
  xlnet check --template klaas-ch1 submissions/*.xlsx --report grades.csv
  xlnet check --template klaas-ch1 --json alice.xlsx
  xlnet check --template klaas-ch1 ch1/*.xlsx --points points.toml --roster students.csv
  xlnet check --template klaas-ch1 ch1/*.xlsx --feedback feedback/ --reveal

verdicts per block: correct, wrong (first wrong cell, its formula, expected, got, how many
cells), missing (blank), not_formula (typed or pasted numbers), error (#VALUE!, #NAME? ...).
Each block is judged on the student's own upstream blocks: one mistake costs one block.
--json prints one object per file ({"file", "score", "points_earned", "points_possible",
"sheets": [{"sheet", "blocks": [...]}]}); several files give a list of them. The score is the
share of points: one per block, unless the template or --points FILE.toml weighs them.
Expected formulas are shown only with --reveal ("expected_formula" in each block's JSON).

exit status: 0 every file has full marks, 1 some block is not correct or some file could not be
graded (the report says which), 2 bad usage (unknown template, unwritable report).
"""
