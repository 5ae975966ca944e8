"""The student-style filler of the book's wine exercise (klaas_fill) against NumPy.

Every block a filled sheet computes is held against an independent NumPy forward and backward
pass from the template's own inputs (X, targets, learning rate, N) and the weights in the file:
recomputed by xlnet.evaluate, and for a few files by LibreOffice. Each planted mistake must
change the block MISTAKES names first (in dependency order), and change it the way the mistake
says; several planted at once write each of their blocks as when planted alone.
"""

from __future__ import annotations

import functools
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from klaas_fill import (
    _FILLED,
    ARRAYS_ONLY,
    AUTHORS,
    CELLS_ONLY,
    KLAAS,
    MISTAKES,
    SHEETS,
    as_spilled,
    blocks,
    fill,
)
from openpyxl.utils import range_boundaries

from xlnet.evaluate import EMPTY, Result, evaluate, is_error
from xlnet.libreoffice import recalculate
from xlnet.xlsxio import Book, read_book, read_cached

MODELS = tuple(SHEETS)
RTOL, ATOL = 1e-9, 1e-12
# (style, bias, loss): both styles, both biases, both losses, in four files.
CASES = [
    ("cells", "scalar", "column"),
    ("cells", "vector", "per_class"),
    ("arrays", "scalar", "column"),
    ("arrays", "vector", "per_class"),
]
MISTAKE_CASES = [
    (style, m)
    for style in ("cells", "arrays")
    for m in MISTAKES
    if not (style == "arrays" and m in CELLS_ONLY) and not (style == "cells" and m in ARRAYS_ONLY)
]

# The layout of the README (and the brief), written out independently of klaas_fill.
README_BLOCKS = {
    "logreg": {
        "W1": "P3:R15",
        "b1": "T3",
        "Z1": "V3:X180",
        "A1": "Z3:AB180",
        "Sample Loss": "AH3:AH180",
        "Total Loss": "AL3",
        "dZ1": "AN3:AP180",
        "dW1": "AS3:AU15",
        "db1": "AW3",
        "New W1": "AZ3:BB15",
        "New b1": "BD3",
    },
    "mlp": {
        "W1": "P3:T15",
        "b1": "V3",
        "W2": "AK3:AM7",
        "b2": "AO3",
        "targets": "AY3:BA180",
        "Z1": "X3:AB180",
        "A1": "AD3:AH180",
        "z2": "AQ3:AS180",
        "A2": "AU3:AW180",
        "Sample Loss": "BC3:BC180",
        "Total Loss": "BG3",
        "dZ2": "BI3:BK180",
        "dW2": "BN3:BP7",
        "db2": "BR3",
        "dz1": "BT3:BX180",
        "dW1": "CA3:CE15",
        "db1": "CG3",
        "New W2": "CI3:CK7",
        "New b2": "CM3",
        "New W1": "CO3:CS15",
        "New b1": "CU3",
    },
}


# --- reading blocks -------------------------------------------------------------------------

Getter = Callable[[str, int, int], object]  # (sheet, row0, col0) -> value, None when empty


def _bounds(ref: str) -> tuple[int, int, int, int]:
    """0-based (row0, col0, nrows, ncols) of an A1 range."""
    c0, r0, c1, r1 = range_boundaries(ref)
    return r0 - 1, c0 - 1, r1 - r0 + 1, c1 - c0 + 1


def from_result(result: Result) -> Getter:
    def get(sheet: str, r: int, c: int):
        v = result.value(sheet, r, c)
        # A cell never written holds "empty" as a plain str: np.full(shape, EMPTY, object)
        # stores str(EMPTY), not the schedula token (NumPy 2.4).
        blank = v is EMPTY or (type(v) is str and v == str(EMPTY))
        return None if blank else v

    return get


def from_cached(path: Path) -> Getter:
    cached = read_cached(path)
    return lambda sheet, r, c: cached[sheet].get((r, c))


def grab(get: Getter, sheet: str, ref: str) -> np.ndarray:
    r0, c0, nr, nc = _bounds(ref)
    return np.array([[get(sheet, r0 + i, c0 + j) for j in range(nc)] for i in range(nr)], object)


