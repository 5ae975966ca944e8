"""The reader on hand-written packages: what a spreadsheet program reads from the XML, whatever
the writer's habits (prefixes, CDATA, entities, rows without numbers, shared formulas), and
what is ambiguous and refused."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from xlnet.xlsxio import BookError, read_book, read_cached

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)
ROOT_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    f'relationships"><Relationship Id="rId1" Type="{REL}/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>'
)


def package(tmp_path: Path, sheets: dict[str, str], names: str = "", extra=None) -> Path:
    """A workbook whose sheets hold the given <sheetData> contents (or whole parts, when the
    text starts with '<?xml')."""
    listed = "".join(
        f'<sheet name="{n}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i, n in enumerate(sheets)
    )
    workbook = (
        f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>{listed}'
        f"</sheets>{'<definedNames>' + names + '</definedNames>' if names else ''}</workbook>"
    )
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="worksheets/s{i + 1}.xml"/>'
        for i in range(len(sheets))
    )
    parts = {
        "[Content_Types].xml": TYPES,
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://'
        f'schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>',
    }
    for i, body in enumerate(sheets.values()):
        parts[f"xl/worksheets/s{i + 1}.xml"] = (
            body
            if body.startswith("<?xml")
            else f'<?xml version="1.0"?><worksheet xmlns="{MAIN}"><sheetData>{body}'
            "</sheetData></worksheet>"
        )
    parts.update(extra or {})
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        for name, text in parts.items():
            z.writestr(name, text)
    return path


def test_writers_habits_read_as_excel_reads(tmp_path):
    prefixed = (
        f'<?xml version="1.0"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
        '<x:row r="1"><x:c r="A1"><x:v>2</x:v></x:c><x:c r="B1"><x:f>A1*3</x:f></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    habits = (
        # rows and cells without numbers follow the previous ones
        "<row><c><v>1</v></c><c><v>2.5</v></c></row>"
        # entities and CDATA in a formula; an inline string; a boolean and an error value
        '<row r="3"><c r="A3"><f>IF(A1&lt;2,"a&amp;b",&quot;&quot;)</f></c>'
        '<c r="B3"><f><![CDATA[A1>0]]></f></c><c r="C3" t="inlineStr"><is><r><t>in</t></r>'
        '<r><t>line</t></r></is></c><c r="D3" t="b"><v>1</v></c><c r="E3" t="e"><v>#N/A</v>'
        "</c></row>"
        # a row that comes before the previous one, and an ignored extension inside a row
        '<row r="2"><c r="A2"><v>7</v></c><extLst><ext uri="x"><c r="Z2"><v>9</v></c></ext>'
        "</extLst></row>"
        # a shared formula filled right
        '<row r="5"><c r="A5"><f t="shared" ref="A5:C5" si="0">A1+1</f></c>'
        '<c r="B5"><f t="shared" si="0"/></c><c r="C5"><f t="shared" si="0"/></c></row>'
    )
    book = read_book(package(tmp_path, {"P": prefixed, "H": habits}))
    assert book.sheet("P").values == {(0, 0): 2}
    assert book.sheet("P").formulas == {(0, 1): "=A1*3"}
    h = book.sheet("H")
    assert h.values[(0, 0)] == 1 and h.values[(0, 1)] == 2.5 and h.values[(1, 0)] == 7
    assert (1, 25) not in h.values
    assert h.formulas[(2, 0)] == '=IF(A1<2,"a&b","")'
    assert h.formulas[(2, 1)] == "=A1>0"
    assert h.values[(2, 2)] == "inline" and h.values[(2, 3)] is True
    assert h.values[(2, 4)] == "#N/A"
    assert [h.formulas[(4, c)] for c in range(3)] == ["=A1+1", "=B1+1", "=C1+1"]


def test_sheet_scoped_names_are_kept_apart(tmp_path):
    names = (
        '<definedName name="rate">A!$A$1</definedName>'
        '<definedName name="rate" localSheetId="1">B!$A$1</definedName>'
    )
    book = read_book(package(tmp_path, {"A": "", "B": ""}, names))
    assert book.names == {"RATE": "A!$A$1"}
    assert book.sheet("B").names == {"RATE": "B!$A$1"} and book.sheet("A").names == {}


@pytest.mark.parametrize(
    ("sheet", "names", "words"),
    [
        ('<row r="1"><c r="A1"><v>1</v></c><c r="A1"><v>2</v></c></row>', "", ["A1", "twice"]),
        ('<row r="4"/><row r="4"/>', "", ["row 4", "twice"]),
        ('<row r="2"><c r="C3"><v>1</v></c></row>', "", ["C3", "row 2"]),
        ('<row r="1"><c r="A1"><f>1</f><f>2</f></c></row>', "", ["A1", "two formulas"]),
        ('<row r="1"><c r="A1"><f t="dataTable" ref="A1:B2"/></c></row>', "", ["data table"]),
        ('<row r="1"><c r="A1"><f t="shared" si="3"/></c></row>', "", ["shared formula 3"]),
        ('<row r="1"><c r="A1"><v>x</v></c></row>', "", ["A1", "not a value"]),
        ('<row r="1048577"/>', "", ["1048577"]),
        ('<row r="1"><c r="XFE1"><v>1</v></c></row>', "", ["XFE1"]),
        ("", '<definedName name="n">S!A1</definedName><definedName name="N">S!A2</definedName>',
         ["name N", "twice"]),
        ("", '<definedName name="n" localSheetId="7">S!A1</definedName>', ["sheet number 7"]),
    ],
)  # fmt: skip
def test_ambiguous_or_impossible_is_refused(tmp_path, sheet, names, words):
    path = package(tmp_path, {"S": sheet}, names)
    with pytest.raises(BookError) as exc:
        read_book(path)
    message = str(exc.value)
    assert message.startswith(str(path)) and "\n" not in message
    for w in words:
        assert w in message


def test_a_part_stored_twice_is_refused(tmp_path):
    path = package(tmp_path, {"S": ""})
    with zipfile.ZipFile(path, "a") as z, pytest.warns(UserWarning):
        z.writestr("xl/worksheets/s1.xml", "<worksheet/>")
    with pytest.raises(BookError, match="twice"):
        read_book(path)


def test_cached_values_of_covered_cells_are_read_on_request(tmp_path):
    arrays = (
        '<row r="1"><c r="A1"><f t="array" ref="A1:B2">C1:D2*2</f><v>2</v></c><c r="B1"><v>4</v>'
        '</c><c r="C1"><v>1</v></c><c r="D1"><v>2</v></c></row><row r="2"><c r="A2"><v>6</v>'
        '</c><c r="B2"><v>8</v></c><c r="C2"><v>3</v></c><c r="D2"><v>4</v></c></row>'
    )
    path = package(tmp_path, {"S": arrays})
    sheet = read_book(path).sheet("S")
    assert sheet.arrays == {(0, 0): ("C1:D2*2", 2, 2)}
    assert set(sheet.values) == {(0, 2), (0, 3), (1, 2), (1, 3)}
    cached = read_cached(path)["S"]
    assert [cached[rc] for rc in [(0, 0), (0, 1), (1, 0), (1, 1)]] == [2, 4, 6, 8]


def test_escaped_characters_in_text_read_as_written():
    from xlnet.xmlstream import xstring

    assert xstring("a_x0041_b") == "aAb"
    assert xstring("a_x005F_x0041_b") == "a_x0041_b"  # XlsxWriter's escape of a literal _x
    assert xstring("plain_x_text") == "plain_x_text"


def test_a_header_that_looks_like_an_escape_round_trips(tmp_path):
    import xlsxwriter

    from xlnet.xlsxio import read_book

    path = tmp_path / "x.xlsx"
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("S")
    ws.write_string(0, 0, "a_x0041_b")
    ws.write_string(0, 1, "tab\there")
    wb.close()
    values = read_book(path).sheet("S").values
    assert values[(0, 0)] == "a_x0041_b" and values[(0, 1)] == "tab\there"
