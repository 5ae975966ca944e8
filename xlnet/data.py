"""Loading a class-labelled numeric CSV (the wine data by default) into a Dataset."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np

MAX_ROWS = 100_000
MAX_FEATURES = 200
MAX_CLASSES = 10


class DataError(ValueError):
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

    def class_index(self) -> np.ndarray:
        """1-based index of each sample's class, the way MATCH counts."""
        return np.searchsorted(np.asarray(self.classes), self.labels) + 1.0

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
    constant = [
        dataset.feature_names[j] for j in range(train.f) if np.ptp(train.features[:, j]) == 0
    ]
    if constant:
        raise DataError(
            f"column {constant[0]!r} is constant in the training part; it cannot be normalised"
        )
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
    first = text.lstrip().split("\n", 1)[0]
    # A spreadsheet set to a European locale saves "a;b;c" with decimal commas ("5,1").
    semicolons = ";" in first and "," not in first
    reader = csv.reader(io.StringIO(text), delimiter=";" if semicolons else ",")
    rows = [r for r in reader if any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    if semicolons:
        rows = [rows[0]] + [[c.replace(",", ".") for c in r] for r in rows[1:]]
    rows = _drop_empty_columns(rows)
    header = [h.strip() for h in rows[0]]
    if "" in header:
        raise DataError(f"{path}: column {header.index('') + 1} of the header has no name")
    if len(set(header)) != len(header):
        raise DataError(f"{path}: the header repeats a column name")
    if target is None:
        target = header[0]
    if target not in header:
        raise DataError(f"{path}: no column named {target!r} in the header")
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: no data rows")
    if len(body) > MAX_ROWS:
        raise DataError(f"{path}: {len(body)} rows; at most {MAX_ROWS} are supported")
    if len(header) - 1 > MAX_FEATURES:
        raise DataError(f"{path}: {len(header) - 1} features; at most {MAX_FEATURES}")
    t = header.index(target)
    values = np.empty((len(body), len(header)))
    names_seen: list[str] = []
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise DataError(f"{path}: line {i} has {len(row)} fields, the header {len(header)}")
        for j, cell in enumerate(row):
            if j == t:
                names_seen.append(cell.strip())
                continue
            try:
                v = _number(cell)
            except ValueError:
                raise DataError(
                    f"{path}: line {i}, column {header[j]!r}: {cell!r} is not a number"
                ) from None
            if not math.isfinite(v):
                raise DataError(f"{path}: line {i}, column {header[j]!r}: {cell!r} is not finite")
            values[i - 2, j] = v
    class_names = _class_column(path, target, names_seen, values[:, t])
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
    constant = [names[j] for j in range(features.shape[1]) if np.ptp(features[:, j]) == 0]
    if constant:
        raise DataError(f"{path}: column {constant[0]!r} is constant; it cannot be normalised")
    return Dataset(features, labels, names, target, classes, path.name, class_names)


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


def _class_column(path: Path, target: str, cells: list[str], out: np.ndarray):
    """Fill `out` with the class column as numbers: its values if all are finite numbers,
    else codes 1..K of the text classes in sorted order (returned as their names)."""
    if any(c == "" for c in cells):
        line = cells.index("") + 2
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
    code = {name: k + 1.0 for k, name in enumerate(names)}
    out[:] = [code[c] for c in cells]
    return tuple(names)