def numbers(block: np.ndarray, what: str) -> np.ndarray:
    bad = [v for v in block.ravel() if isinstance(v, bool) or not isinstance(v, (int, float))]
    assert not bad, f"{what}: not all numbers, e.g. {bad[:3]}"
    return block.astype(float)


def kinds(book: Book, sheet: str, ref: str) -> np.ndarray:
    """Per cell: "f" formula, "a" inside an array formula, "v" entered value, "" empty."""
    s = book.sheet(sheet)
    r0, c0, nr, nc = _bounds(ref)
    out = np.full((nr, nc), "", dtype=object)
    for (ar, ac), (_, anr, anc) in s.arrays.items():
        for r in range(max(ar, r0), min(ar + anr, r0 + nr)):
            for c in range(max(ac, c0), min(ac + anc, c0 + nc)):
                out[r - r0, c - c0] = "a"
    for i in range(nr):
        for j in range(nc):
            if (r0 + i, c0 + j) in s.formulas:
                out[i, j] = "f"
            elif (r0 + i, c0 + j) in s.values:
                out[i, j] = "v"
    return out


# --- the NumPy reference ----------------------------------------------------------------------


@functools.cache
def inputs(model: str) -> dict[str, object]:
    """X, Y, lr and N from the template itself; Y of mlp one-hot from Data's cultivar column."""
    book = read_book(KLAAS)
    s = book.sheet(SHEETS[model])
    x = np.array([[s.values[(r, c)] for c in range(13)] for r in range(2, 180)], dtype=float)
    if model == "logreg":
        y = np.array([[s.values[(r, c)] for c in range(29, 32)] for r in range(2, 180)], float)
    else:
        cultivar = np.array([book.sheet("Data").values[(r, 0)] for r in range(2, 180)])
        y = (cultivar[:, None] == np.array([1, 2, 3])[None, :]).astype(float)
    return {"X": x, "Y": y, "lr": float(s.values[(0, 1)]), "N": float(s.values[(0, 4)])}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reference(model: str, inp: dict, params: dict[str, np.ndarray], loss: str) -> dict:
    """Every block of one training step, from the weights as written (b: 1x1 or Kx1)."""
    x, y, lr, n = inp["X"], inp["Y"], inp["lr"], inp["N"]

    def grad_b(dz: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.full((1, 1), dz.sum() / n) if b.size == 1 else dz.sum(axis=0)[:, None] / n

    def sample_loss(a: np.ndarray) -> np.ndarray:
        per_class = -y * np.log(a)
        return per_class if loss == "per_class" else per_class.sum(axis=1, keepdims=True)

    out = dict(params)
    if model == "logreg":
        w1, b1 = params["W1"], params["b1"]
        out["Z1"] = x @ w1 + b1.ravel()
        out["A1"] = softmax(out["Z1"])
        out["Sample Loss"] = sample_loss(out["A1"])
        out["dZ1"] = out["A1"] - y
        out["dW1"] = x.T @ out["dZ1"] / n
        out["db1"] = grad_b(out["dZ1"], b1)
    else:
        w1, b1, w2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        out["targets"] = y
        out["Z1"] = x @ w1 + b1.ravel()
        out["A1"] = np.tanh(out["Z1"])
        out["z2"] = out["A1"] @ w2 + b2.ravel()
        out["A2"] = softmax(out["z2"])
        out["Sample Loss"] = sample_loss(out["A2"])
        out["dZ2"] = out["A2"] - y
        out["dW2"] = out["A1"].T @ out["dZ2"] / n
        out["db2"] = grad_b(out["dZ2"], b2)
        out["dz1"] = out["dZ2"] @ w2.T * (1 - out["A1"] ** 2)
        out["dW1"] = x.T @ out["dz1"] / n
        out["db1"] = grad_b(out["dz1"], b1)
        out["New W2"] = w2 - lr * out["dW2"]
        out["New b2"] = b2 - lr * out["db2"]
    out["Total Loss"] = np.full((1, 1), out["Sample Loss"].sum() / n)
    out["New W1"] = params["W1"] - lr * out["dW1"]
    out["New b1"] = params["b1"] - lr * out["db1"]
    return out


def weights_of(get: Getter, model: str, bias: str) -> dict[str, np.ndarray]:
    names = ("W1", "b1") if model == "logreg" else ("W1", "b1", "W2", "b2")
    refs = blocks(model, bias)
    return {k: numbers(grab(get, SHEETS[model], refs[k]), k) for k in names}


def check_against_numpy(get: Getter, model: str, bias: str, loss: str) -> None:
    """Every block of `model` equals the NumPy pass from the weights `get` sees."""
    want = reference(model, inputs(model), weights_of(get, model, bias), loss)
    refs = blocks(model, bias, loss)
    assert set(refs) == set(want)
    for name, ref in refs.items():
        got = numbers(grab(get, SHEETS[model], ref), f"{model} {name} {ref}")
        assert got.shape == want[name].shape, (model, name)
        np.testing.assert_allclose(got, want[name], rtol=RTOL, atol=ATOL, err_msg=f"{model} {name}")


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> dict[tuple[str, str, str], tuple[Path, Book, Result]]:
    folder = tmp_path_factory.mktemp("klaas")
    out = {}
    for style, bias, loss in CASES:
        path = fill(folder / f"{style}-{bias}-{loss}.xlsx", style=style, bias=bias, loss=loss)
        book = read_book(path)
        out[(style, bias, loss)] = (path, book, evaluate(book))
    return out


# --- the layout -------------------------------------------------------------------------------


def test_blocks_are_the_readme_layout():
    for model in MODELS:
        assert blocks(model) == README_BLOCKS[model]
    assert blocks("logreg", "vector", "per_class")["b1"] == "T3:T5"
    assert blocks("logreg", "vector", "per_class")["Sample Loss"] == "AH3:AJ180"
    vec = blocks("mlp", "vector", "per_class")
    assert (vec["b1"], vec["b2"], vec["db2"], vec["New b1"]) == (
        "V3:V7",
        "AO3:AO5",
        "BR3:BR5",
        "CU3:CU7",
    )
    assert vec["Sample Loss"] == "BC3:BE180"


def kept(before: dict, after: dict) -> None:
    """Every entered value of `before` is in `after`; openpyxl saves numbers as "%.16g", so a
    17-digit feature may change in its last digit."""
    for rc, v in before.items():
        w = after[rc]
        assert w == v or (isinstance(v, float) and abs(w - v) <= 1e-15 * abs(v)), (rc, v, w)


def test_template_untouched_where_it_should_be(filled):
    """The Data sheet and the headers in row 2 are the template's; nothing else is written
    outside the blocks."""
    template = read_book(KLAAS)
    for (style, bias, loss), (_, book, _) in filled.items():
        assert book.sheet("Data").formulas == template.sheet("Data").formulas
        assert book.sheet("Data").values == template.sheet("Data").values
        assert book.sheet("Data").arrays == {}
        for model, sheet in SHEETS.items():
            before, after = template.sheet(sheet), book.sheet(sheet)
            kept(before.values, after.values)
            assert all(rc in after.formulas for rc in before.formulas)
            written = set(after.values) - set(before.values)
            written |= set(after.formulas) - set(before.formulas)
            written |= set(after.arrays)
            inside = set()
            for ref in blocks(model, bias, loss).values():
                r0, c0, nr, nc = _bounds(ref)
                inside |= {(r0 + i, c0 + j) for i in range(nr) for j in range(nc)}
            assert written <= inside, (style, model, sorted(written - inside)[:5])
            assert all(r >= 2 for r, _ in written)


# --- correct fills against NumPy --------------------------------------------------------------


@pytest.mark.parametrize(("style", "bias", "loss"), CASES)
def test_filled_book_matches_numpy(filled, style, bias, loss):
    _, book, result = filled[(style, bias, loss)]
    assert result.error_cells() == []
    assert result.volatile == []
    for model in MODELS:
        check_against_numpy(from_result(result), model, bias, loss)
        refs = blocks(model, bias, loss)
        written = {k for k in refs if k not in ("W1", "b1", "W2", "b2")}
        for name in written:
            k = kinds(book, SHEETS[model], refs[name])
            if style == "cells" or k.size == 1:
                assert (k == "f").all(), (model, name)
            else:
                assert (k == "a").all() and len(book.sheet(SHEETS[model]).arrays) > 0


def test_array_style_uses_one_array_formula_per_block(filled):
    _, book, _ = filled[("arrays", "vector", "per_class")]
    for model, sheet in SHEETS.items():
        refs = blocks(model, "vector", "per_class")
        multi = {k for k, ref in refs.items() if ":" in ref and k not in ("W1", "b1", "W2", "b2")}
        arrays = book.sheet(sheet).arrays
        assert len(arrays) == len(multi)
        for name in multi:
            r0, c0, nr, nc = _bounds(refs[name])
            assert arrays[(r0, c0)][1:] == (nr, nc), name


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, filled):
    """Weights depend on the seed only (not on the style, the loss or the other sheet)."""
    _, book, _ = filled[("cells", "scalar", "column")]
    alone = read_book(fill(tmp_path / "a.xlsx", models=("mlp",), style="arrays", loss="per_class"))
    other = read_book(fill(tmp_path / "b.xlsx", models=("mlp",), seed=1))

    def weights(bk: Book) -> dict[str, np.ndarray]:
        return weights_of(lambda s, r, c: bk.sheet(s).values.get((r, c)), "mlp", "scalar")

    for k, w in weights(book).items():
        np.testing.assert_array_equal(weights(alone)[k], w)
        assert not np.allclose(weights(other)[k], w)
    template = read_book(KLAAS).sheet(SHEETS["logreg"])
    untouched = alone.sheet(SHEETS["logreg"])
    kept(template.values, untouched.values)
    assert set(untouched.values) == set(template.values)
    assert (untouched.formulas, untouched.arrays) == (template.formulas, {})


