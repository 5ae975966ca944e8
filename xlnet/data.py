"""Loading a class-labelled numeric CSV (the wine data by default) into a Dataset."""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import XlnetError

MAX_ROWS = 100_000
MAX_FEATURES = 200
MAX_CLASSES = 10


class DataError(XlnetError, ValueError):
    """A CSV that cannot be trained on."""


@dataclass(frozen=True)
class Dataset:
    """Raw features (N x F), labels (N,) as given, and the class values in order."""

    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    classes: tuple[float, ...]
    source: str = ""  # the CSV's file name
    # Text classes ("setosa", ...) are coded 1..K in sorted order; the workbook holds the codes
    # and shows the names through number formats. None when the class column is numeric.
    class_names: tuple[str, ...] | None = None

    def class_name(self, j: int) -> str:
        return self.class_names[j] if self.class_names else f"{self.classes[j]:g}"

    @property
    def n(self) -> int:
        return int(self.features.shape[0])

    @property
    def f(self) -> int:
        return int(self.features.shape[1])

    @property
    def k(self) -> int:
        return len(self.classes)

    def onehot(self) -> np.ndarray:
        return (self.labels[:, None] == np.asarray(self.classes)[None, :]).astype(float)

    def subset(self, rows: np.ndarray) -> Dataset:
        """The samples at `rows`, with every class of the whole set (one may have none)."""
        return replace(self, features=self.features[rows], labels=self.labels[rows])


# Mixed into the seed so the split and the initial weights draw from different streams.
SPLIT_STREAM = 0x5E1


def split(dataset: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Hold out `fraction` of each class (at least one sample, never all), drawn with `seed`;
    both parts keep the file's order. Returns (training, held-out)."""
    rng = np.random.default_rng([seed, SPLIT_STREAM])
    test: list[int] = []
    for j, c in enumerate(dataset.classes):
        rows = np.flatnonzero(dataset.labels == c)
        if len(rows) < 2:
            raise DataError(
                f"class {dataset.class_name(j)} of {dataset.target_name!r} has {len(rows)} "
                "sample; holding "
                "some out needs at least 2 per class"
            )
        take = min(max(round(fraction * len(rows)), 1), len(rows) - 1)
        test += rng.permutation(rows)[:take].tolist()
    held = np.zeros(dataset.n, dtype=bool)
    held[test] = True
    train, out = dataset.subset(np.flatnonzero(~held)), dataset.subset(np.flatnonzero(held))
    # The Test sheet is normalised with the training part's mean and std, so both parts are
    # checked against those.
    check_normalisable(
        dataset.source or "the data", dataset.feature_names, train.features, out.features,
        where=" in the training part",
    )  # fmt: skip
    return train, out


def wine_path() -> Path:
    return Path(str(resources.files("xlnet").joinpath("wine.csv")))


def load_wine() -> Dataset:
    """The UCI wine cultivar data shipped with xlnet (178 samples, 13 features, 3 classes)."""
    return load_csv(wine_path(), target="Cultivar")


def load_csv(path: str | Path, target: str | None = None) -> Dataset:
    """Read a CSV whose columns are numeric features and one class column (`target`,
    default the first column)."""
    path = Path(path)
    rows, lines = _read_rows(path, _read_text(path))
    header = [h.strip() for h in rows[0]]
    _check_header(path, header)
    if target is None:
        target = header[0]
    if target not in header:
        raise DataError(f"{path}: no column named {target!r} in the header")
    body, lines = rows[1:], lines[1:]
    if not body:
        raise DataError(f"{path}: no data rows")
    if len(body) > MAX_ROWS:
        raise DataError(f"{path}: {len(body)} rows; at most {MAX_ROWS} are supported")
    if len(header) - 1 > MAX_FEATURES:
        raise DataError(f"{path}: {len(header) - 1} features; at most {MAX_FEATURES}")
    t = header.index(target)
    values = np.empty((len(body), len(header)))
    names_seen: list[str] = []
    for i, (line, row) in enumerate(zip(lines, body, strict=True)):
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} fields, the header {len(header)}")
        for j, cell in enumerate(row):
            if j == t:
                names_seen.append(cell.strip())
                continue
            try:
                v = _number(cell)
            except ValueError:
                raise DataError(
                    f"{path}: line {line}, column {header[j]!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise DataError(
                    f"{path}: line {line}, column {header[j]!r}: {cell!r} is not finite"
                )
            values[i, j] = v
    class_names = _class_column(path, target, names_seen, lines, values[:, t])
    labels = values[:, t]
    classes = tuple(float(c) for c in np.unique(labels))
    if len(classes) < 2:
        raise DataError(f"{path}: column {target!r} holds a single class; need at least 2")
    if len(classes) > MAX_CLASSES:
        raise DataError(f"{path}: column {target!r} holds {len(classes)} classes; at most 10")
    features = np.delete(values, t, axis=1)
    if features.shape[1] == 0:
        raise DataError(f"{path}: no feature columns besides {target!r}")
    names = tuple(h for j, h in enumerate(header) if j != t)
    check_normalisable(str(path), names, features)
    return Dataset(features, labels, names, target, classes, path.name, class_names)


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (with or without a byte-order mark) and no NUL bytes."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    if "\x00" in text:
        raise DataError(f"{path}: not a text file (it holds NUL bytes)")
    return text


