"""Test helper: change a cell's formula or cached value inside an .xlsx, byte-level."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path


def sheet_part(path: Path, sheet: str) -> str:
    with zipfile.ZipFile(path) as z:
        wb = z.read("xl/workbook.xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    tag = re.search(rf'<sheet [^>]*name="{re.escape(sheet)}"[^>]*>', wb)[0]
    rid = re.search(r'r:id="([^"]+)"', tag)[1]
    target = re.search(rf'Id="{rid}" Type="[^"]+" Target="([^"]+)"', rels)
    if target is None:
        target = re.search(rf'Target="([^"]+)"[^>]*Id="{rid}"', rels)
    return "xl/" + target[1].lstrip("/").removeprefix("xl/")


def rewrite(src: Path, dst: Path, part: str, edit) -> None:
    """Copy `src` to `dst`, passing the XML of `part` through `edit(text) -> text`."""
    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == part:
                data = edit(data.decode()).encode()
            zout.writestr(item, data)
    shutil.move(tmp, dst)


def set_formula(src: Path, dst: Path, sheet: str, cell: str, formula) -> str:
    """Replace the formula of `cell` (for an array formula, its top-left cell) with `formula`,
    a text or a function of the old text; returns the old formula."""
    old = {}

    def edit(xml: str) -> str:
        pat = re.compile(rf'(<c r="{cell}"[^>]*>)<f([^>]*)>([^<]*)</f>')
        m = pat.search(xml)
        assert m, f"no formula at {sheet}!{cell}"
        old["f"] = m[3]
        new = formula(m[3]) if callable(formula) else formula
        return xml[: m.start()] + m[1] + f"<f{m[2]}>{new}</f>" + xml[m.end() :]

    rewrite(src, dst, sheet_part(src, sheet), edit)
    return old["f"]


def set_all_cached(src: Path, dst: Path, sheet: str, value: str) -> int:
    """Replace the cached value of every formula cell of `sheet`; returns how many."""
    count = 0

    def edit(xml: str) -> str:
        nonlocal count
        xml, count = re.subn(r"(</f>)<v>[^<]*</v>", rf"\g<1><v>{value}</v>", xml)
        return xml

    rewrite(src, dst, sheet_part(src, sheet), edit)
    return count


def share_formulas(src: Path, dst: Path, sheet: str) -> int:
    """Store the formulas of `sheet` the way Excel saves filled formulas: each run of cells down
    a column whose formulas are copies of the first (same relative form) becomes one shared
    formula, text in the first cell only. Returns how many cells lost their own text."""
    from openpyxl.formula.translate import Translator

    count = 0

    def edit(xml: str) -> str:
        nonlocal count
        cells = re.compile(r'(<c r="([A-Z]+)(\d+)"[^>]*>)<f>([^<]*)</f>')
        found = {(m[2], int(m[3])): m for m in cells.finditer(xml)}
        groups: list[tuple[re.Match, list[re.Match]]] = []
        for (col, row), m in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            if groups:
                head, members = groups[-1]
                last = members[-1]
                if last[2] == col and int(last[3]) == row - 1:
                    moved = Translator("=" + head[4], origin=f"{col}{head[3]}").translate_formula(
                        f"{col}{row}"
                    )
                    if moved == "=" + m[4]:
                        members.append(m)
                        continue
            groups.append((m, [m]))
        edits = []
        for si, (head, members) in enumerate(g for g in groups if len(g[1]) > 1):
            ref = f"{head[2]}{head[3]}:{members[-1][2]}{members[-1][3]}"
            edits.append((head, f'{head[1]}<f t="shared" ref="{ref}" si="{si}">{head[4]}</f>'))
            for m in members[1:]:
                edits.append((m, f'{m[1]}<f t="shared" si="{si}"/>'))
                count += 1
        for m, new in sorted(edits, key=lambda e: -e[0].start()):
            xml = xml[: m.start()] + new + xml[m.end() :]
        return xml

    rewrite(src, dst, sheet_part(src, sheet), edit)
    return count
