"""Reading .xlsx files (openpyxl lives behind this module): formulas, values and names."""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import openpyxl.xml
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.formula import ArrayFormula

from . import a1


class BookError(ValueError):
    """A file that is not an .xlsx workbook xlnet can read."""


# Bounds checked before anything is parsed. The largest workbook xlnet writes (1000 epochs of
# mlp H=8) unpacks to ~1.1 GB at a ratio of ~12; XML rarely compresses beyond 100-fold.
MAX_UNPACKED_BYTES = 4_000_000_000
MAX_RATIO = 200
MAX_CELLS = 20_000_000
# The evaluator holds each sheet as a dense grid (~21 bytes a cell): a sheet whose cells or
# references span more than this many (rows x columns of its extent) is refused, not computed.
MAX_GRID_CELLS = 32_000_000
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")  # encrypted OOXML and legacy .xls are OLE2 files

# openpyxl parses with defusedxml when it is installed (a dependency of xlnet): no entity
# expansion ("billion laughs"), no external entities.
if not openpyxl.xml.DEFUSEDXML:
    raise ImportError("xlnet needs defusedxml for openpyxl (pip install defusedxml)")


@dataclass
class Sheet:
    name: str
    values: dict[tuple[int, int], object] = field(default_factory=dict)  # entered values
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # "=..." per cell
    arrays: dict[tuple[int, int], tuple[str, int, int]] = field(default_factory=dict)
    # arrays: top-left -> (formula, rows, cols) of a legacy (CSE) array formula
    names: dict[str, str] = field(default_factory=dict)
    # names: this sheet's own defined names (localSheetId), upper case -> formula text; inside
    # this sheet they win over the workbook's names of the same spelling, as in Excel


@dataclass
class Book:
    path: Path
    sheets: dict[str, Sheet]
    names: dict[str, str]  # defined name (upper case) -> its formula text, e.g. "Settings!$B$6"

    def sheet(self, name: str) -> Sheet:
        for s in self.sheets.values():
            if s.name.upper() == name.upper():
                return s
        raise BookError(f"{self.path}: no sheet named {name!r}")


def check_archive(path: Path) -> None:
    """Refuse, before any XML is parsed, what is not an .xlsx or would unpack too large."""
    if not path.exists():
        raise BookError(f"{path}: no such file")
    if path.is_dir():
        raise BookError(f"{path}: is a folder, not an .xlsx file")
    with path.open("rb") as f:
        magic = f.read(8)
    if magic.startswith(_OLE2):
        raise BookError(
            f"{path}: an encrypted (password-protected) workbook or a legacy .xls file; "
            "save it as an unencrypted .xlsx"
        )
    if not zipfile.is_zipfile(path):
        raise BookError(f"{path}: not an .xlsx file (not a zip archive)")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            if "mimetype" in names and b"opendocument" in z.read("mimetype"):
                raise BookError(f"{path}: an OpenDocument (.ods) file; save it as .xlsx")
    except zipfile.BadZipFile as exc:
        raise BookError(f"{path}: not an .xlsx file ({exc})") from None
    if "xl/workbook.xml" not in names:
        raise BookError(f"{path}: a zip archive but not an .xlsx workbook (no xl/workbook.xml)")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES:
        raise BookError(
            f"{path}: unpacks to {total / 1e9:.1f} GB; at most {MAX_UNPACKED_BYTES / 1e9:.0f} GB "
            "are read"
        )
    for i in infos:
        if i.file_size > 50_000_000 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise BookError(
                f"{path}: {i.filename} expands {i.file_size // max(i.compress_size, 1)}-fold "
                "(a zip bomb?)"
            )


def _open(path: Path, data_only: bool):
    check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BookError(f"{path}: cannot read as .xlsx ({exc})") from None


def read_book(path: str | Path) -> Book:
    """Every sheet's entered values and formulas, and the workbook's defined names."""
    path = Path(path)
    wb = _open(path, data_only=False)
    try:
        budget = [MAX_CELLS]
        return Book(
            path, {ws.title: _read_sheet(ws, budget, path) for ws in wb.worksheets}, _names(wb)
        )
    except BookError:
        raise
    except Exception as exc:  # sheets are parsed lazily: broken XML surfaces only here
        raise BookError(f"{path}: cannot read as .xlsx ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()


def _read_sheet(ws, budget: list[int], path: Path) -> Sheet:
    sheet = Sheet(ws.title)
    for row in ws.iter_rows():
        for c in row:
            v = c.value
            if v is None or not hasattr(c, "row"):
                continue
            budget[0] -= 1
            if budget[0] < 0:
                raise BookError(
                    f"{path}: more than {MAX_CELLS:,} cells; xlnet reads at most that many"
                )
            rc = (c.row - 1, c.column - 1)
            if isinstance(v, ArrayFormula):
                (r0, c0), (r1, c1) = _bounds(v.ref)
                sheet.arrays[rc] = (v.text, r1 - r0 + 1, c1 - c0 + 1)
            elif c.data_type == "f" and isinstance(v, str) and len(v) > 1:
                sheet.formulas[rc] = v
            else:
                sheet.values[rc] = v  # text that merely starts with "=" stays text
    # Cells covered by an array formula hold cached values only: drop them.
    for (r0, c0), (_, nr, nc) in sheet.arrays.items():
        for r in range(r0, r0 + nr):
            for c in range(c0, c0 + nc):
                sheet.values.pop((r, c), None)
    return sheet


def _names(wb) -> dict[str, str]:
    return {name.upper(): dn.attr_text for name, dn in wb.defined_names.items() if dn.attr_text}


def read_cached(path: str | Path) -> dict[str, dict[tuple[int, int], object]]:
    """The values a file holds as saved (after LibreOffice recalculated it, say)."""
    path = Path(path)
    wb = _open(path, data_only=True)
    try:
        out: dict[str, dict[tuple[int, int], object]] = {}
        for ws in wb.worksheets:
            cells: dict[tuple[int, int], object] = {}
            for row in ws.iter_rows():
                for c in row:
                    if c.value is not None and hasattr(c, "row"):
                        cells[(c.row - 1, c.column - 1)] = c.value
            out[ws.title] = cells
        return out
    except Exception as exc:
        raise BookError(f"{path}: cannot read as .xlsx ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()


def _bounds(ref: str) -> tuple[tuple[int, int], tuple[int, int]]:
    parts = ref.replace("$", "").split(":")
    start = a1.parse_cell(parts[0])
    return start, a1.parse_cell(parts[-1])