# Any of the three line endings ends a line: "\r\n" (Windows), "\n", "\r" (old Mac).
_LINE_END = re.compile(r"\r\n?|\n")


def _read_rows(path: Path, text: str) -> tuple[list[list[str]], list[int]]:
    """The non-blank rows (the header first), without trailing empty columns, and the line
    each starts on (a quoted line break makes a row span lines)."""
    first = _LINE_END.split(text.lstrip(), maxsplit=1)[0]
    # A spreadsheet set to a European locale saves "a;b;c" with decimal commas ("5,1").
    semicolons = ";" in first and "," not in first
    # newline="" hands the csv module the file's own line endings, as its documentation asks:
    # it then ends a row at "\r", "\n" or "\r\n" alike and keeps a line break inside quotes.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";" if semicolons else ",")
    rows: list[list[str]] = []
    lines: list[int] = []
    read = 0  # lines read before the current row
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append(row)
                lines.append(read + 1)
            read = reader.line_num
    except csv.Error as exc:
        raise DataError(_csv_problem(path, read + 1, exc)) from None
    if not rows:
        raise DataError(f"{path}: the file is empty")
    if semicolons:
        rows = [rows[0]] + [[c.replace(",", ".") for c in r] for r in rows[1:]]
    return _drop_empty_columns(rows), lines


def _csv_problem(path: Path, line: int, exc: csv.Error) -> str:
    """One line for what the csv module refused in the row starting at `line`."""
    if "field limit" in str(exc):
        # No number or class name is this long: the file is not the table it claims to be.
        return (
            f"{path}: line {line} holds a field over {csv.field_size_limit():,} characters, "
            "more than a CSV field can hold here"
        )
    return f"{path}: line {line}: not readable as CSV ({exc})"


def _check_header(path: Path, header: list[str]) -> None:
    """Column names: present, distinct, and text a spreadsheet file can store."""
    if "" in header:
        raise DataError(f"{path}: column {header.index('') + 1} of the header has no name")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: the header repeats a column name")
    for k, name in enumerate(header, start=1):
        bad = next((ch for ch in name if not _xml_char(ch)), None)
        if bad is not None:
            raise DataError(
                f"{path}: column {k} of the header, {name!r}, holds {_describe(bad)}; a column "
                "name must be text a spreadsheet file can store"
            )


MAX_CLASS_NAME = 64  # a header wider than this would not fit a column (Excel's: 255 digits)
# Text a spreadsheet file stores escaped (_x0041_) or shows as an error value: a class name
# like these would not read back as written.
_ESCAPE_LIKE = re.compile(r"_x[0-9A-Fa-f]{4}_")
_ERROR_VALUES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A",
                 "#GETTING_DATA", "#SPILL!", "#CALC!")  # fmt: skip


def _class_name_problem(name: str) -> str | None:
    """Why a class name cannot be shown and read back whole, or None."""
    if len(name) > MAX_CLASS_NAME:
        return f"is {len(name)} characters long; a class name has at most {MAX_CLASS_NAME}"
    if _ESCAPE_LIKE.search(name):
        return "holds _xHHHH_, which an .xlsx file reads as an escaped character"
    if name.strip().upper() in _ERROR_VALUES:
        return "is a spreadsheet error value; name the class otherwise"
    return None


def _xml_char(ch: str) -> bool:
    """Whether XML 1.0 (the text of an .xlsx) can hold `ch`: tab, line breaks and the
    printable range; not the other C0 controls, U+FFFE, U+FFFF or lone surrogates."""
    c = ord(ch)
    return (
        c in (0x9, 0xA, 0xD)
        or 0x20 <= c <= 0xD7FF
        or 0xE000 <= c <= 0xFFFD
        or 0x10000 <= c <= 0x10FFFF
    )


def _control_char(ch: str) -> bool:
    """A C0 or C1 control (tab and line breaks included, DEL too) or what XML cannot hold:
    a class name is shown through a number format, where none of these can stand."""
    return unicodedata.category(ch) == "Cc" or not _xml_char(ch)


def _describe(ch: str) -> str:
    """The code point and what it is ("U+000A, a control character"): a repr may hide it."""
    what = "a control character" if unicodedata.category(ch) == "Cc" else "not storable in XML"
    return f"U+{ord(ch):04X}, {what}"


