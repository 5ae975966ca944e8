"""What a person sees in Excel or LibreOffice: widths, charts, frozen panes, labels, formats."""

from __future__ import annotations

import csv
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.utils import get_column_letter

from xlnet.data import load_csv, load_wine
from xlnet.scorer import read_scorer, scorer_from_training, scorer_from_workbook, write_scorer
from xlnet.shown import format_literal, literal_format, shown
from xlnet.spec import Spec
from xlnet.sweeps import run_sweep, write_sweep
from xlnet.verification import verify
from xlnet.workbook import build

EPOCHS = 3
# Enough epochs for the sweep's chart to step its epoch axis by more than 1.
SWEEP_EPOCHS = 20
DEFAULT_WIDTH = 8.43


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("look")
    wine = load_wine()
    out = {
        "mlp": build(Spec(model="mlp", epochs=EPOCHS), wine, d / "mlp.xlsx").path,
        "deep-adam-test": build(
            Spec(
                model="mlp",
                hidden=(4, 3),
                optimizer="adam",
                lr=0.05,
                epochs=EPOCHS,
                test_fraction=0.3,
                layout="arrays",
            ),
            wine,
            d / "deep.xlsx",
        ).path,
        "one-epoch": build(Spec(epochs=1), wine, d / "one.xlsx").path,
    }
    out["exercise"] = build(Spec(model="mlp", epochs=2), wine, d / "ex.xlsx",
                            blanks=_blanks()).path  # fmt: skip
    scorer = scorer_from_training(Spec(model="mlp", epochs=EPOCHS), wine)
    out["scorer"] = write_scorer(scorer, d / "scorer.xlsx", rows=20, examples=5).path
    sweep = run_sweep(Spec(model="mlp", epochs=SWEEP_EPOCHS), wine, [(2,), (5,)], [0.1, 1.0])
    out["sweep"] = write_sweep(sweep, wine, d / "sweep.xlsx").path
    return out


def _blanks():
    from xlnet.ops import OPS
    from xlnet.sheetwriter import Blanks

    todo = frozenset(op.name for op in OPS.values() if op.group not in (None, "params"))
    return Blanks(todo, ("params",))


def _column_width(ws, col: int) -> float:
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= col <= dim.max and dim.width:
            return dim.width
    return DEFAULT_WIDTH


def _too_narrow(path: Path, narrower: dict[tuple[str, int], float] | None = None) -> list[str]:
    """Every cell whose shown text is longer, in characters, than its column is wide in
    digits: a number shows ###, a header is cut off (text with an empty cell to its right may
    spill over, as in Excel)."""
    wb = openpyxl.load_workbook(path, data_only=True)  # the cached values xlnet wrote
    bad = []
    for (sheet, col), width in (narrower or {}).items():
        wb[sheet].column_dimensions[get_column_letter(col)].width = width
    for ws in wb.worksheets:
        cells = {(c.row, c.column): c for row in ws.iter_rows() for c in row if c.value != ""}
        cells = {k: c for k, c in cells.items() if c.value is not None}
        for (r, col), cell in cells.items():
            if isinstance(cell.value, str) and (r, col + 1) not in cells:
                continue
            text = shown(cell.value, cell.number_format)
            size = (cell.font.sz or 11) / 11 if cell.font is not None else 1
            if len(text) * size > _column_width(ws, col):
                bad.append(f"{ws.title}!{cell.coordinate} shows {text!r} in "
                           f"{_column_width(ws, col):.2f}")  # fmt: skip
    return bad


@pytest.mark.parametrize("name", ["mlp", "deep-adam-test", "scorer", "sweep", "exercise"])
def test_every_column_is_as_wide_as_what_it_shows(files, name):
    assert _too_narrow(files[name]) == []


def test_the_cells_that_showed_hashes_now_fit(files):
    ws = openpyxl.load_workbook(files["mlp"]).worksheets
    data = next(w for w in ws if w.title == "Data")
    # Magnesium's mean (99.741573) and Proline's (746.893258); "Std (population)" in column A.
    assert _column_width(data, 14) >= len("746.893258")
    assert _column_width(data, 1) >= len("Std (population)")
    summary = next(w for w in ws if w.title == "Summary")
    confusion = [c for c in summary[2] if c.number_format.startswith('"Cultivar')]
    assert confusion and all(_column_width(summary, c.column) >= len("Cultivar 1")
                             for c in confusion)  # fmt: skip


