"""The annotated copy: a submission's zip parts copied byte for byte, but for the fills over
graded blocks (styles and worksheet parts) and the notes (comments, VML, rels, content types)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from .. import a1
from ..outfile import atomic_write
from .marks import Mark
from .notes import Note, Package, Rel, add_notes, attr, parse_rels, rels_path

WRONG_FILL = "FFFBE3E3"  # light enough that the values stay readable
RIGHT_FILL = "FFE8F4E1"


def _parts(z: zipfile.ZipFile) -> tuple[dict[str, str], str]:
    """Sheet name -> worksheet part, and the styles part: found from the package's rels, as
    Excel finds them (the workbook part need not be xl/workbook.xml)."""
    names = set(z.namelist())

    def rels(owner: str) -> list[Rel]:
        path = rels_path(owner)
        return parse_rels(z.read(path).decode("utf-8"), owner) if path in names else []

    book = next((r.target for r in rels("") if r.type.endswith("/officeDocument")), "")
    if book not in names:
        raise ValueError("no workbook part")
    targets = {r.id: r for r in rels(book)}
    styles = next((r.target for r in targets.values() if r.type.endswith("/styles")), "")
    if styles not in names:
        raise ValueError("no styles part")
    out = {}
    for m in re.finditer(r"<(?:\w+:)?sheet\b[^>]*>", z.read(book).decode("utf-8")):
        tag = m.group(0).replace("sheetId", "")
        rid = re.search(r"\s(?:\w+:)?id\s*=\s*([\"'])(.*?)\1", tag)
        name = attr(tag, "name")
        if rid and name is not None and rid.group(2) in targets:
            out[_unescape(name)] = targets[rid.group(2)].target
    return out, styles


def _unescape(s: str) -> str:
    return (
        s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", '"')
        .replace("&apos;", "'")
        .replace("&amp;", "&")
    )


class _Styles:
    """The styles part with new xfs appended: each clones an existing xf with a fill."""

    def __init__(self, xml: str) -> None:
        self.xml = xml
        fills = re.search(r"<fills\b[^>]*>(.*?)</fills>", xml, re.S)
        xfs = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", xml, re.S)
        if not fills or not xfs:
            raise ValueError("styles part without fills or cellXfs")
        self.nfills = len(re.findall(r"<fill\b", fills.group(1)))
        self.xfs = re.findall(r"<xf\b[^>]*/>|<xf\b[^>]*>.*?</xf>", xfs.group(1), re.S)
        self.new_fills: list[str] = []
        self.new_xfs: list[str] = []
        self.fill_ids: dict[str, int] = {}
        self.made: dict[tuple[int, str], int] = {}

    def marked(self, s: int, rgb: str) -> int:
        """The index of an xf like `s` with the fill `rgb`."""
        if (s, rgb) not in self.made:
            if rgb not in self.fill_ids:
                self.fill_ids[rgb] = self.nfills + len(self.new_fills)
                self.new_fills.append(
                    f'<fill><patternFill patternType="solid"><fgColor rgb="{rgb}"/>'
                    '<bgColor indexed="64"/></patternFill></fill>'
                )
            base = self.xfs[s] if s < len(self.xfs) else self.xfs[0]
            head = re.match(r"<xf\b[^>]*?(/?)>", base)
            assert head is not None
            tag = re.sub(
                r'\s(fillId|applyFill)="[^"]*"', "", head.group(0)[: -len(head.group(1)) - 1]
            )
            tag += f' fillId="{self.fill_ids[rgb]}" applyFill="1"' + head.group(1) + ">"
            self.made[(s, rgb)] = len(self.xfs) + len(self.new_xfs)
            self.new_xfs.append(tag + base[len(head.group(0)) :])
        return self.made[(s, rgb)]

    def text(self) -> str:
        xml = re.sub(
            r"(<fills\b[^>]*>)(.*?)(</fills>)",
            lambda m: (
                _count(m.group(1), self.nfills + len(self.new_fills))
                + m.group(2)
                + "".join(self.new_fills)
                + m.group(3)
            ),
            self.xml,
            count=1,
            flags=re.S,
        )
        return re.sub(
            r"(<cellXfs\b[^>]*>)(.*?)(</cellXfs>)",
            lambda m: (
                _count(m.group(1), len(self.xfs) + len(self.new_xfs))
                + m.group(2)
                + "".join(self.new_xfs)
                + m.group(3)
            ),
            xml,
            count=1,
            flags=re.S,
        )


def _count(tag: str, n: int) -> str:
    if ' count="' in tag:
        return re.sub(r'\scount="\d*"', f' count="{n}"', tag)
    return tag[:-1] + f' count="{n}">'


def _fill_cells(xml: str, fills: dict[tuple[int, int], str], styles: _Styles) -> str:
    """The worksheet with the `s=` of every marked cell it holds pointing at a filled xf."""

    held: set[tuple[int, int]] = set()

    def one(m: re.Match) -> str:
        tag = m.group(0)
        ref = attr(tag, "r")
        if ref is None:
            return tag
        rgb = fills.get(a1.parse_cell(ref))
        if rgb is None:
            return tag
        held.add(a1.parse_cell(ref))
        s = int(attr(tag, "s") or 0)
        new = styles.marked(s, rgb)
        if attr(tag, "s") is not None:
            return re.sub(r'\ss="\d*"', f' s="{new}"', tag)
        return tag[:2] + f' s="{new}"' + tag[2:]

    xml = re.sub(r"<c\b[^>]*>", one, xml)
    blank: dict[int, list[tuple[int, str]]] = {}
    for (r, c), rgb in sorted(fills.items()):
        if (r, c) not in held:  # a blank cell: a styled empty cell of its own
            blank.setdefault(r, []).append(
                (c, f'<c r="{a1.cell(r, c)}" s="{styles.marked(0, rgb)}"/>')
            )
    return _insert_blank(xml, blank) if blank else xml


def _insert_blank(xml: str, blank: dict[int, list[tuple[int, str]]]) -> str:
    """`xml` with the empty cells of `blank` (row -> (col, element)) placed in order, in the
    rows that exist and in new rows where none does."""
    xml = re.sub(r"<sheetData\s*/>", "<sheetData></sheetData>", xml, count=1)
    data = re.search(r"<sheetData>(.*)</sheetData>", xml, re.S)
    if data is None:
        return xml
    rows = re.findall(r"<row\b[^>]*/>|<row\b[^>]*>.*?</row>", data.group(1), re.S)
    out = []
    pending = sorted(blank)

    def new_rows(upto: int) -> None:
        while pending and pending[0] < upto:
            r = pending.pop(0)
            out.append(f'<row r="{r + 1}">' + "".join(e for _, e in blank[r]) + "</row>")

    for row in rows:
        head = re.match(r"<row\b[^>]*?(/?)>", row)
        assert head is not None
        r = int(attr(head.group(0), "r") or 0) - 1
        new_rows(r)
        if pending and pending[0] == r:
            pending.pop(0)
            cells = re.findall(r"<c\b[^>]*/>|<c\b[^>]*>.*?</c>", row, re.S)
            keyed = [(a1.parse_cell(attr(c, "r") or "A1")[1], c) for c in cells] + blank[r]
            merged = "".join(c for _, c in sorted(keyed, key=lambda kc: kc[0]))
            tag = head.group(0)[:-2] + ">" if head.group(1) else head.group(0)
            tag = re.sub(r'\sspans="[^"]*"', "", tag)  # the row now spans other columns
            row = tag + merged + "</row>"
        out.append(row)
    new_rows(1 << 30)
    return xml[: data.start(1)] + "".join(out) + xml[data.end(1) :]


def write_annotated(src: Path, out: Path, marks: dict[str, list[Mark]]) -> None:
    """Write `src` with `marks` to `out` (atomically); `src` is only read."""
    with zipfile.ZipFile(src) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
        infos = z.infolist()
        sheets, styles_part = _parts(z)
    changed: dict[str, bytes] = {}
    styles = _Styles(parts[styles_part].decode("utf-8"))
    pkg = Package(parts, changed, parts["[Content_Types].xml"].decode("utf-8"))
    for name, sheet_marks in marks.items():
        part = sheets.get(name)
        if part is None or part not in parts:
            continue
        fills = {}
        for m in sheet_marks:
            rgb = RIGHT_FILL if m.correct else WRONG_FILL
            for _, _, r, c in m.block.cells():
                fills[(r, c)] = rgb
        xml = _fill_cells(parts[part].decode("utf-8"), fills, styles)
        notes = [
            Note(m.note_cell, m.note, tuple((r, c) for _, _, r, c in m.block.cells()))
            for m in sheet_marks
            if m.note_cell is not None
        ]
        if notes:
            xml = add_notes(pkg, part, xml, notes)
        changed[part] = xml.encode("utf-8")
    changed[styles_part] = styles.text().encode("utf-8")
    changed["[Content_Types].xml"] = pkg.ct.encode("utf-8")

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zo:
            for info in infos:
                data = changed.pop(info.filename, parts[info.filename])
                zo.writestr(info, data, compress_type=info.compress_type)
            for name, data in changed.items():
                zo.writestr(name, data)

    atomic_write(out, write)