def test_rand_weights_are_volatile_formulas(tmp_path):
    path = fill(tmp_path / "rand.xlsx", weights="rand", style="arrays")
    book = read_book(path)
    for model, sheet in SHEETS.items():
        for name in ("W1", "b1"):
            r0, c0, nr, nc = _bounds(blocks(model)[name])
            assert all(
                book.sheet(sheet).formulas[(r0 + i, c0 + j)] == "=RAND()-0.5"
                for i in range(nr)
                for j in range(nc)
            )
    result = evaluate(book)
    assert len(result.volatile) == 13 * 3 + 1 + 13 * 5 + 1 + 5 * 3 + 1
    assert result.error_cells() == []


@pytest.mark.parametrize(
    "kw",
    [
        {"style": "sheets"},
        {"bias": "matrix"},
        {"loss": "sum"},
        {"weights": "zeros"},
        {"models": ("svm",)},
        {"mistake": "typo"},
        {"mistake": "unanchored", "style": "arrays"},
        {"mistake": "transposed", "style": "cells"},
        {"mistake": "tanh_deriv_z", "models": ("logreg",)},
        {"mistake": "pasted", "weights": "rand"},
        {"mistake": "shifted_softmax", "models": ("logreg",)},
        # Several at once: each validated, and no two in one block of one model.
        {"mistake": ("log", "typo")},
        {"mistake": ("log", "unanchored"), "style": "arrays"},
        {"mistake": ("log", "tanh_deriv_z"), "models": ("logreg",)},
        {"mistake": ("log", "log")},
        {"mistake": ("unanchored", "shifted_softmax")},  # both mlp A2
        {"mistake": ("missing_n", "transposed"), "style": "arrays"},  # both dW1
        {"mistake": ("log", "pasted"), "weights": "rand"},
    ],
)
def test_bad_options_are_refused(tmp_path, kw):
    with pytest.raises(ValueError):
        fill(tmp_path / "x.xlsx", **kw)
    assert not (tmp_path / "x.xlsx").exists()