# A spreadsheet normalises each feature as AVERAGE, STDEV.P and (x - mean) / std, each a double.
# The smallest normal double: a variance below it has lost its precision to underflow (the
# squares of deviations under ~1e-154 are subnormal or 0), and its square root is no std.
_TINY = float(np.finfo(float).tiny)


# What can be wrong with a feature column, as the phrase after "column 'x'" ({where}: which
# part of the data was checked). Keys are what normalisation_problem returns.
NORMALISATION_PROBLEMS = {
    "constant": "is constant{where}; it cannot be normalised",
    "overflow": "holds values{where} too large for a spreadsheet's doubles (the mean or std "
    "overflows); rescale it",
    "underflow": "holds values{where} too close together for a spreadsheet's doubles (the std "
    "underflows to 0 or loses its precision); rescale it",
    "z-score": "holds values too far from the training mean for a spreadsheet's doubles "
    "(a z-score overflows)",
}


def normalisation_problem(
    train: np.ndarray, test: np.ndarray | None = None
) -> tuple[int, str] | None:
    """The first feature column a spreadsheet could not z-score and what is wrong with it
    (a key of NORMALISATION_PROBLEMS); None when every column is fine. `test` (held-out
    rows) is normalised with `train`'s mean and std, as the Test sheet does."""
    # Overflow and underflow are what is being measured here: NumPy's warnings would be noise.
    with np.errstate(all="ignore"):
        mean = train.mean(axis=0)
        dev = train - mean
        var = np.square(dev).mean(axis=0)
        std = np.sqrt(var)
        # Every partial sum of AVERAGE, in whatever order a program adds, is at most the sum
        # of |x|, and a one-pass STDEV.P sums x^2: both finite, neither mean nor std overflows.
        sums = np.abs(train).sum(axis=0) + np.square(train).sum(axis=0)
        overflow = ~np.isfinite(sums + var)
        # Given a normal variance, |z| <= sqrt(N) on the training rows; held-out ones can lie
        # anywhere.
        wild = ~np.isfinite(dev / std).all(axis=0)
        if test is not None and len(test):
            wild |= ~np.isfinite((test - mean) / std).all(axis=0)
        constant = np.ptp(train, axis=0) == 0
    for j in range(train.shape[1]):
        if constant[j]:
            return j, "constant"
        if overflow[j]:
            return j, "overflow"
        if var[j] < _TINY:
            return j, "underflow"
        if wild[j]:
            return j, "z-score"
    return None


def check_normalisable(
    source: str,
    names: tuple[str, ...],
    train: np.ndarray,
    test: np.ndarray | None = None,
    where: str = "",
) -> None:
    """Raise DataError naming `source` and the column if a spreadsheet cannot z-score one;
    `where` says which part of the data was checked (" in the training part")."""
    found = normalisation_problem(train, test)
    if found is not None:
        j, kind = found
        problem = NORMALISATION_PROBLEMS[kind].format(where=where)
        raise DataError(f"{source}: column {names[j]!r} {problem}")


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I)


def _number(cell: str) -> float:
    """A decimal number as a spreadsheet reads it: not Python's extras like "1_000"."""
    text = cell.strip()
    if not _NUMBER.fullmatch(text):
        raise ValueError(text)
    return float(text)


def _drop_empty_columns(rows: list[list[str]]) -> list[list[str]]:
    """Drop trailing columns blank in the header and every row (a spreadsheet's "a,b," export)."""
    width = max(len(r) for r in rows)
    while width > 0 and all(len(r) < width or not r[width - 1].strip() for r in rows):
        width -= 1
    return [r[:width] for r in rows]


def _class_column(
    path: Path, target: str, cells: list[str], lines: list[int], out: np.ndarray
) -> tuple[str, ...] | None:
    """Fill `out` with the class column as numbers: its values if all are finite numbers,
    else codes 1..K of the text classes in sorted order (returned as their names)."""
    if any(c == "" for c in cells):
        line = lines[cells.index("")]
        raise DataError(f"{path}: line {line}, column {target!r}: the class is empty")
    try:
        numbers = [_number(c) for c in cells]
    except ValueError:
        numbers = []
    if numbers and all(math.isfinite(v) for v in numbers):
        out[:] = numbers
        return None
    names = sorted(set(cells))
    if len(names) > MAX_CLASSES:
        raise DataError(f"{path}: column {target!r} holds {len(names)} classes; at most 10")
    for i, name in enumerate(cells):
        bad = next((ch for ch in name if _control_char(ch)), None)
        if bad is not None:
            raise DataError(
                f"{path}: line {lines[i]}, column {target!r}: the class {name!r} holds "
                f"{_describe(bad)}; a class name must be printable text"
            )
        problem = _class_name_problem(name)
        if problem is not None:
            raise DataError(f"{path}: line {lines[i]}, column {target!r}: the class {name!r} "
                            f"{problem}")  # fmt: skip
    code = {name: k + 1.0 for k, name in enumerate(names)}
    out[:] = [code[c] for c in cells]
    return tuple(names)
