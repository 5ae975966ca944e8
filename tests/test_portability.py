"""Every formula xlnet writes computes in every spreadsheet program: no implicit intersection.

Excel and LibreOffice evaluate `SUMPRODUCT(Y, LN(A))` in a plain cell as arrays; other programs
intersect `LN(range)` and show #VALUE! (ENGINES.md, issue 12). So in a plain (non-array) cell a
range may only reach a range-taking function: SUMPRODUCT takes ranges and arithmetic or
comparisons of ranges, the other aggregates and lookups take bare ranges. Anything else applied
to a range (LN, EXP, TANH, IF, TRANSPOSE, ...), a SUM of an expression of ranges, or a range left
to stand alone, belongs in an array formula. Each command and option is written once, small,
and every plain formula of the file is scanned with openpyxl's formula tokenizer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import xlsxwriter
from openpyxl.formula.tokenizer import Token, Tokenizer

from xlnet import a1
from xlnet.cli import main
from xlnet.xlsxio import read_book

ROOT = Path(__file__).resolve().parent.parent
IRIS = ROOT / "examples" / "iris.csv"
EPOCHS = "2"

# Functions that take a range and return one number: a range (and, for SUMPRODUCT, arithmetic or
# comparisons of ranges) is what they are for. "_xlfn." is stripped before the look-up.
AGGREGATES = frozenset({
    "SUM", "MAX", "MIN", "AVERAGE", "COUNT", "COUNTA", "COUNTBLANK", "COUNTIF", "COUNTIFS",
    "SUMIF", "SUMIFS", "AVERAGEIF", "AVERAGEIFS", "STDEV", "STDEVP", "STDEV.P", "STDEV.S", "VAR",
    "VARP", "VAR.P", "VAR.S", "MEDIAN", "PRODUCT", "SUMSQ", "LARGE", "SMALL", "MMULT", "INDEX",
    "MATCH", "VLOOKUP", "HLOOKUP", "LOOKUP", "ROWS", "COLUMNS",
})  # fmt: skip
# Functions that return a reference, a range whatever their arguments.
REFERENCES = frozenset({"OFFSET", "INDIRECT"})
ELEMENTWISE_OK = "SUMPRODUCT"  # array-evaluates its arguments in every program measured
_CELL = r"\$?[A-Z]{1,3}\$?\d+"
_SPAN = re.compile(rf"{_CELL}:{_CELL}|\$?[A-Z]{{1,3}}:\$?[A-Z]{{1,3}}|\$?\d+:\$?\d+", re.I)


def is_range(ref: str, names: dict[str, str]) -> bool:
    """A reference to more than one cell: A1:B2, A:A, 3:3, or a name that refers to one."""
    target = names.get(ref.upper(), ref)
    return bool(_SPAN.search(target.rpartition("!")[2]))


@dataclass
class _Frame:
    func: str  # "" for the formula itself or a parenthesised group
    ranges: bool = False  # the current argument reaches a range
    tokens: int = 0  # tokens in the current argument at this level
    bare: bool = False  # the current argument is one range reference and nothing else


def violations(formula: str, names: dict[str, str] | None = None) -> list[str]:
    """Why a plain-cell formula relies on array evaluation: one line per offending call."""
    names = names or {}
    out: list[str] = []
    stack = [_Frame("")]

    def end_argument(f: _Frame) -> None:
        if f.ranges and f.func and f.func != ELEMENTWISE_OK:
            if f.func not in AGGREGATES:
                out.append(f"{f.func} of a range")
            elif not f.bare:
                out.append(f"{f.func} of an expression of ranges")
        f.ranges, f.tokens, f.bare = False, 0, False

    def operand(f: _Frame, ranged: bool, bare: bool = False) -> None:
        f.tokens += 1
        f.ranges = f.ranges or ranged
        f.bare = bare and f.tokens == 1

    text = formula if formula.startswith("=") else "=" + formula
    for tok in Tokenizer(text).items:
        top = stack[-1]
        if tok.type == Token.WSPACE:
            continue
        if tok.type == Token.OPERAND:
            ranged = tok.subtype == Token.RANGE and is_range(tok.value, names)
            operand(top, ranged, bare=ranged)
        elif tok.subtype == Token.OPEN and tok.type in (Token.FUNC, Token.PAREN):
            name = tok.value[:-1].upper().removeprefix("_XLFN.") if tok.type == Token.FUNC else ""
            stack.append(_Frame(name))
        elif tok.type == Token.SEP and tok.subtype == Token.ARG and top.func:
            end_argument(top)
        elif tok.subtype == Token.CLOSE and tok.type in (Token.FUNC, Token.PAREN):
            inner = stack.pop()
            if inner.func:
                end_argument(inner)
            # An aggregate returns one number, and a call already reported passes nothing on; a
            # group passes its ranges on ((A1:A3) is still a bare range), a reference is one.
            if inner.func in REFERENCES:
                operand(stack[-1], True, bare=True)
            else:
                operand(stack[-1], not inner.func and inner.ranges, bare=inner.bare)
        else:
            top.tokens += 1
            top.bare = False
    if stack[0].ranges:
        out.append("a range outside any aggregate (implicit intersection)")
    return out


def scan(path: Path) -> list[str]:
    """Every offending plain formula of a workbook: "Sheet!A1 =formula: why"."""
    book = read_book(path)
    assert any(s.formulas or s.arrays for s in book.sheets.values()), f"{path}: no formulas"
    bad = []
    for sheet in book.sheets.values():
        names = {**book.names, **sheet.names}
        for (r, c), text in sheet.formulas.items():
            why = violations(text, names)
            if why:
                bad.append(f"{sheet.name}!{a1.cell(r, c)} {text}: {'; '.join(why)}")
    return bad


# --- the scanner can fail ---------------------------------------------------------------------

NAMES = {"W1_FINAL": "Train!$CH$184:$CL$196", "N_SAMPLES": "Settings!$B$8"}


@pytest.mark.parametrize(
    "formula",
    [
        "-SUMPRODUCT(A1:C1,LN(D1:F1+1E-300))",
        "TANH(A1:A3)",
        "SUM(EXP(A1:A3))",
        "SUMPRODUCT(EXP(OFFSET($V1,0,0,1,3)))",
        "IF(A1:A3>0,1,0)",
        "MMULT(A1:C1,TRANSPOSE(D1:F1))",
        "SUM(A1:A3*B1:B3)",
        "A1:A3*2",
        "LN(W1_FINAL)",
        "1+SUMPRODUCT(A1:A3,B1:B3)*EXP(Sheet2!A:A)",
        "-LN(1-SUMPRODUCT(A1:C1,LN('My data'!$D$1:$F$1)))",
    ],
)
def test_scanner_flags(formula):
    assert violations(formula, NAMES), formula


@pytest.mark.parametrize(
    "formula",
    [
        "SUMPRODUCT((A1:A3=B1:B3)*1)",
        "-LN(SUMPRODUCT(A1:C1,D1:F1)+1E-300)",
        "SUMPRODUCT((A1:A3-B1:B3)*C1:C3)/n_samples",
        "INDEX(Data!$P$4:$R$4,1,MATCH(MAX($AR3:$AT3),$AR3:$AT3,0))",
        "_xlfn.STDEV.P(B$5:B$182)",
        "MMULT($A3:$M3,W1!B$3:B$15)+$P$3",
        "1/(1+EXP(-MAX(-700,MIN(700,A1))))",
        "SUM(W1_FINAL)/N_SAMPLES",
        "SUM((A1:A3))",
        "-(A1*LN(B1+1E-300)+(1-A1)*LN(1-B1+1E-300))",
    ],
)
def test_scanner_passes(formula):
    assert violations(formula, NAMES) == [], formula


def test_scan_reads_plain_cells_not_array_formulas(tmp_path):
    """The old loss form is flagged in a plain cell and left alone in an array formula."""
    path = tmp_path / "old-loss.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Train")
    ws.write_formula("G1", "=-SUMPRODUCT(A1:C1,LN(D1:F1+1E-300))")
    ws.write_array_formula("G2:G3", "{=-MMULT(A2:C3*LN(D2:F3+1E-300),TRANSPOSE(A2:C2*0+1))}")
    wb.close()
    bad = scan(path)
    assert len(bad) == 1 and bad[0].startswith("Train!G1 ") and "LN of a range" in bad[0], bad


# --- every command and option, both layouts ---------------------------------------------------

BUILDS = {
    "logreg": [],
    "logreg sigmoid momentum test-fraction": ["--output", "sigmoid", "--optimizer", "momentum",
                                              "--test-fraction", "0.3"],
    "logreg iris adam sigmoid": ["--data", str(IRIS), "--target", "species", "--optimizer",
                                 "adam", "--output", "sigmoid"],
    "mlp tanh adam": ["--activation", "tanh", "--optimizer", "adam"],
    "mlp sigmoid-hidden sigmoid-output 8,4": ["--activation", "sigmoid", "--output", "sigmoid",
                                              "--hidden", "8,4"],
    "mlp relu momentum iris test-fraction": ["--activation", "relu", "--optimizer", "momentum",
                                             "--data", str(IRIS), "--target", "species",
                                             "--test-fraction", "0.3", "--hidden", "3,2,2"],
}  # fmt: skip
EXERCISES = {
    "logreg all but update given": ["logreg", "--given", "params,forward,loss,backward"],
    "logreg default": ["logreg"],
    "mlp sigmoid relu 8,4 given": ["mlp", "--output", "sigmoid", "--activation", "relu",
                                       "--hidden", "8,4", "--given", "forward,loss,update"],
    "mlp sigmoid forward,loss given": ["mlp", "--activation", "sigmoid", "--given",
                                       "forward,loss"],
    "mlp roster vary-lr": ["mlp", "--given", "loss", "--roster", "{roster}", "--outdir", "{dir}",
                           "--vary-lr"],
}  # fmt: skip
SWEEPS = {
    "mlp 2,8x4": ["--hidden", "2,8x4", "--lr", "0.5,1"],
    "logreg iris sigmoid adam test-fraction": ["--model", "logreg", "--lr", "0.1,1", "--data",
                                               str(IRIS), "--target", "species", "--output",
                                               "sigmoid", "--optimizer", "adam",
                                               "--test-fraction", "0.3"],
    "mlp relu sigmoid-output momentum": ["--hidden", "3", "--activation", "relu", "--output",
                                         "sigmoid", "--optimizer", "momentum"],
}  # fmt: skip
SCORERS = {
    "logreg examples": ["logreg", "--examples", "3"],
    "mlp sigmoid relu 8,4 iris": ["mlp", "--output", "sigmoid", "--activation", "relu",
                                  "--hidden", "8,4", "--data", str(IRIS), "--target", "species",
                                  "--examples", "3"],
    "mlp tanh adam test-fraction": ["mlp", "--optimizer", "adam", "--test-fraction", "0.3"],
}  # fmt: skip
LAYOUTS = ("cells", "arrays")


def _cases() -> list:
    out = []
    for layout in LAYOUTS:
        lay = ["--layout", layout, "--epochs", EPOCHS]
        for name, args in BUILDS.items():
            model = "mlp" if name.startswith("mlp") else "logreg"
            out.append(pytest.param(["build", model, *args, *lay, "-o", "{out}"],
                                    id=f"build {name} {layout}"))  # fmt: skip
        for name, args in EXERCISES.items():
            tail = [] if "--outdir" in args else ["-o", "{out}"]
            out.append(pytest.param(["exercise", *args, *lay, *tail],
                                    id=f"exercise {name} {layout}"))  # fmt: skip
        for name, args in SWEEPS.items():
            out.append(pytest.param(["sweep", *args, *lay, "-o", "{out}"],
                                    id=f"sweep {name} {layout}"))  # fmt: skip
        for name, args in SCORERS.items():
            out.append(pytest.param(["export-scorer", *args, *lay, "-o", "{out}"],
                                    id=f"export-scorer {name} {layout}"))  # fmt: skip
    out.append(pytest.param(["export-scorer", "{book}", "--examples", "2", "-o", "{out}"],
                            id="export-scorer from a workbook"))  # fmt: skip
    out.append(pytest.param(["exercise", "--template", "klaas-ch1", "-o", "{out}"],
                            id="exercise template klaas-ch1"))  # fmt: skip
    out.append(
        pytest.param(
            ["exercise", "--template", "klaas-ch1", "--roster", "{roster}", "--outdir", "{dir}"],
            id="exercise template klaas-ch1 roster",
        )
    )
    return out


@pytest.fixture(scope="module")
def source_book(tmp_path_factory) -> Path:
    """A small training workbook for export-scorer to read its weights from."""
    path = tmp_path_factory.mktemp("source") / "net.xlsx"
    assert main(["build", "mlp", "--hidden", "3", "--epochs", EPOCHS, "-o", str(path)]) == 0
    return path


@pytest.mark.parametrize("argv", _cases())
def test_every_formula_is_portable(argv, tmp_path, source_book, capsys):
    roster = tmp_path / "students.csv"
    roster.write_text("id,name,email\ns1,Ada,ada@example.org\ns2,Bo,bo@example.org\n")
    folder = tmp_path / "out"
    folder.mkdir()
    fill = {"{out}": str(folder / "book.xlsx"), "{dir}": str(folder), "{roster}": str(roster),
            "{book}": str(source_book)}  # fmt: skip
    code = main([fill.get(a, a) for a in argv])
    assert code == 0, capsys.readouterr().err
    books = sorted(folder.glob("*.xlsx"))
    assert books, f"{argv}: no workbook written"
    bad = [line for book in books for line in scan(book)]
    assert not bad, f"{len(bad)} plain formulas rely on array evaluation:\n" + "\n".join(bad[:20])
