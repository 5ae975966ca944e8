"""Reading .xlsx files as Excel and LibreOffice read them: sheets, names, values and formulas.

The package's parts are found through its relationships, every XML part is parsed in full (a
broken one is refused, as Excel refuses it), and each worksheet is streamed by sheetxml. Only
entered values and formulas are inputs; cached values are read on request (`read_cached`).
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import XlnetError
from .sheetxml import MAX_GRID_CELLS, Cells, read_sheet
from .xmlstream import CHUNK, PartError, feed, parser, read_strings

__all__ = ["MAX_GRID_CELLS", "Book", "BookError", "Sheet", "read_book", "read_cached"]


class BookError(XlnetError, ValueError):
    """A file that is not an .xlsx workbook xlnet can read."""


# Bounds checked before anything is parsed. The largest workbook xlnet writes (1000 epochs of
# mlp H=8) unpacks to ~1.1 GB at a ratio of ~12; XML rarely compresses beyond 100-fold.
MAX_UNPACKED_BYTES = 4_000_000_000
MAX_RATIO = 200
MAX_CELLS = 20_000_000
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")  # encrypted OOXML and legacy .xls are OLE2 files

_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STRICT_REL = "http://purl.oclc.org/ooxml/officeDocument/relationships"


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
    names: dict[str, str]  # workbook-level defined name (upper case) -> its formula text

    def sheet(self, name: str) -> Sheet:
        for s in self.sheets.values():
            if s.name.upper() == name.upper():
                return s
        raise BookError(f"{self.path}: no sheet named {name!r}")


def check_archive(path: Path) -> None:
    """Refuse, before any XML is parsed, what is not an .xlsx or would unpack too large."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise BookError(f"{path}: no such file") from None
    except OSError as exc:
        raise BookError(f"{path}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise BookError(f"{path}: is a folder, not an .xlsx file")
    if not stat.S_ISREG(mode):
        # A FIFO blocks a reader forever and a device never ends: regular files only.
        raise BookError(f"{path}: is not a regular file (a pipe, socket or device)")
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
            names = [i.filename for i in infos]
            if "mimetype" in names and b"opendocument" in z.read("mimetype"):
                raise BookError(f"{path}: an OpenDocument (.ods) file; save it as .xlsx")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise BookError(f"{path}: not an .xlsx file ({exc})") from None
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise BookError(f"{path}: the archive holds {twice} twice; which copy counts is ambiguous")
    if "xl/workbook.xml" not in names and "_rels/.rels" not in names:
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


class _Package:
    """The zip archive: parts by name, each read in chunks; every error is a BookError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())

    def chunks(self, part: str) -> Iterator[bytes]:
        with self.zip.open(part) as f:
            while chunk := f.read(CHUNK):
                yield chunk

    def parse(self, part: str, what, *args, label: str = ""):
        """Run a sheetxml reader over a part; any failure names the file and the part (or
        `label`, a sheet's name)."""
        label = label or part
        chunks = self.chunks(part)
        try:
            return what(chunks, *args)
        except PartError as exc:
            prefix = "cannot read " if exc.broken else ""
            raise BookError(f"{self.path}: {prefix}{label}: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise BookError(f"{self.path}: cannot read {label}: not unpacked ({exc})") from None
        finally:
            chunks.close()  # an error inside a part leaves its stream open otherwise

    def elements(self, part: str, wanted: set[str]) -> list[tuple[str, dict[str, str], str]]:
        """(local name, attributes, text) of the wanted elements of a small part."""
        found: list[tuple[str, dict[str, str], str]] = []
        open_: list[tuple[int, list[str]]] = []  # (index in found, text) of open elements

        def start(name: str, attrs: dict[str, str]) -> None:
            local = name.rpartition(" ")[2]
            if local in wanted:
                open_.append((len(found), []))
                found.append((local, attrs, ""))

        def text(data: str) -> None:
            if open_:
                open_[-1][1].append(data)

        def end(name: str) -> None:
            if open_ and name.rpartition(" ")[2] in wanted:
                i, pieces = open_.pop()
                found[i] = (found[i][0], found[i][1], "".join(pieces))

        self.parse(part, lambda chunks: feed(parser(start, end, text), chunks))
        return found

    def relations(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type's last word, target part) of a part's .rels."""
        folder = PurePosixPath(part).parent
        rels = str(folder / "_rels" / (PurePosixPath(part).name + ".rels"))
        if rels not in self.names:
            return {}
        out = {}
        for _, attrs, _ in self.elements(rels, {"Relationship"}):
            if attrs.get("TargetMode") == "External" or "Id" not in attrs:
                continue
            target = attrs.get("Target", "")
            full = target.lstrip("/") if target.startswith("/") else str(folder / target)
            out[attrs["Id"]] = (attrs.get("Type", "").rsplit("/", 1)[-1], _normal(full))
        return out


def _normal(part: str) -> str:
    """'xl/worksheets/../sharedStrings.xml' -> 'xl/sharedStrings.xml'."""
    out: list[str] = []
    for piece in part.split("/"):
        if piece == "..":
            if out:
                out.pop()
        elif piece not in ("", "."):
            out.append(piece)
    return "/".join(out)


def _workbook_part(pkg: _Package) -> str:
    for kind, target in pkg.relations("").values():
        if kind == "officeDocument" and target in pkg.names:
            return target
    if "xl/workbook.xml" in pkg.names:
        return "xl/workbook.xml"
    raise BookError(f"{pkg.path}: a zip archive but not an .xlsx workbook (no workbook part)")


def _read(
    path: str | Path, cached: bool, require: tuple[str, ...] = ()
) -> tuple[Book, dict[str, Cells]]:
    path = Path(path)
    check_archive(path)
    try:
        pkg = _Package(path)
    except (zipfile.BadZipFile, zlib.error, OSError) as exc:
        raise BookError(f"{path}: cannot read as .xlsx ({exc})") from None
    with pkg.zip:
        part = _workbook_part(pkg)
        rels = pkg.relations(part)
        listed = pkg.elements(part, {"sheet", "definedName"})
        sheet_parts: list[tuple[str, str]] = []  # (name, part) of every sheet, in order
        for local, attrs, _ in listed:
            if local == "sheet":
                rid = attrs.get(f"{_REL} id") or attrs.get(f"{_STRICT_REL} id") or ""
                kind, target = rels.get(rid, ("", ""))
                name = attrs.get("name", "")
                if not name or any(name.upper() == n.upper() for n, _ in sheet_parts):
                    raise BookError(f"{path}: two sheets are named {name!r}, or one is unnamed")
                sheet_parts.append((name, target if kind == "worksheet" else ""))
        for name in require:  # refused before a million rows of another sheet are read
            if not any(name.upper() == n.upper() for n, p in sheet_parts if p):
                raise BookError(f"{path}: no sheet named {name!r}")
        for name in sorted(pkg.names):
            # Every XML part is parsed, so a broken one is refused as Excel refuses it; the
            # worksheets are parsed below, for their cells.
            if name.endswith((".xml", ".rels", ".vml")) and name not in {p for _, p in sheet_parts}:
                pkg.parse(name, lambda chunks: feed(parser(lambda *_: None), chunks))
        strings: list[str] = []
        for kind, target in rels.values():
            if kind == "sharedStrings" and target in pkg.names:
                strings = pkg.parse(target, read_strings)
        budget = [MAX_CELLS]
        sheets: dict[str, Sheet] = {}
        cells: dict[str, Cells] = {}
        for name, target in sheet_parts:
            if not target:
                continue  # a chart sheet or a dialog sheet: no cells
            if target not in pkg.names:
                raise BookError(f"{path}: sheet {name!r} has no part {target} in the archive")
            got = pkg.parse(target, read_sheet, strings, budget, cached, label=f"sheet {name!r}")
            sheets[name] = Sheet(name, got.values, got.formulas, got.arrays)
            cells[name] = got
        book = Book(path, sheets, {})
        _names(book, [(a, t) for k, a, t in listed if k == "definedName"], sheet_parts)
    return book, cells


def _names(book: Book, entries, sheet_parts: list[tuple[str, str]]) -> None:
    """Workbook names into book.names, sheet-scoped ones into their sheet's names; a name
    defined twice in one scope is ambiguous and refused."""
    for attrs, text in entries:
        name = attrs.get("name", "").upper()
        if not name:
            continue
        scope = attrs.get("localSheetId")
        if scope is None:
            table = book.names
            where = "the workbook"
        else:
            try:
                sheet_name = sheet_parts[int(scope)][0]
            except (ValueError, IndexError):
                raise BookError(
                    f"{book.path}: defined name {attrs.get('name')} belongs to sheet number "
                    f"{scope}, which the workbook does not have"
                ) from None
            if sheet_name not in book.sheets:
                continue  # scoped to a chart sheet: no formula can use it
            table = book.sheets[sheet_name].names
            where = f"sheet {sheet_name!r}"
        if name in table:
            raise BookError(
                f"{book.path}: {where} defines the name {attrs.get('name')} twice; "
                "which one counts is ambiguous"
            )
        table[name] = text.strip()


def read_book(path: str | Path, require: tuple[str, ...] = ()) -> Book:
    """Every sheet's entered values and formulas, and the workbook's defined names; a file
    without a worksheet named in `require` is refused before any sheet is read."""
    return _read(path, cached=False, require=require)[0]


def read_cached(path: str | Path) -> dict[str, dict[tuple[int, int], object]]:
    """The values a file holds as saved (after LibreOffice recalculated it, say): entered
    values and the cached values of formula cells."""
    _, cells = _read(path, cached=True)
    return {name: {**c.values, **c.cached} for name, c in cells.items()}
