"""The annotated copy: a submission's zip parts copied byte for byte, but for the fills over
graded blocks (styles and worksheet parts) and the notes (comments, VML, rels, content types)."""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from .. import a1
from ..outfile import atomic_write
from .marks import Mark

WRONG_FILL = "FFFBE3E3"  # light enough that the values stay readable
RIGHT_FILL = "FFE8F4E1"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
_CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
# CT_Worksheet's elements that come after legacyDrawing: it goes before the first of them
_AFTER_LEGACY = (
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
)


def _sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> worksheet part, from the workbook part and its rels."""
    wb = z.read("xl/workbook.xml").decode("utf-8")
    rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = {}
    for m in re.finditer(r"<Relationship\b[^>]*>", rels):
        rid, target = _attr(m.group(0), "Id"), _attr(m.group(0), "Target")
        if rid and target:
            full = target.lstrip("/") if target.startswith("/") else "xl/" + target
            targets[rid] = posixpath.normpath(full)
    out = {}
    for m in re.finditer(r"<(?:\w+:)?sheet\b[^>]*>", wb):
        rid = re.search(r'\br?:?id="([^"]*)"', m.group(0).replace("sheetId", ""))
        name = _attr(m.group(0), "name")
        if rid and name is not None and rid.group(1) in targets:
            out[_unescape(name)] = targets[rid.group(1)]
    return out


def _attr(tag: str, name: str) -> str | None:
    m = re.search(rf'\s{name}="([^"]*)"', tag)
    return m.group(1) if m else None


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
        ref = _attr(tag, "r")
        if ref is None:
            return tag
        rgb = fills.get(a1.parse_cell(ref))
        if rgb is None:
            return tag
        held.add(a1.parse_cell(ref))
        s = int(_attr(tag, "s") or 0)
        new = styles.marked(s, rgb)
        if _attr(tag, "s") is not None:
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
        r = int(_attr(head.group(0), "r") or 0) - 1
        new_rows(r)
        if pending and pending[0] == r:
            pending.pop(0)
            cells = re.findall(r"<c\b[^>]*/>|<c\b[^>]*>.*?</c>", row, re.S)
            keyed = [(a1.parse_cell(_attr(c, "r") or "A1")[1], c) for c in cells] + blank[r]
            merged = "".join(c for _, c in sorted(keyed, key=lambda kc: kc[0]))
            tag = head.group(0)[:-2] + ">" if head.group(1) else head.group(0)
            tag = re.sub(r'\sspans="[^"]*"', "", tag)  # the row now spans other columns
            row = tag + merged + "</row>"
        out.append(row)
    new_rows(1 << 30)
    return xml[: data.start(1)] + "".join(out) + xml[data.end(1) :]


def _comments(notes: list[tuple[tuple[int, int], str]]) -> str:
    body = "".join(
        f'<comment ref="{a1.cell(r, c)}" authorId="0"><text><r><rPr><sz val="8"/><color '
        f'indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr><t xml:space="preserve">'
        f"{escape(text)}</t></r></text></comment>"
        for (r, c), text in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<comments xmlns='
        '"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><authors><author>xlnet'
        f"</author></authors><commentList>{body}</commentList></comments>"
    )


def _vml(notes: list[tuple[tuple[int, int], str]], idmap: int) -> str:
    shapes = "".join(
        f'<v:shape id="_x0000_s{idmap * 1024 + k + 1}" type="#_x0000_t202" style="position:'
        "absolute;margin-left:59.25pt;margin-top:1.5pt;width:180pt;height:90pt;z-index:"
        f'{k + 1};visibility:hidden" fillcolor="#ffffe1" o:insetmode="auto"><v:fill '
        'color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype='
        '"none"/><v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div>'
        '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{c + 1}, 15, {max(r - 1, 0)}, 10, {c + 4}, 15, {r + 5}, 4</x:Anchor>"
        f"<x:AutoFill>False</x:AutoFill><x:Row>{r}</x:Row><x:Column>{c}</x:Column>"
        "</x:ClientData></v:shape>"
        for k, ((r, c), _) in enumerate(notes)
    )
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:'
        'office:office" xmlns:x="urn:schemas-microsoft-com:office:excel"><o:shapelayout '
        f'v:ext="edit"><o:idmap v:ext="edit" data="{idmap}"/></o:shapelayout><v:shapetype '
        'id="_x0000_t202" coordsize="21600,21600" o:spt="202" path="m,l,21600r21600,l21600,'
        'xe"><v:stroke joinstyle="miter"/><v:path gradientshapeok="t" o:connecttype="rect"/>'
        f"</v:shapetype>{shapes}</xml>"
    )


def _rels_path(part: str) -> str:
    folder, name = posixpath.split(part)
    return f"{folder}/_rels/{name}.rels"


def _free(names: set[str], pattern: str) -> str:
    k = 1
    while pattern.format(k) in names:
        k += 1
    return pattern.format(k)


def write_annotated(src: Path, out: Path, marks: dict[str, list[Mark]]) -> None:
    """Write `src` with `marks` to `out` (atomically); `src` is only read."""
    with zipfile.ZipFile(src) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
        infos = z.infolist()
        sheets = _sheet_parts(z)
    changed: dict[str, bytes] = {}
    styles = _Styles(parts["xl/styles.xml"].decode("utf-8"))
    ct = parts["[Content_Types].xml"].decode("utf-8")
    for idmap, (name, sheet_marks) in enumerate(marks.items(), start=1):
        part = sheets.get(name)
        if part is None or part not in parts:
            continue
        fills = {}
        for m in sheet_marks:
            rgb = RIGHT_FILL if m.correct else WRONG_FILL
            for _, _, r, c in m.block.cells():
                fills[(r, c)] = rgb
        xml = _fill_cells(parts[part].decode("utf-8"), fills, styles)
        notes = [(m.note_cell, m.note) for m in sheet_marks if m.note_cell is not None]
        if notes and "<legacyDrawing " not in xml:
            # A sheet that has notes of its own keeps them, and gets only the fills.
            xml, ct = _add_notes(xml, part, notes, idmap, parts, changed, ct)
        changed[part] = xml.encode("utf-8")
    changed["xl/styles.xml"] = styles.text().encode("utf-8")
    changed["[Content_Types].xml"] = ct.encode("utf-8")

    def write(tmp: str) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zo:
            for info in infos:
                data = changed.pop(info.filename, parts[info.filename])
                zo.writestr(info, data, compress_type=info.compress_type)
            for name, data in changed.items():
                zo.writestr(name, data)

    atomic_write(out, write)


def _add_notes(xml, part, notes, idmap, parts, changed, ct):
    names = set(parts) | set(changed)
    comments = _free(names, "xl/comments{}.xml")
    vml = _free(names, "xl/drawings/vmlDrawing{}.vml")
    changed[comments] = _comments(notes).encode("utf-8")
    changed[vml] = _vml(notes, idmap).encode("utf-8")
    rels_part = _rels_path(part)
    rels = parts.get(rels_part, b"").decode("utf-8") or (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
        '"http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>'
    )
    used = set(re.findall(r'\sId="([^"]*)"', rels))
    rid_c, rid_v = _free(used, "rIdx{}"), ""
    used.add(rid_c)
    rid_v = _free(used, "rIdx{}")
    here = posixpath.dirname(part)
    rels = rels.replace(
        "</Relationships>",
        f'<Relationship Id="{rid_v}" Type="{_REL_NS}/vmlDrawing" Target='
        f"{quoteattr(posixpath.relpath(vml, here))}/>"
        f'<Relationship Id="{rid_c}" Type="{_REL_NS}/comments" Target='
        f"{quoteattr(posixpath.relpath(comments, here))}/></Relationships>",
    )
    changed[rels_part] = rels.encode("utf-8")
    root = re.search(r"<worksheet\b[^>]*>", xml)
    if root and f'xmlns:r="{_REL_NS}"' not in root.group(0):
        xml = xml.replace(root.group(0), root.group(0)[:-1] + f' xmlns:r="{_REL_NS}">', 1)
    tag = f'<legacyDrawing r:id="{rid_v}"/>'
    after = re.search(r"<(?:" + "|".join(_AFTER_LEGACY) + r")\b", xml)
    at = after.start() if after else xml.rindex("</worksheet>")
    xml = xml[:at] + tag + xml[at:]
    if 'Extension="vml"' not in ct:
        ct = ct.replace("</Types>", f'<Default Extension="vml" ContentType="{_CT_VML}"/></Types>')
    ct = ct.replace(
        "</Types>", f'<Override PartName="/{comments}" ContentType="{_CT_COMMENTS}"/></Types>'
    )
    return xml, ct
