"""`xlnet check --feedback DIR`: annotated copies, HTML pages and index.html."""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import shutil
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest
from klaas_fill import MISTAKES, fill
from openpyxl.chart import BarChart, Reference

from xlnet.grade import grade_file
from xlnet.libreoffice import recalculate
from xlnet.xlsxio import read_cached
from xlsx_edit import edit_book

ROOT = Path(__file__).resolve().parents[1]
PLANTED = ("log", "dz2_from_a1")  # two of the author's own mistakes, one file each
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
XDR = "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing"


def _with_chart_and_image(src: Path, dst: Path) -> Path:
    """`src` with a bar chart (openpyxl) and a PNG image (added to the same drawing part)."""

    def chart(wb: openpyxl.Workbook) -> None:
        ws = wb["Logistic Regression"]
        c = BarChart()
        c.add_data(Reference(ws, min_col=16, min_row=3, max_row=15))
        ws.add_chart(c, "BD3")

    tmp = dst.with_name("chart-" + dst.name)
    edit_book(src, tmp, chart)
    pic = (
        f'<xdr:oneCellAnchor xmlns:xdr="{XDR}"><xdr:from><xdr:col>60</xdr:col><xdr:colOff>0'
        "</xdr:colOff><xdr:row>2</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:ext "
        'cx="95250" cy="95250"/><xdr:pic><xdr:nvPicPr><xdr:cNvPr id="9" name="Picture 9"/>'
        '<xdr:cNvPicPr/></xdr:nvPicPr><xdr:blipFill><a:blip xmlns:a="http://schemas.openxmlfo'
        'rmats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocum'
        'ent/2006/relationships" r:embed="rIdPic"/><a:stretch xmlns:a="http://schemas.openxml'
        'formats.org/drawingml/2006/main"><a:fillRect/></a:stretch></xdr:blipFill><xdr:spPr>'
        '<a:prstGeom xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" prst="re'
        'ct"><a:avLst/></a:prstGeom></xdr:spPr></xdr:pic><xdr:clientData/></xdr:oneCellAnchor>'
    )
    with zipfile.ZipFile(tmp) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/drawings/drawing1.xml":
                data = re.sub(rb"(</\w+:wsDr>)", pic.encode() + rb"\1", data)
            elif item.filename == "xl/drawings/_rels/drawing1.xml.rels":
                data = data.replace(
                    b"</Relationships>",
                    b'<Relationship Id="rIdPic" Type="'
                    b'http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"'
                    b' Target="../media/image1.png"/></Relationships>',
                )
            elif item.filename == "[Content_Types].xml" and b'Extension="png"' not in data:
                data = data.replace(
                    b"</Types>", b'<Default Extension="png" ContentType="image/png"/></Types>'
                )
            zout.writestr(item, data)
        zout.writestr("xl/media/image1.png", PNG)
    tmp.unlink()
    return dst


