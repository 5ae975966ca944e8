"""The notes of an annotated copy: legacy comments (a comments part and the VML shapes that show
them), added to a sheet that has none or merged into the ones it already has."""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .. import a1
from .vml import NEW_VML, idmap, merge_vml

REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
_CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
AUTHOR = "xlnet"
# Where a student's own note (or Excel's "[Threaded comment]" stand-in) already sits on the cell
# our note goes to, ours is appended to that same comment after this line: theirs is never
# lost, ours is seen where the mistake is, and the cell keeps the one comment a cell can have.
SEPARATOR = "\n\n———— xlnet ————\n"
# CT_Worksheet's elements that come after legacyDrawing: it goes before the first of them
_AFTER_LEGACY = (
    "legacyDrawingHF|drawingHF|picture|oleObjects|controls|webPublishItems|tableParts|extLst"
)
_BAD_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SHAPES_PER_BLOCK = 1024  # o:idmap's block b holds shape numbers b*1024 .. b*1024+1023


@dataclass(frozen=True)
class Note:
    cell: tuple[int, int]  # (row, col), 0-based: the block's first wrong cell
    text: str
    block: tuple[tuple[int, int], ...]  # the block's cells: where a note may move to


class Package:
    """The copy's parts as they stand: the submission's, overlaid by `changed`; the content
    types; the VML shape numbers the workbook already uses."""

    def __init__(self, parts: dict[str, bytes], changed: dict[str, bytes], ct: str) -> None:
        self.parts, self.changed, self.ct = parts, changed, ct
        self.used: set[int] = set()
        self.blocks: set[int] = set()
        vmls = {n for n in parts if n.lower().endswith(".vml")}
        for rels in (n for n in parts if n.endswith(".rels")):
            owner = rels.replace("/_rels/", "/").removesuffix(".rels")
            vmls |= {r.target for r in parse_rels(self.text(rels) or "", owner) if r.vml}
        for name in vmls:
            text = self.text(name)
            if text is not None:
                self.used |= {int(n) for n in re.findall(r"_x0000_s(\d+)", text)}
                self.blocks |= set(idmap(text)[1])
        self.blocks |= {n // _SHAPES_PER_BLOCK for n in self.used}

    def text(self, name: str) -> str | None:
        # surrogateescape: bytes we do not understand go back out exactly as they came
        data = self.changed.get(name, self.parts.get(name))
        return None if data is None else data.decode("utf-8", "surrogateescape")

    def put(self, name: str, text: str) -> None:
        self.changed[name] = text.encode("utf-8", "surrogateescape")

    def free_name(self, pattern: str) -> str:
        k = 1
        while pattern.format(k) in self.parts or pattern.format(k) in self.changed:
            k += 1
        return pattern.format(k)

    def shape_numbers(self, blocks: list[int], k: int) -> tuple[list[int], list[int]]:
        """`k` shape numbers no VML part of the workbook uses, inside `blocks` or in new blocks
        no part claims; (the numbers, `blocks` with the new ones)."""
        out: list[int] = []
        blocks = list(blocks)
        i = 0
        while len(out) < k:
            if i == len(blocks):
                b = 1
                while b in self.blocks:
                    b += 1
                self.blocks.add(b)
                blocks.append(b)
            first = blocks[i] * _SHAPES_PER_BLOCK
            # a block's first number is its drawing's own (Excel's first note is 1025)
            for n in range(first + 1, first + _SHAPES_PER_BLOCK):
                if len(out) == k:
                    break
                if n not in self.used:
                    self.used.add(n)
                    out.append(n)
            i += 1
        return out, blocks

    def declare(self, name: str, ctype: str) -> None:
        """Give part `name` its content type unless a Default or an Override already does."""
        if re.search(rf'PartName="/{re.escape(name)}"', self.ct, re.I):
            return
        ext = name.rpartition(".")[2]
        if re.search(rf'<Default\b[^>]*Extension="{re.escape(ext)}"[^>]*>', self.ct, re.I):
            if ext.lower() == "vml":
                return
        elif ext.lower() == "vml":
            self.ct = self.ct.replace(
                "</Types>", f'<Default Extension="vml" ContentType="{ctype}"/></Types>'
            )
            return
        self.ct = self.ct.replace(
            "</Types>", f'<Override PartName="/{name}" ContentType="{ctype}"/></Types>'
        )


@dataclass(frozen=True)
class Rel:
    id: str
    type: str
    target: str  # the part's name in the zip

    @property
    def vml(self) -> bool:
        return self.type.endswith("/vmlDrawing")


def attr(tag: str, name: str) -> str | None:
    """Attribute `name` of an XML start tag, in double or single quotes (both are XML)."""
    m = re.search(rf"\s{re.escape(name)}\s*=\s*([\"'])(.*?)\1", tag, re.S)
    return m.group(2) if m else None


def rels_path(part: str) -> str:
    """The relationships part of `part` ("" for the package's own: _rels/.rels)."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", f"{name}.rels")


def parse_rels(text: str, owner: str) -> list[Rel]:
    """The internal relationships in rels part `text` of part `owner`, targets resolved."""
    out = []
    for m in re.finditer(r"<(?:\w+:)?Relationship\b[^>]*>", text):
        rid, typ, target = (attr(m.group(0), k) for k in ("Id", "Type", "Target"))
        if rid and typ and target and attr(m.group(0), "TargetMode") != "External":
            full = (
                target[1:]
                if target.startswith("/")
                else posixpath.join(posixpath.dirname(owner), target)
            )
            out.append(Rel(rid, typ, posixpath.normpath(full)))
    return out


def _cell(ref: str) -> tuple[int, int] | None:
    try:
        return a1.parse_cell(ref.replace("$", ""))
    except ValueError:
        return None


def add_notes(pkg: Package, part: str, xml: str, notes: list[Note]) -> str:
    """The worksheet `xml` (of `part`) with `notes` added; the comments, VML, rels and content
    types they need are put in `pkg`. The sheet's own comments, shapes and threaded comments
    are all kept."""
    rels = parse_rels(pkg.text(rels_path(part)) or "", part)
    by_id = {r.id: r for r in rels}
    comments = next((r.target for r in rels if r.type.endswith("/comments")), None)
    legacy = re.search(r"<(?:\w+:)?legacyDrawing\b[^>]*>", xml)
    vml = None
    if legacy:
        rid = re.search(r"\s\w+:id\s*=\s*[\"']([^\"']*)", legacy.group(0))
        rel = by_id.get(rid.group(1)) if rid else None
        if rel is None:  # it points nowhere: ours takes its place
            xml = xml[: legacy.start()] + xml[legacy.end() :]
        else:
            vml = rel.target
    threaded: set[tuple[int, int]] = set()
    for r in rels:
        if r.type.endswith("/threadedComment"):
            refs = re.findall(
                r"<(?:\w+:)?threadedComment\b[^>]*?\sref=\"([^\"]+)\"", pkg.text(r.target) or ""
            )
            threaded |= {c for c in map(_cell, refs) if c is not None}

    ctext = (pkg.text(comments) if comments else None) or (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<comments xmlns="{_MAIN_NS}"><authors/><commentList/></comments>'
    )
    theirs = _comment_cells(ctext)
    placed = _place(notes, set(theirs) | threaded, threaded)
    vtext = merge_vml((pkg.text(vml) if vml else None) or NEW_VML, list(placed), pkg.shape_numbers)
    if vtext is None:  # a VML part we cannot add to: notes without shapes would not show
        return xml
    if comments is None:
        comments = pkg.free_name("xl/comments{}.xml")
        _add_rel(pkg, part, "comments", comments)
    if vml is None:
        vml = pkg.free_name("xl/drawings/vmlDrawing{}.vml")
        xml = _with_legacy_drawing(xml, _add_rel(pkg, part, "vmlDrawing", vml))
    pkg.put(comments, _merge_comments(ctext, placed))
    pkg.put(vml, vtext)
    pkg.declare(comments, _CT_COMMENTS)
    pkg.declare(vml, _CT_VML)
    return xml


def _place(
    notes: list[Note], taken: set[tuple[int, int]], threaded: set[tuple[int, int]]
) -> dict[tuple[int, int], str]:
    """Cell -> the text of our comment there. A note bound for a cell with a threaded comment
    moves to the next cell of its block holding no comment at all: Excel 365 shows the thread
    on that cell, not the legacy comment, so text appended there would be seen only by older
    Excel and LibreOffice (and the threaded part stays as it was). A block with no free cell
    left keeps the note on its first wrong cell, appended to the "[Threaded comment]" stand-in."""
    placed: dict[tuple[int, int], str] = {}
    for n in notes:
        cell, text = n.cell, n.text
        if cell in threaded:
            i = n.block.index(cell) if cell in n.block else 0
            order = n.block[i:] + n.block[:i]
            free = next((c for c in order if c not in taken and c not in placed), None)
            if free is not None:
                text += f"\n(the first wrong cell, {a1.cell(*cell)}, holds a threaded comment)"
                cell = free
        placed[cell] = placed[cell] + "\n\n" + text if cell in placed else text
    return placed


def _comment_cells(text: str) -> dict[tuple[int, int], int]:
    """Cell -> where its <comment> starts in the comments part."""
    p = _prefix(text, "comments")
    out = {}
    for m in re.finditer(rf"<{p}comment\b[^>]*>", text):
        cell = _cell(attr(m.group(0), "ref") or "")
        if cell is not None and cell not in out:
            out[cell] = m.start()
    return out


def _prefix(text: str, root: str) -> str:
    m = re.search(rf"<(\w+:)?{root}\b", text)
    return m.group(1) or "" if m else ""


def _run(p: str, text: str) -> str:
    text = _BAD_XML_CHARS.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return (
        f'<{p}r><{p}rPr><{p}sz val="8"/><{p}color indexed="81"/><{p}rFont val="Tahoma"/>'
        f'<{p}family val="2"/></{p}rPr><{p}t xml:space="preserve">{escape(text)}</{p}t></{p}r>'
    )


def _merge_comments(text: str, placed: dict[tuple[int, int], str]) -> str:
    """The comments part with our author and comments: a new <comment> on a cell without one,
    our text appended (after SEPARATOR) to the comment a cell already has."""
    p = _prefix(text, "comments")
    text, author = _author(text, p)
    theirs = _comment_cells(text)
    new = []
    for cell, note in placed.items():
        if cell in theirs:
            continue
        new.append(
            f'<{p}comment ref="{a1.cell(*cell)}" authorId="{author}" shapeId="0"><{p}text>'
            f"{_run(p, note)}</{p}text></{p}comment>"
        )
    # appended from the last comment up, so that the earlier starts stay where they were
    for cell in sorted((c for c in placed if c in theirs), key=lambda c: -theirs[c]):
        text = _append_run(text, theirs[cell], _run(p, SEPARATOR + placed[cell]), p)
    if not new:
        return text
    text = re.sub(rf"<{p}commentList\s*/>", f"<{p}commentList></{p}commentList>", text, count=1)
    if f"</{p}commentList>" not in text:
        text = text.replace(f"</{p}comments>", f"<{p}commentList></{p}commentList></{p}comments>")
    at = text.rindex(f"</{p}commentList>")
    return text[:at] + "".join(new) + text[at:]


def _author(text: str, p: str) -> tuple[str, int]:
    """The comments part with AUTHOR among its authors, and AUTHOR's index."""
    text = re.sub(rf"<{p}authors\s*/>", f"<{p}authors></{p}authors>", text, count=1)
    m = re.search(rf"<{p}authors\b[^>]*>(.*?)</{p}authors>", text, re.S)
    if m is None:
        root = re.search(rf"<{p}comments\b[^>]*>", text)
        assert root is not None
        text = text[: root.end()] + f"<{p}authors></{p}authors>" + text[root.end() :]
        m = re.search(rf"<{p}authors\b[^>]*>(.*?)</{p}authors>", text, re.S)
        assert m is not None
    names = re.findall(
        rf"<{p}author\b[^>]*/>|<{p}author\b[^>]*>(.*?)</{p}author>", m.group(1), re.S
    )
    if AUTHOR in names:
        return text, names.index(AUTHOR)
    at = m.end(1)
    return text[:at] + f"<{p}author>{AUTHOR}</{p}author>" + text[at:], len(names)


def _append_run(text: str, start: int, run: str, p: str) -> str:
    """`text` with `run` added at the end of the <text> of the comment starting at `start`
    (before any phonetic runs, which CT_Rst puts last)."""
    head = re.compile(r"<[^>]*>").match(text, start)
    assert head is not None
    if head.group(0).endswith("/>"):  # a comment with no text at all
        tag = head.group(0)[:-2].rstrip() + ">"
        return text[:start] + tag + f"<{p}text>{run}</{p}text></{p}comment>" + text[head.end() :]
    end = text.index(f"</{p}comment>", start)
    body = re.sub(rf"<{p}text\s*/>", f"<{p}text></{p}text>", text[head.end() : end], count=1)
    m = re.search(rf"<{p}(?:rPh|phoneticPr)\b|</{p}text>", body)
    body = body[: m.start()] + run + body[m.start() :] if m else body + f"<{p}text>{run}</{p}text>"
    return text[: head.end()] + body + text[end:]


def _add_rel(pkg: Package, part: str, kind: str, target: str) -> str:
    """Relate `part` to the new part `target` (its rels made when it has none); the Id."""
    path = rels_path(part)
    rels = pkg.text(path) or (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns='
        '"http://schemas.openxmlformats.org/package/2006/relationships"></Relationships>'
    )
    rels = re.sub(r"<Relationships\b([^>]*?)\s*/>", r"<Relationships\1></Relationships>", rels)
    used = set(re.findall(r"\sId=\"([^\"]*)\"", rels))
    k = 1
    while f"rIdx{k}" in used:
        k += 1
    rel = (
        f'<Relationship Id="rIdx{k}" Type="{REL_NS}/{kind}" '
        f'Target="{posixpath.relpath(target, posixpath.dirname(part))}"/>'
    )
    at = rels.rindex("</Relationships>")
    pkg.put(path, rels[:at] + rel + rels[at:])
    return f"rIdx{k}"


def _with_legacy_drawing(xml: str, rid: str) -> str:
    """The worksheet with a <legacyDrawing> to `rid`, where CT_Worksheet's order puts it."""
    root = re.search(r"<(\w+:)?worksheet\b[^>]*>", xml)
    if root is None:
        return xml
    p = root.group(1) or ""
    r = next(
        (q for q, u in re.findall(r"\sxmlns:(\w+)=\"([^\"]*)\"", root.group(0)) if u == REL_NS), ""
    )
    if not r:
        r = "r" if " xmlns:r=" not in root.group(0) else "xlnet_r"
        xml = xml.replace(root.group(0), root.group(0)[:-1] + f' xmlns:{r}="{REL_NS}">', 1)
    after = re.search(rf"<{p}(?:{_AFTER_LEGACY})\b", xml)
    at = after.start() if after else xml.rindex(f"</{p}worksheet>")
    return xml[:at] + f'<{p}legacyDrawing {r}:id="{rid}"/>' + xml[at:]
