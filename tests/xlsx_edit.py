"""Test helper: copies of an .xlsx with cells changed, as a user would (openpyxl) or at the
byte level (a formula, a cached value, parts a spreadsheet program reads differently)."""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import openpyxl
from openpyxl.utils import get_column_letter, range_boundaries

from xlnet import a1
from xlnet.layout import setting_block

# What edit_book does to the workbook: a function of it, or {(sheet, cell): value}.
Edit = Callable[[openpyxl.Workbook], object] | dict[tuple[str, str], object]


def edit_book(src: Path, dst: Path, edit: Edit) -> Path:
    """Copy `src` to `dst` the way a person editing it in a spreadsheet would: loaded and saved
    by openpyxl, with `edit` in between. A dict sets each (sheet, "B3") to its value: None
    empties the cell, a text starting with "=" is a formula. `dst` may be `src`."""
    wb = openpyxl.load_workbook(src)
    if callable(edit):
        edit(wb)
    else:
        for (sheet, cell), value in edit.items():
            wb[sheet][cell] = value
    wb.save(dst)
    return Path(dst)


def setting_cell(key: str) -> tuple[str, str]:
    """(sheet, cell) of the Settings value `key` (as edit_book takes it)."""
    b = setting_block(key)
    return b.sheet, a1.cell(b.row, b.col)


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


# Byte-level edits for hostile files: several parts at once, rows and cells moved, given twice
# or placed outside the declared dimension, names scoped to one sheet, damaged zip members.


def edit_parts(src: Path, dst: Path, edits: dict) -> None:
    """Copy `src` to `dst`, passing the XML of each part named in `edits` through its
    `edit(text) -> text` (the result may be any text, broken XML or nothing at all)."""
    tmp = dst.with_suffix(".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        missing = set(edits) - set(zin.namelist())
        assert not missing, f"{src} has no part {sorted(missing)}"
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in edits:
                data = edits[item.filename](data.decode()).encode()
            zout.writestr(item, data)
    shutil.move(tmp, dst)


def sheet_index(path: Path, sheet: str) -> int:
    """The 0-based position of `sheet` in xl/workbook.xml (what localSheetId counts)."""
    with zipfile.ZipFile(path) as z:
        wb = z.read("xl/workbook.xml").decode()
    names = re.findall(r'<sheet [^>]*name="([^"]+)"', wb)
    return names.index(sheet)


def add_name(xml: str, name: str, ref: str, local_sheet_id: int | None = None) -> str:
    """workbook.xml with one more defined name, scoped to a sheet when `local_sheet_id`."""
    scope = "" if local_sheet_id is None else f' localSheetId="{local_sheet_id}"'
    tag = f'<definedName name="{name}"{scope}>{ref}</definedName>'
    if "</definedNames>" in xml:
        return xml.replace("</definedNames>", tag + "</definedNames>", 1)
    return xml.replace("</sheets>", f"</sheets><definedNames>{tag}</definedNames>", 1)


def _row_pattern(r: int) -> re.Pattern:
    return re.compile(rf'<row r="{r}"[^>]*?(?:/>|>.*?</row>)', re.S)


def row_of(xml: str, r: int) -> str:
    m = _row_pattern(r).search(xml)
    assert m, f"no row {r}"
    return m[0]


def take_row(xml: str, r: int) -> tuple[str, str]:
    """(the sheet without row `r`, the row's XML)."""
    row = row_of(xml, r)
    return xml.replace(row, "", 1), row


def rows_at_end(xml: str, *rows: str) -> str:
    return xml.replace("</sheetData>", "".join(rows) + "</sheetData>", 1)


def rows_at_start(xml: str, *rows: str) -> str:
    return xml.replace("<sheetData>", "<sheetData>" + "".join(rows), 1)


def duplicate_row(xml: str, r: int, change) -> str:
    """Row `r` given twice: the copy, `change(row_xml)`, right after the original."""
    row = row_of(xml, r)
    return xml.replace(row, row + change(row), 1)


def change_formula(xml: str, change, ref: str | None = None) -> str:
    """`xml` with the formula of cell `ref` (else the first formula) passed through
    `change(text) -> text`."""
    cell = rf'<c r="{ref}"[^>]*>' if ref else ""
    m = re.search(rf"({cell}<f[^>]*>)([^<]*)(</f>)", xml)
    assert m, f"no formula at {ref}"
    return xml[: m.start()] + m[1] + change(m[2]) + m[3] + xml[m.end() :]


def duplicate_cell(xml: str, ref: str, change) -> str:
    """Cell `ref` given twice in its row: the copy, `change(cell_xml)`, right after it."""
    m = re.search(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)', xml, re.S)
    assert m, f"no cell {ref}"
    return xml[: m.end()] + change(m[0]) + xml[m.end() :]


def add_cell(xml: str, ref: str, inner: str, widen: bool = True) -> str:
    """Cell `ref` holding `inner` (`<f>..</f>`, `<v>..</v>`) appended to the end of its row (a
    new row at the end of sheetData if the row is absent); with `widen`, the declared
    <dimension> grows to cover it."""
    cell = f'<c r="{ref}">{inner}</c>'
    col, r, _, _ = range_boundaries(ref)
    m = _row_pattern(r).search(xml)
    if m is None:
        xml = rows_at_end(xml, f'<row r="{r}">{cell}</row>')
    else:
        row = m[0][:-2] + ">" if m[0].endswith("/>") else m[0].removesuffix("</row>")
        xml = xml[: m.start()] + row + cell + "</row>" + xml[m.end() :]
    if widen:
        d = re.search(r'<dimension ref="([^"]+)"\s*/>', xml)
        c0, r0, c1, r1 = range_boundaries(d[1])
        new = f"{get_column_letter(c0)}{r0}:{get_column_letter(max(c1, col))}{max(r1, r)}"
        xml = xml[: d.start(1)] + new + xml[d.end(1) :]
    return xml


def set_dimension(xml: str, ref: str) -> str:
    new, n = re.subn(r'<dimension ref="[^"]+"\s*/>', f'<dimension ref="{ref}"/>', xml, count=1)
    assert n == 1, "no <dimension>"
    return new


def corrupt_member(src: Path, dst: Path, part: str) -> None:
    """A copy of `src` whose `part` has damaged compressed bytes (its CRC or its inflate fails
    on reading), the zip directory left intact."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(part)
    head = info.header_offset
    name_len = int.from_bytes(data[head + 26 : head + 28], "little")
    extra_len = int.from_bytes(data[head + 28 : head + 30], "little")
    start = head + 30 + name_len + extra_len
    middle = start + info.compress_size // 2
    for k in range(middle, min(middle + 16, start + info.compress_size)):
        data[k] ^= 0xFF
    dst.write_bytes(bytes(data))