# --- mistakes -------------------------------------------------------------------------------


def _same(a, b) -> bool:
    if is_error(a) or is_error(b):
        return is_error(a) and is_error(b) and str(a) == str(b)
    if a is None or b is None:
        return a is None and b is None
    return bool(np.isclose(float(a), float(b), rtol=RTOL, atol=ATOL))


def differing_blocks(ok: tuple[Book, Result], bad: tuple[Book, Result], model: str) -> list:
    """The blocks, in dependency order, whose kinds of cells or values differ."""
    out = []
    for name, ref in blocks(model).items():
        sheet = SHEETS[model]
        k_ok, k_bad = kinds(ok[0], sheet, ref), kinds(bad[0], sheet, ref)
        v_ok, v_bad = grab(from_result(ok[1]), sheet, ref), grab(from_result(bad[1]), sheet, ref)
        if (k_ok != k_bad).any() or not all(map(_same, v_ok.ravel(), v_bad.ravel())):
            out.append(name)
    return out


def check_mistake_block(mistake: str, model: str, book: Book, get: Getter, want: dict) -> None:
    """The block the mistake lands in holds what the mistake computes (`want`: the correct
    NumPy pass)."""
    name = MISTAKES[mistake][model]
    sheet, ref = SHEETS[model], blocks(model)[name]
    got = grab(get, sheet, ref)
    inp = inputs(model)
    if mistake == "error":
        assert all(is_error(v) and str(v) == "#VALUE!" for v in got.ravel())
        return
    if mistake == "blank":
        assert (kinds(book, sheet, ref) == "").all()
        assert all(v is None for v in got.ravel())
        return
    if mistake == "transposed":
        k = got.shape[1]
        np.testing.assert_allclose(numbers(got[:k], name), want[name][:k].T, rtol=RTOL, atol=ATOL)
        assert all(is_error(v) and str(v) == "#N/A" for v in got[k:].ravel())
        return
    if mistake == "pasted":
        assert (kinds(book, sheet, ref) == "v").all()
        expected = want[name]
    elif mistake == "log":
        a = want["A1" if model == "logreg" else "A2"]
        expected = -(inp["Y"] * np.log10(a)).sum(axis=1, keepdims=True)
    elif mistake == "unanchored":
        z = want["Z1" if model == "logreg" else "z2"]
        a = want["A1" if model == "logreg" else "A2"]
        # Filled right, the denominator's row slides: [z0 z1 z2], [z1 z2 blank], [z2 blank a0]
        # (the column after Z is empty; the one after that is the block's own first column).
        e = np.exp(z)
        expected = np.column_stack(
            [a[:, 0], e[:, 1] / (e[:, 1] + e[:, 2] + 1), e[:, 2] / (e[:, 2] + 1 + np.exp(a[:, 0]))]
        )
    elif mistake == "shifted_softmax":
        # z2 one column to the right: its 2nd and 3rd columns, then the blank column (0).
        z = want["z2"]
        expected = softmax(np.column_stack([z[:, 1], z[:, 2], np.zeros(len(z))]))
    elif mistake == "dz2_from_a1":
        expected = want["A1"][:, :3] - inp["Y"]
    elif mistake == "tanh_deriv_z":
        expected = want["dZ2"] @ want["W2"].T * (1 - want["Z1"] ** 2)
    elif mistake == "missing_n":
        expected = want["dW1"] * inp["N"]
    elif mistake == "wrong_sign":
        expected = want["W1"] + inp["lr"] * want["dW1"]
    else:
        raise AssertionError(f"no check for mistake {mistake!r}")
    np.testing.assert_allclose(numbers(got, name), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(("style", "mistake"), MISTAKE_CASES)
def test_mistake_lands_in_its_block(filled, tmp_path, style, mistake):
    _, ok_book, ok_result = filled[(style, "scalar", "column")]
    path = fill(tmp_path / f"{mistake}.xlsx", style=style, mistake=mistake)
    book = read_book(path)
    result = evaluate(book)
    for model in MODELS:
        diff = differing_blocks((ok_book, ok_result), (book, result), model)
        if model not in MISTAKES[mistake]:
            assert diff == [], (model, diff)
            continue
        assert diff and diff[0] == MISTAKES[mistake][model], (model, diff)
        get = from_result(result)
        if mistake == "unanchored" and any(
            is_error(v) for v in grab(get, SHEETS[model], blocks(model)[diff[0]]).ravel()
        ):
            # xlnet.evaluate reads a blank cell as the text "empty" (see from_result), so
            # EXP(blank) is #VALUE! there; LibreOffice's values are checked below.
            continue
        want = reference(model, inputs(model), weights_of(get, model, "scalar"), "column")
        check_mistake_block(mistake, model, book, get, want)


def block_content(book: Book, sheet: str, ref: str) -> tuple:
    """What was entered in a block: its formulas, values and array formulas (anchor, text,
    size) by cell."""
    s = book.sheet(sheet)
    r0, c0, nr, nc = _bounds(ref)

    def inside(rc: tuple[int, int]) -> bool:
        return r0 <= rc[0] < r0 + nr and c0 <= rc[1] < c0 + nc

    return tuple(
        {rc: v for rc, v in d.items() if inside(rc)} for d in (s.formulas, s.values, s.arrays)
    )


@pytest.mark.parametrize("style", ["cells", "arrays"])
def test_authors_mistakes_write_each_block_as_alone(filled, tmp_path, style):
    """fill(mistake=AUTHORS) writes each block as the one mistake landing there writes it alone,
    and every other block as the correct fill does."""
    ok = filled[(style, "scalar", "column")][1]
    both = read_book(fill(tmp_path / "authors.xlsx", style=style, mistake=AUTHORS))
    alone = {m: read_book(fill(tmp_path / f"{m}.xlsx", style=style, mistake=m)) for m in AUTHORS}
    landed = set()
    for model in MODELS:
        at = {MISTAKES[m][model]: m for m in AUTHORS if model in MISTAKES[m]}
        for name, ref in blocks(model).items():
            want = alone[at[name]] if name in at else ok
            got = block_content(both, SHEETS[model], ref)
            assert got == block_content(want, SHEETS[model], ref), (style, model, name)
            if name in at:
                assert got != block_content(ok, SHEETS[model], ref), (style, model, name)
                landed.add((model, name))
    # The author's four blocks: the LOG loss on both sheets, dZ2 and the shifted A2.
    assert landed == {("logreg", "Sample Loss"), ("mlp", "Sample Loss"), ("mlp", "dZ2"),
                      ("mlp", "A2")}  # fmt: skip


def test_fill_cache_keys_mistakes_as_a_set(tmp_path):
    """One name and a 1-tuple of it fill the same file, a tuple in any order too; each distinct
    set of mistakes is filled (and cached) once and gets its own file."""
    seed = 7  # a seed no other test fills with: the keys counted here are this test's own

    def keys() -> int:
        return sum(1 for k in _FILLED if k[-1] == seed)

    def formula(path: Path, cell: str) -> str:
        r0, c0, _, _ = _bounds(cell)
        return read_book(path).sheet(SHEETS["mlp"]).formulas[(r0, c0)]

    assert keys() == 0
    none = fill(tmp_path / "none.xlsx", seed=seed)
    fill(tmp_path / "empty.xlsx", seed=seed, mistake=())
    assert keys() == 1
    one = fill(tmp_path / "one.xlsx", seed=seed, mistake="log")
    fill(tmp_path / "tuple1.xlsx", seed=seed, mistake=("log",))
    assert keys() == 2
    two = fill(tmp_path / "two.xlsx", seed=seed, mistake=("dz2_from_a1", "log"))
    again = fill(tmp_path / "again.xlsx", seed=seed, mistake=["log", "dz2_from_a1"])
    dz2 = fill(tmp_path / "dz2.xlsx", seed=seed, mistake="dz2_from_a1")  # a subset of `two`
    assert keys() == 4
    assert two.read_bytes() == again.read_bytes()
    assert (tmp_path / "tuple1.xlsx").read_bytes() == one.read_bytes()
    # BC3 the loss, BI3 dZ2 (A2 is AU, A1 AD, the targets AY).
    files = (none, one, two, dz2)
    assert [formula(p, "BC3").count("LOG(") for p in files] == [0, 1, 1, 0]
    assert [formula(p, "BI3") for p in files] == ["=AU3-AY3", "=AU3-AY3", "=AD3-AY3", "=AD3-AY3"]


# --- Excel 365 spilled formulas ---------------------------------------------------------------


def test_as_spilled_reads_back_and_evaluates_the_same(filled, tmp_path):
    src, book, _ = filled[("arrays", "vector", "per_class")]
    dst = as_spilled(src, tmp_path / "spilled.xlsx")
    with zipfile.ZipFile(dst) as z:
        names = z.namelist()
        meta = z.read("xl/metadata.xml").decode()
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
        sheets = "".join(z.read(n).decode() for n in names if n.startswith("xl/worksheets/"))
    assert 'name="XLDAPR"' in meta and 'fDynamic="1"' in meta and '<rc t="1" v="0"/>' in meta
    assert 'PartName="/xl/metadata.xml"' in types and "sheetMetadata+xml" in types
    assert 'relationships/sheetMetadata" Target="metadata.xml"' in rels
    n_arrays = sum(len(s.arrays) for s in book.sheets.values())
    assert sheets.count('cm="1"') == n_arrays > 0
    spilled = read_book(dst)
    for name, sheet in book.sheets.items():
        assert spilled.sheets[name].arrays == sheet.arrays
        assert spilled.sheets[name].formulas == sheet.formulas
    again = evaluate(spilled)
    assert again.error_cells() == []
    for model in MODELS:
        check_against_numpy(from_result(again), model, "vector", "per_class")
    with pytest.raises(ValueError, match="metadata"):
        as_spilled(dst, tmp_path / "twice.xlsx")


# --- LibreOffice --------------------------------------------------------------------------------


@pytest.mark.libreoffice
@pytest.mark.parametrize(
    ("style", "bias", "loss", "weights"),
    [("cells", "vector", "per_class", "values"), ("arrays", "scalar", "column", "rand")],
)
def test_libreoffice_agrees_with_numpy(need_soffice, tmp_path, style, bias, loss, weights):
    """Recalculated by LibreOffice, every block matches NumPy (from the weights LibreOffice
    saved: RAND() weights get their values only here)."""
    path = fill(tmp_path / "in.xlsx", style=style, bias=bias, loss=loss, weights=weights)
    out = recalculate(path, tmp_path / "lo")
    for model in MODELS:
        check_against_numpy(from_cached(out), model, bias, loss)


@pytest.mark.libreoffice
def test_libreoffice_spilled_unanchored_and_shifted(need_soffice, tmp_path):
    """LibreOffice opens as_spilled output and computes it right; the unanchored softmax slides
    into the empty column (read as 0) and the block's own first column; the shifted softmax
    reads the empty column as 0 too, in both styles (SUMPRODUCT(EXP(row)) is no implicit
    intersection)."""
    spilled = as_spilled(fill(tmp_path / "arrays.xlsx", style="arrays"), tmp_path / "sp.xlsx")
    planted = [("unanchored", "cells"), ("shifted_softmax", "cells"), ("shifted_softmax", "arrays")]
    paths = [(None, spilled)] + [
        (m, fill(tmp_path / f"{m}-{style}.xlsx", style=style, mistake=m)) for m, style in planted
    ]
    for mistake, path in paths:
        out = recalculate(path, tmp_path / "lo")
        get = from_cached(out)
        for model in MODELS:
            if mistake is None:
                check_against_numpy(get, model, "scalar", "column")
            elif model in MISTAKES[mistake]:
                want = reference(model, inputs(model), weights_of(get, model, "scalar"), "column")
                check_mistake_block(mistake, model, read_book(path), get, want)