def test_the_width_check_fails_on_a_narrow_column(files):
    narrow = _too_narrow(files["mlp"], {("Data", 14): 9})  # Proline's mean and std
    assert narrow == ["Data!N2 shows '746.893258' in 9.00", "Data!N3 shows '314.021657' in 9.00"]


def _charts(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return [z.read(n).decode() for n in sorted(z.namelist()) if n.startswith("xl/charts/")]


@pytest.mark.parametrize(("name", "epochs", "which"),
                         [("mlp", EPOCHS, 0), ("sweep", SWEEP_EPOCHS, 0),
                          ("sweep", SWEEP_EPOCHS, 1)])  # fmt: skip
def test_charts_put_epochs_on_a_value_axis_with_straight_lines(files, name, epochs, which):
    xml = _charts(files[name])[which]
    assert "<c:scatterChart>" in xml and "<c:lineChart>" not in xml
    assert "<c:catAx>" not in xml
    assert '<c:smooth val="1"/>' not in xml
    assert xml.count('<c:smooth val="0"/>') == xml.count("<c:ser>")
    x_axis = re.search(r"<c:valAx>.*?</c:valAx>", xml, re.S)[0]
    assert f'<c:max val="{epochs}"/>' in x_axis
    unit = float(re.search(r'<c:majorUnit val="([^"]+)"/>', x_axis)[1])
    assert epochs / unit <= 10 and unit in (1, 2, 5, 10, 20, 50, 100)


def test_accuracy_sits_below_the_plot_border(files):
    (xml,) = _charts(files["mlp"])
    maxima = [float(v) for v in re.findall(r'<c:max val="([^"]+)"/>', xml)]
    assert any(1 < m <= 1.1 for m in maxima)  # the accuracy axis: a little above 1


@pytest.mark.parametrize(
    ("name", "sheet", "cell"),
    [("mlp", "Summary", "B2"), ("mlp", "Init", "B3"), ("mlp", "Train", "B3"),
     ("mlp", "Data", "B5"), ("deep-adam-test", "Test", "B5"), ("scorer", "Model", "B2"),
     ("scorer", "Score", "A5")],
)  # fmt: skip
def test_long_sheets_keep_their_headers_in_view(files, name, sheet, cell):
    assert openpyxl.load_workbook(files[name])[sheet].freeze_panes == cell


def test_train_bands_label_their_columns_and_the_weights_rows(files):
    ws = openpyxl.load_workbook(files["mlp"])["Train"]
    wine = load_wine()
    row = {c.value: c.column for c in ws[1] if isinstance(c.value, str)}
    labels = {c.column: c.value for c in ws[2] if c.value is not None}
    a1, a2 = row["A1"], row["A2"]
    assert [labels[a1 + j] for j in range(5)] == [f"unit {j + 1}" for j in range(5)]
    assert [labels[a2 + j] for j in range(3)] == ["Cultivar 1", "Cultivar 2", "Cultivar 3"]
    assert [ws.cell(3 + i, 1).value for i in range(wine.f)] == [
        f"W1: {n}" for n in wine.feature_names
    ]
    assert ws.cell(1, row["W1"]).value == "W1"  # the blocks did not move: W1 from B3
    assert ws["B3"].value is not None and ws["A3"].value == "W1: " + wine.feature_names[0]


def test_counts_and_classes_show_as_whole_numbers(files):
    wb = openpyxl.load_workbook(files["mlp"])
    train = wb["Train"]
    col = next(c.column for c in train[1] if c.value == "Prediction")
    assert train.cell(3, col).number_format == "0"
    summary = openpyxl.load_workbook(files["mlp"], data_only=True)["Summary"]
    corner = next(c for c in summary[2] if c.value == "actual / predicted")
    counts = [summary.cell(3 + i, corner.column + 1 + j) for i in range(3) for j in range(3)]
    assert {c.number_format for c in counts} == {"0"} and sum(c.value for c in counts) == 178


def test_about_shows_settings_as_typed_and_counts_in_the_singular(files):
    about = [c.value for c in openpyxl.load_workbook(files["one-epoch"])["About"]["A"] if c.value]
    text = "\n".join(about)
    assert "Sample count: 178\n" in text and "Learning rate: 1\n" in text
    assert "178.0" not in text and "1 epoch of" in text and "1 epochs" not in text


@pytest.mark.parametrize(
    "text", ['rosé "x"', '"', "a;b", "back\\slash", 'x\\"y', "day;mmm yy", "50%", "#,##0"]
)
def test_a_text_shown_by_a_number_format_reads_back(text):
    fmt = literal_format(text)
    assert format_literal(fmt) == text and shown(7.0, fmt) == text


def test_number_formats_that_show_the_number_are_not_literals():
    for fmt in ("0.000000", "General", '"Cultivar "General', "0.00%", ""):
        assert format_literal(fmt) is None


CLASS_NAMES = ['red "dry"', "white;sweet", "ros\\e", "day;mmm yy", "ünï ✓ #,##0"]


def test_class_names_round_trip_through_build_verify_and_scorer(tmp_path):
    path = tmp_path / "names.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["kind", "x", "y"])
        for i in range(40):
            out.writerow([CLASS_NAMES[i % 5], i % 5 + (i % 7) / 10, (i * 37 % 11) / 3])
    data = load_csv(path, "kind")
    book = build(Spec(epochs=2), data, tmp_path / "names.xlsx").path
    assert verify(book).ok
    scorer = scorer_from_workbook(book)
    assert scorer.class_names == tuple(sorted(CLASS_NAMES))
    written = write_scorer(scorer, tmp_path / "scorer.xlsx").path
    assert read_scorer(written).class_names == tuple(sorted(CLASS_NAMES))
    labels = openpyxl.load_workbook(book)["Data"]
    shown_names = {shown(1.0, c.number_format) for c in labels["A"][4:] if c.value is not None}
    assert shown_names == set(CLASS_NAMES)


def test_spacer_columns_between_blocks_are_narrow(files):
    ws = openpyxl.load_workbook(files["mlp"])["Train"]
    names = [c.column for c in ws[1] if isinstance(c.value, str) and c.column > 1]
    spacer = names[1] - 1  # the empty column left of the second block
    assert ws.cell(3, spacer).value is None
    assert _column_width(ws, spacer) < 4
    assert get_column_letter(spacer)


def test_messages_count_in_the_singular(tmp_path, capsys):
    from xlnet.cli import main
    from xlnet.words import as_typed, quantity

    assert quantity(1, "epoch") == "1 epoch" and quantity(1_000, "formula cell") == (
        "1,000 formula cells"
    )
    assert as_typed(178.0) == "178" and as_typed(0.05) == "0.05" and as_typed("8,4") == "8,4"
    assert main(["build", "logreg", "--epochs", "1", "-o", str(tmp_path / "one.xlsx")]) == 0
    out = capsys.readouterr().out
    assert "1 epoch," in out and "1 epochs" not in out


def test_blank_blocks_keep_their_headers_whole(files):
    """An exercise's blocks are blank: their headers and labels set the widths, and a blank
    block column is never narrowed like the spacer between two blocks."""
    ws = openpyxl.load_workbook(files["exercise"])["Train"]
    labels = [c for c in ws[2] if isinstance(c.value, str)]
    assert labels and all(_column_width(ws, c.column) >= len(c.value) for c in labels)
    names = [c for c in ws[1] if isinstance(c.value, str) and c.column > 1]
    assert all(_column_width(ws, c.column) >= DEFAULT_WIDTH for c in names)


def test_long_class_names_fit_their_columns(tmp_path):
    names = ["HOODED WARBLER WOMAN", "MOUNTAIN WOOD WARBLER MALE", "WESTERN MEADOWLARK MALE WINTER"]
    path = tmp_path / "birds.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["species", "x", "y"])
        for i in range(30):
            out.writerow([names[i % 3], i % 3 + (i % 7) / 10, (i * 37 % 11) / 3])
    book = build(Spec(model="mlp", hidden=(2,), epochs=2), load_csv(path, "species"),
                 tmp_path / "birds.xlsx").path  # fmt: skip
    assert _too_narrow(book) == []
    init = openpyxl.load_workbook(book)["Train"]
    last = next(c for c in init[2] if c.value == names[2])
    assert _column_width(init, last.column) >= len(names[2])