def _graphics(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return sorted(
            n
            for n in z.namelist()
            if n.startswith(("xl/drawings/drawing", "xl/charts/", "xl/media/"))
            and "/_rels/" not in n
        )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Three submissions (two planted mistakes; one with a chart and an image) checked once
    with --feedback: (submissions, their hashes before, the feedback folder, the CLI result)."""
    import subprocess
    import sys

    d = tmp_path_factory.mktemp("feedback")
    subs = d / "submissions"
    subs.mkdir()
    files = [fill(subs / f"{m}.xlsx", mistake=m) for m in PLANTED]
    files.append(
        _with_chart_and_image(fill(d / "plain.xlsx", mistake="blank"), subs / "pictures.xlsx")
    )
    before = {f: _sha(f) for f in files}
    out = d / "feedback"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xlnet",
            "check",
            "--template",
            "klaas-ch1",
            *map(str, files),
            "--feedback",
            str(out),
            "--jobs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return files, before, out, result


def test_feedback_writes_a_copy_and_page_per_file_and_the_index(run):
    files, _, out, result = run
    assert result.returncode == 1, result.stderr  # the planted mistakes
    assert f"feedback written to {out / 'index.html'}" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [f.name for f in files] + [f.stem + ".html" for f in files] + ["index.html"]
    )


def test_submissions_are_never_changed(run):
    files, before, _, _ = run
    assert {f: _sha(f) for f in files} == before


def test_notes_sit_on_the_wrong_blocks_with_their_hints(run, klaas):
    files, _, out, _ = run
    for f in files[: len(PLANTED)]:
        g = grade_file(f, klaas)
        wrong = {
            (s.sheet, b.block): b for s in g.sheets for b in s.blocks if b.verdict != "correct"
        }
        assert {blk for _, blk in wrong} == set(MISTAKES[f.stem].values())
        wb = openpyxl.load_workbook(out / f.name)
        notes = {
            (ws.title, c.coordinate): c.comment.text
            for ws in wb
            for row in ws.iter_rows()
            for c in row
            if c.comment
        }
        assert len(notes) == len(wrong)
        for (sheet, block), b in wrong.items():
            text = notes[(sheet, b.cell.rpartition("!")[2])]
            assert text.startswith(f"{block}: {b.verdict}") and b.hint in text
            cell = wb[sheet][b.cell.rpartition("!")[2]]
            assert cell.fill.fgColor.rgb == "FFFBE3E3"


def test_the_copy_regrades_identically_and_keeps_its_values(run, klaas):
    files, _, out, _ = run
    for f in files:
        a, b = grade_file(f, klaas), grade_file(out / f.name, klaas)
        assert [x.to_json() for x in a.graded] == [x.to_json() for x in b.graded]
        assert read_cached(f) == read_cached(out / f.name)


def test_charts_and_images_are_kept(run):
    files, _, out, _ = run
    pictures = files[-1]
    assert len(_graphics(pictures)) == 3  # drawing, chart, image
    assert _graphics(out / pictures.name) == _graphics(pictures)
    with zipfile.ZipFile(pictures) as a, zipfile.ZipFile(out / pictures.name) as b:
        for name in _graphics(pictures):
            assert a.read(name) == b.read(name)


def test_a_blank_block_is_marked_too(run, klaas):
    files, _, out, _ = run
    wb = openpyxl.load_workbook(out / files[-1].name)
    for sheet in klaas.sheets:
        block = next(b for b in sheet.blocks if b.name == MISTAKES["blank"]["logreg"])
        for _, _, r, c in block.forms[0][1].cells():
            cell = wb[sheet.name].cell(r + 1, c + 1)
            assert cell.value is None and cell.fill.fgColor.rgb == "FFFBE3E3"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.links += [v for k, v in attrs if tag == "a" and k == "href"]

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


def test_pages_parse_and_name_every_block(run, klaas):
    files, _, out, _ = run
    for f in files:
        page = _parse(out / (f.stem + ".html"))
        assert "script" not in page.tags and "link" not in page.tags
        text = " ".join(page.text)
        g = grade_file(f, klaas)
        assert f"Score {g.score:g}%" in text
        for s in g.sheets:
            assert s.sheet in text
            assert all(b.block in text for b in s.blocks)
        assert all(b.hint in text for b in g.graded if b.hint and b.verdict != "correct")


def test_index_links_every_file_and_charts_the_scores(run):
    files, _, out, _ = run
    page = _parse(out / "index.html")
    assert sorted(page.links) == sorted(f.stem + ".html" for f in files)
    assert "svg" in page.tags
    text = " ".join(page.text)
    assert "LOG is the base-10 logarithm" in text


def test_text_from_a_submission_is_escaped(tmp_path):
    from xlnet.feedback.pages import index_page, student_page
    from xlnet.verdicts import BlockGrade, FileGrade, SheetGrade

    evil = "<script>alert(1)</script>"
    g = FileGrade(
        evil + ".xlsx",
        [
            SheetGrade(
                evil, [BlockGrade(evil, "wrong", "A1", "=" + evil, 1.0, evil, 1, evil)], [evil]
            )
        ],
        student=evil,
    )
    for html in (student_page(g), index_page([g], ["x.html"])):
        assert "<script>" not in html


@pytest.mark.parametrize(
    "names, why",
    [
        (("a/s.xlsx", "b/s.xlsx"), "share the name"),
        (("a/index.xlsx",), "named index"),
        (("out/s.xlsx",), "holds the submission"),
    ],
)
def test_colliding_paths_are_refused(tmp_path, cli, names, why):
    files = []
    for n in names:
        p = tmp_path / n
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(b"not graded")
        files.append(p)
    before = {f: f.read_bytes() for f in files}
    r = cli("check", *map(str, files), "--feedback", str(tmp_path / "out"))
    assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert {f: f.read_bytes() for f in files} == before


def test_an_xlsm_copy_keeps_its_extension_and_the_folder_is_made(tmp_path, run):
    from xlnet.feedback import feedback_paths

    paths = feedback_paths([tmp_path / "m.xlsm", tmp_path / "x.xlsx"], tmp_path / "new")
    assert [(a.name, b.name) for a, b in paths] == [("m.xlsm", "m.html"), ("x.xlsx", "x.html")]


def test_readme_feedback_example_runs(tmp_path, monkeypatch, cli, run):
    files, _, _, _ = run
    text = (ROOT / "README.md").read_text()
    section = text.split("## Exercises and grading", 1)[1].split("\n## ", 1)[0]
    lines = [
        ln for ln in section.splitlines() if ln.startswith("xlnet check --") and "--feedback" in ln
    ]
    assert lines
    (tmp_path / "submissions").mkdir()
    shutil.copy(files[0], tmp_path / "submissions" / files[0].name)
    monkeypatch.chdir(tmp_path)
    for line in lines:
        args = [
            str(p)
            for a in shlex.split(line)[1:]
            for p in (sorted(Path().glob(a)) if "*" in a else [a])
        ]
        assert cli(*args, cwd=tmp_path).returncode == 1
    assert (tmp_path / "feedback" / "index.html").exists()


@pytest.mark.libreoffice
def test_libreoffice_opens_the_copy_without_new_errors(run, need_soffice, tmp_path):
    files, _, out, _ = run
    f = files[0]

    def errors(path: Path) -> set:
        calc = recalculate(path, tmp_path / path.parent.name)
        return {
            (s, rc)
            for s, cells in read_cached(calc).items()
            for rc, v in cells.items()
            if isinstance(v, str) and v.startswith("#")
        }

    assert errors(out / f.name) <= errors(f)
