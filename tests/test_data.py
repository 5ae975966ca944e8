import hashlib

import numpy as np
import pytest

from xlnet.data import DataError, load_csv, load_wine, wine_path

# UCI wine.names: 59, 71 and 48 samples of the three cultivars; ranges of three attributes.
UCI_CLASS_COUNTS = {1.0: 59, 2.0: 71, 3.0: 48}
UCI_RANGES = {"Alcohol": (11.03, 14.83), "Magnesium": (70, 162), "Proline": (278, 1680)}
# scikit-learn's bundled copy of the same data equals data/wine.csv exactly (checked when the
# file was made from the book's Data sheet); the hash pins that content.
WINE_SHA256 = "08891a88014c481933d592090d0e1e474e074f95b5b1327d0059a9ff4324d96d"


def test_wine_matches_uci():
    ds = load_wine()
    assert (ds.n, ds.f, ds.k) == (178, 13, 3)
    counts = {c: int((ds.labels == c).sum()) for c in ds.classes}
    assert counts == UCI_CLASS_COUNTS
    for name, (lo, hi) in UCI_RANGES.items():
        col = ds.features[:, ds.feature_names.index(name)]
        assert (col.min(), col.max()) == (lo, hi)
    assert ds.onehot().sum(axis=0).tolist() == [59, 71, 48]


def test_wine_file_is_pinned():
    assert hashlib.sha256(wine_path().read_bytes()).hexdigest() == WINE_SHA256


def test_matches_the_books_data_sheet():
    import openpyxl
    from klaas_fill import KLAAS  # the book's workbook, shipped as xlnet/templates/klaas-ch1.xlsx

    wb = openpyxl.load_workbook(KLAAS, read_only=True)
    try:
        cells = wb["Data"].iter_rows(min_row=3, max_row=180, max_col=14, values_only=True)
        rows = np.array([list(r) for r in cells], dtype=float)
    finally:
        wb.close()
    ds = load_wine()
    assert np.array_equal(rows[:, 0], ds.labels)
    assert np.array_equal(rows[:, 1:], ds.features)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("a,b\n", "no data rows"),
        ("a,a\n1,2\n", "repeats"),
        ("c,x\n1,2\n1,3\n", "single class"),
        ("c,x\n1,2\n2,oops\n", "not a number"),
        ("c,x\n1,2\n2,nan\n", "not finite"),
        ("c,x\n1,2\n2\n", "fields"),
        ("c,x\n1,2\n2,2\n", "constant"),
        ("c,x\n1,1e308\n2,-1e308\n", "'x' holds values too large"),
        ("c,x\n1,0\n2,5e-324\n", "'x' holds values too close together"),
        ("c,x\r1,2\r2,y\r", "line 3, column 'x': 'y' is not a number"),
        ('c,"x\x01"\n1,2\n2,3\n', "U\\+0001, a control character"),
        ('c,x\n"a\tb",2\nc,3\n', "line 2, column 'c': the class 'a\\\\tb' holds U\\+0009"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError, match=message):
        load_csv(p)


def test_not_utf8(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_bytes(b"c,x\n1,\xff\n")
    with pytest.raises(DataError, match="UTF-8"):
        load_csv(p)
