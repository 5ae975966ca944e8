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
from klaas_fill import AUTHORS, MISTAKES, SHEETS, fill
from openpyxl.chart import BarChart, Reference

from xlnet.grade import grade_file
from xlnet.libreoffice import recalculate
from xlnet.xlsxio import read_cached
from xlsx_edit import edit_book

ROOT = Path(__file__).resolve().parents[1]
# The author's four mistakes in one file, laid out with a loss column per class (the copy marks
# the form the student chose); LOG alone in another, with a bias per class.
PLANTED: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "authors": (AUTHORS, {"loss": "per_class"}),
    "log": (("log",), {"bias": "vector"}),
}
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
    files = [fill(subs / f"{stem}.xlsx", mistake=m, **kw) for stem, (m, kw) in PLANTED.items()]
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


@pytest.fixture(scope="module")
def graded(run, klaas):
    """Each submission of `run` graded once, for the tests that compare with its grade."""
    return {f: grade_file(f, klaas) for f in run[0]}


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


def test_notes_sit_on_the_wrong_blocks_with_their_hints(run, graded):
    files, _, out, _ = run
    for f in files[: len(PLANTED)]:
        g = graded[f]
        wrong = {
            (s.sheet, b.block): b for s in g.sheets for b in s.blocks if b.verdict != "correct"
        }
        planted = PLANTED[f.stem][0]
        assert set(wrong) == {(SHEETS[model], block) for m in planted
                              for model, block in MISTAKES[m].items()}  # fmt: skip
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
            assert text.startswith(f"{block}: {b.verdict}") and b.hint and b.hint in text
            assert "expected formula" not in text  # not asked for
            cell = wb[sheet][b.cell.rpartition("!")[2]]
            assert cell.fill.fgColor.rgb == "FFFBE3E3"
    authors = openpyxl.load_workbook(out / "authors.xlsx")
    ws = authors["Logistic Regression"]
    assert "reads from: A1 (Z3:AB180), Y (AD3:AF180)" in ws["AH3"].comment.text
    # The loss was judged in its per-class form: all three columns are marked, to the last row.
    assert all(ws[c].fill.fgColor.rgb == "FFFBE3E3" for c in ("AH3", "AJ3", "AJ180"))
    assert ws["AK3"].fill.fgColor.rgb != "FFFBE3E3"


def test_the_copy_regrades_identically_and_keeps_its_values(run, klaas, graded):
    files, _, out, _ = run
    for f in files:
        a, b = graded[f], grade_file(out / f.name, klaas)
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


def test_pages_parse_and_name_every_block(run, graded):
    files, _, out, _ = run
    for f in files:
        page = _parse(out / (f.stem + ".html"))
        assert "script" not in page.tags and "link" not in page.tags
        text = " ".join(page.text)
        g = graded[f]
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


@pytest.mark.parametrize(
    ("folder", "why"),
    [
        ("afile", "is a file, not a folder"),
        ("nope/deeper/fb", "does not exist"),
        ("", "name is empty"),
        ("tmpl", "would replace"),
    ],
)
def test_a_bad_feedback_folder_is_refused_before_grading(tmp_path, cli, run, folder, why):
    files = run[0]
    (tmp_path / "afile").write_text("x")
    # A template of one's own whose workbook the copy of a submission of that name would
    # replace.
    (tmp_path / "tmpl").mkdir()
    toml = (ROOT / "xlnet" / "templates" / "klaas-ch1.toml").read_text(encoding="utf-8")
    (tmp_path / "tmpl" / "mine.toml").write_text(toml, encoding="utf-8")
    shutil.copy(files[0], tmp_path / "tmpl" / "klaas-ch1.xlsx")
    sub = tmp_path / "subs" / "klaas-ch1.xlsx"
    sub.parent.mkdir()
    shutil.copy(files[0], sub)
    before = _sha(tmp_path / "tmpl" / "klaas-ch1.xlsx")
    report = tmp_path / "r.csv"
    r = cli("check", "--template", tmp_path / "tmpl" / "mine.toml", sub, "--report", report,
            "--feedback", str(tmp_path / folder) if folder else "", cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and why in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not report.exists() and r.stdout == ""  # refused before grading
    assert _sha(tmp_path / "tmpl" / "klaas-ch1.xlsx") == before
    assert not (tmp_path / "nope").exists()


def test_a_file_the_copy_cannot_annotate_still_gets_its_page(tmp_path, cli, run):
    """A submission without a styles part grades; its page says why it has no copy, and the
    others' feedback is written."""
    files = run[0]
    odd = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(files[1]) as zin, zipfile.ZipFile(odd, "w") as zout:
        for item in zin.infolist():
            if item.filename != "xl/styles.xml":
                data = zin.read(item.filename)
                if item.filename.endswith(".rels"):
                    data = re.sub(rb"<Relationship [^>]*styles\.xml\"/>", b"", data)
                zout.writestr(item, data)
    long = tmp_path / ("a" * 240 + ".xlsx")  # its temporary name must not be too long
    shutil.copy(files[0], long)
    out = tmp_path / "fb"
    r = cli("check", "--template", "klaas-ch1", odd, long, "--feedback", out, "--jobs", "1")
    assert r.returncode == 1, r.stderr
    assert "no annotated copy" in (out / "odd.html").read_text(encoding="utf-8")
    assert not (out / "odd.xlsx").exists() and (out / long.name).exists()
    assert "odd.html" in (out / "index.html").read_text(encoding="utf-8")


def test_a_file_name_that_is_not_utf8_gets_its_page_and_link(tmp_path, cli, run):
    import os

    name = os.fsdecode(b"stu\xff.xlsx")
    shutil.copy(run[0][0], tmp_path / name)
    out = tmp_path / "fb"
    r = cli("check", "--template", "klaas-ch1", tmp_path / name, "--feedback", out, "--jobs", "1")
    assert r.returncode == 1, r.stderr
    page = out / os.fsdecode(b"stu\xff.html")
    assert page.exists() and "stu?.xlsx" in page.read_text(encoding="utf-8")
    assert 'href="stu%FF.html"' in (out / "index.html").read_text(encoding="utf-8")


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


# A student's own comments: legacy notes (openpyxl writes them as a student's program would,
# with o:idmap data="1" and the same shape numbers on every sheet) and Excel 365's threaded
# comments, written here by hand as Excel saves them.
SHEET_LR, SHEET_MLP = "Logistic Regression", "2 Layer Wine Net"
THREAD_ID, PERSON_ID = (
    "{1D9E6B52-3C1A-4F0B-9A57-0C2B7E1F4A11}",
    "{5E0B2C4D-7A61-4B8E-B3C2-9F1D6E2A8C33}",
)
TC_NS = "http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments"
TC_REL = "http://schemas.microsoft.com/office/2017/10/relationships"
STAND_IN = (
    "[Threaded comment]\n\nYour version of Excel allows you to read this threaded comment; "
    "however, any edits to it will get removed if the file is opened in a newer version of "
    "Excel. Learn more: https://go.microsoft.com/fwlink/?linkid=870924\n\nComment:\n"
    "    is this the right loss?"
)
THREADED_PART = "xl/threadedComments/threadedComment1.xml"
PERSONS_PART = "xl/persons/person.xml"


def _note_cells(path: Path, klaas) -> dict[str, str]:
    """Sheet -> the cell our note goes to: its wrong block's first wrong cell."""
    g = grade_file(path, klaas)
    return {
        s.sheet: b.cell.rpartition("!")[2].replace("$", "")
        for s in g.sheets
        for b in s.blocks
        if b.verdict != "correct"
    }


def _with_threads(src: Path, dst: Path, sheet: str, cell: str) -> None:
    """`src` with an Excel 365 threaded comment on `sheet`!`cell` (its legacy stand-in is
    already in `src`), the persons part and their rels and content types."""
    from xlsx_edit import sheet_part

    part = sheet_part(src, sheet)
    folder, name = part.rsplit("/", 1)
    rels = f"{folder}/_rels/{name}.rels"
    threaded = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        f'<ThreadedComments xmlns="{TC_NS}" xmlns:x="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main"><threadedComment ref="{cell}" dT="2024-03-01T10:00:00.00" '
        f'personId="{PERSON_ID}" id="{THREAD_ID}"><text>is this the right loss?</text>'
        "</threadedComment></ThreadedComments>"
    )
    persons = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
        f'<personList xmlns="{TC_NS}" xmlns:x="http://schemas.openxmlformats.org/spreadsheetml'
        f'/2006/main"><person displayName="A Student" id="{PERSON_ID}" userId="a@b.org" '
        'providerId="None"/></personList>'
    )
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename).decode()
            if item.filename == rels:
                data = data.replace(
                    "</Relationships>",
                    f'<Relationship Id="rIdTc" Type="{TC_REL}/threadedComment" '
                    'Target="../threadedComments/threadedComment1.xml"/></Relationships>',
                )
            elif item.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    "</Relationships>",
                    f'<Relationship Id="rIdPs" Type="{TC_REL}/person" '
                    'Target="persons/person.xml"/></Relationships>',
                )
            elif item.filename == "[Content_Types].xml":
                data = data.replace(
                    "</Types>",
                    f'<Override PartName="/{THREADED_PART}" ContentType="application/vnd.ms-'
                    f'excel.threadedcomments+xml"/><Override PartName="/{PERSONS_PART}" '
                    'ContentType="application/vnd.ms-excel.person+xml"/></Types>',
                )
            zout.writestr(item, data)
        zout.writestr(THREADED_PART, threaded)
        zout.writestr(PERSONS_PART, persons)


@pytest.fixture(scope="module")
def commented(tmp_path_factory, klaas):
    """Two submissions with the "log" mistake (a wrong block on each sheet) checked with
    --feedback: "notes.xlsx", with the student's notes on A1 of both sheets and on the cell
    where our Logistic Regression note goes; "threads.xlsx", with a threaded comment (and its
    legacy stand-in) on the cell where our 2 Layer Wine Net note goes. (files, note cells,
    the feedback folder, the CLI result)."""
    import subprocess
    import sys

    from openpyxl.comments import Comment

    d = tmp_path_factory.mktemp("commented")
    plain = fill(d / "plain.xlsx", mistake="log")
    cells = _note_cells(plain, klaas)
    assert set(cells) == {SHEET_LR, SHEET_MLP}
    subs = d / "submissions"
    subs.mkdir()

    def notes(wb: openpyxl.Workbook) -> None:
        wb[SHEET_LR]["A1"].comment = Comment("my own note", "Student")
        wb[SHEET_LR][cells[SHEET_LR]].comment = Comment("check this with Klaas", "Student")
        wb[SHEET_MLP]["A1"].comment = Comment("the wine net <&> me", "Student")

    def stand_in(wb: openpyxl.Workbook) -> None:
        wb[SHEET_MLP][cells[SHEET_MLP]].comment = Comment(STAND_IN, f"tc={THREAD_ID}")

    files = [edit_book(plain, subs / "notes.xlsx", notes)]
    edit_book(plain, d / "stand-in.xlsx", stand_in)
    _with_threads(d / "stand-in.xlsx", subs / "threads.xlsx", SHEET_MLP, cells[SHEET_MLP])
    files.append(subs / "threads.xlsx")
    before = {f: _sha(f) for f in files}
    out = d / "feedback"
    result = subprocess.run(
        [sys.executable, "-m", "xlnet", "check", "--template", "klaas-ch1", *map(str, files),
         "--feedback", str(out), "--jobs", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert {f: _sha(f) for f in files} == before
    return files, cells, out


def _comments(path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(sheet, cell) -> (author, text) of every comment openpyxl reads."""
    wb = openpyxl.load_workbook(path)
    return {
        (ws.title, c.coordinate): (c.comment.author, c.comment.text)
        for ws in wb
        for row in ws.iter_rows()
        for c in row
        if c.comment
    }


def _notes_of(path: Path, klaas) -> dict[str, str]:
    """Sheet -> (block, verdict, hint) of its wrong block: what our note there must say."""
    g = grade_file(path, klaas)
    return {
        s.sheet: (b.block, b.verdict, b.hint)
        for s in g.sheets
        for b in s.blocks
        if b.verdict != "correct"
    }


def _sheet_comment_parts(path: Path, sheet: str) -> dict[str, str]:
    """The parts of `sheet`'s rels by the tail of their type ("comments", "threadedComment"),
    and "vml": the one its <legacyDrawing> points at."""
    from xlnet.feedback.notes import parse_rels, rels_path
    from xlsx_edit import sheet_part

    part = sheet_part(path, sheet)
    with zipfile.ZipFile(path) as z:
        rels = parse_rels(z.read(rels_path(part)).decode(), part)
        xml = z.read(part).decode()
        rid = re.search(r'<legacyDrawing\b[^>]*\sr:id="([^"]+)"', xml)[1]
        out = {"vml": next(r.target for r in rels if r.id == rid)}
        for r in rels:
            out.setdefault(r.type.rpartition("/")[2], r.target)
        return {k: z.read(v).decode() for k, v in out.items()}


def _vml_shapes(text: str) -> list[str]:
    return [m[0] for m in re.finditer(r"<(\w+):shape\b.*?</\1:shape>", text, re.S)]


def test_our_notes_join_the_students_own(commented, klaas):
    files, cells, out = commented
    f = files[0]
    theirs, ours = _comments(f), _comments(out / f.name)
    wrong = _notes_of(f, klaas)
    # the student's notes stay, word for word and with their author
    assert ours[(SHEET_LR, "A1")] == theirs[(SHEET_LR, "A1")] == ("Student", "my own note")
    assert ours[(SHEET_MLP, "A1")] == ("Student", "the wine net <&> me")
    # where the student's note sits on our note's cell, ours follows it after the separator
    from xlnet.feedback.notes import SEPARATOR

    author, text = ours[(SHEET_LR, cells[SHEET_LR])]
    block, verdict, hint = wrong[SHEET_LR]
    assert author == "Student"
    assert text.startswith("check this with Klaas" + SEPARATOR + f"{block}: {verdict}")
    assert hint in text
    # and a cell without one gets a note of its own, by xlnet
    author, text = ours[(SHEET_MLP, cells[SHEET_MLP])]
    block, verdict, hint = wrong[SHEET_MLP]
    assert author == "xlnet" and text.startswith(f"{block}: {verdict}") and hint in text
    assert len(ours) == len(theirs) + 1


def test_the_students_comment_parts_are_extended_not_rewritten(commented):
    files, cells, out = commented
    f = files[0]
    ids_before: set[str] = set()
    for sheet in (SHEET_LR, SHEET_MLP):
        ids_before |= set(re.findall(r"_x0000_s\d+", _sheet_comment_parts(f, sheet)["vml"]))
    new_ids: list[str] = []
    for sheet in (SHEET_LR, SHEET_MLP):
        a, b = _sheet_comment_parts(f, sheet), _sheet_comment_parts(out / f.name, sheet)
        assert re.findall(r"<author>([^<]*)</author>", b["comments"]) == ["Student", "xlnet"]
        ours = re.findall(r'<comment ref="([^"]+)" authorId="1"', b["comments"])
        assert ours == ([] if sheet == SHEET_LR else [cells[sheet]])
        # the untouched comments and every shape of the student's VML are there as they were
        untouched = re.findall(r'<comment ref="A1".*?</comment>', a["comments"])
        assert untouched and all(c in b["comments"] for c in untouched)
        assert all(s in b["vml"] for s in _vml_shapes(a["vml"]))
        added = [s for s in _vml_shapes(b["vml"]) if s not in _vml_shapes(a["vml"])]
        noted = {
            (int(r), int(c))
            for r, c in re.findall(r"<\w+:Row>(\d+)</\w+:Row><\w+:Column>(\d+)<", b["vml"])
        }
        # one note shape per comment: the shared cell keeps the student's shape only
        assert len(noted) == len(_vml_shapes(b["vml"])) == b["comments"].count("<comment ")
        assert len(added) == (0 if sheet == SHEET_LR else 1)
        blocks = [int(n) for n in re.search(r'idmap [^>]*data="([^"]+)"', b["vml"])[1].split(",")]
        for s in added:
            n = int(re.search(r'\bid="_x0000_s(\d+)"', s)[1])
            assert f'spid="_x0000_s{n}"' in s and n // 1024 in blocks
            kind = re.search(r'type="#([^"]+)"', s)[1]
            assert re.search(rf'<\w+:shapetype id="{kind}"[^>]*spt="202"', b["vml"])
            new_ids.append(f"_x0000_s{n}")
    # openpyxl numbered both sheets' shapes alike; ours collide with none of them
    assert len(set(new_ids)) == len(new_ids) and not set(new_ids) & ids_before


def test_a_threaded_comment_is_kept_and_our_note_moves_next_to_it(commented, klaas):
    files, cells, out = commented
    f = files[1]
    with zipfile.ZipFile(f) as a, zipfile.ZipFile(out / f.name) as b:
        for name in (THREADED_PART, PERSONS_PART):
            assert a.read(name) == b.read(name)
        ct = b.read("[Content_Types].xml").decode()
    assert ct.count(THREADED_PART) == 1
    ours = _comments(out / f.name)
    thread_cell = cells[SHEET_MLP]
    assert ours[(SHEET_MLP, thread_cell)] == (f"tc={THREAD_ID}", STAND_IN)
    # our note sits on the next cell of the wrong block (the loss column: one row down)
    r, c = openpyxl.utils.cell.coordinate_to_tuple(thread_cell)
    moved = openpyxl.utils.get_column_letter(c) + str(r + 1)
    block, verdict, hint = _notes_of(f, klaas)[SHEET_MLP]
    author, text = ours[(SHEET_MLP, moved)]
    assert author == "xlnet" and text.startswith(f"{block}: {verdict}") and hint in text
    assert f"first wrong cell, {thread_cell}, holds a threaded comment" in text
    # the other sheet had no comments: its new VML claims a block no other part does
    blocks = {}
    for sheet in (SHEET_LR, SHEET_MLP):
        vml = _sheet_comment_parts(out / f.name, sheet)["vml"]
        blocks[sheet] = re.search(r'idmap [^>]*data="([^"]+)"', vml)[1]
    assert blocks[SHEET_MLP] == "1" and blocks[SHEET_LR] not in ("0", "1")
    assert ours[(SHEET_LR, cells[SHEET_LR])][0] == "xlnet"


def test_commented_copies_regrade_identically(commented, klaas):
    files, _, out = commented
    for f in files:
        a, b = grade_file(f, klaas), grade_file(out / f.name, klaas)
        assert [x.to_json() for x in a.graded] == [x.to_json() for x in b.graded]
        assert read_cached(f) == read_cached(out / f.name)


@pytest.mark.libreoffice
def test_libreoffice_reads_the_merged_notes(commented, need_soffice, tmp_path):
    """LibreOffice opens each copy and its comments survive its own save, ours and theirs."""
    files, _, out = commented
    for f in files:
        saved = recalculate(out / f.name, tmp_path / f.stem)
        theirs, ours, lo = _comments(f), _comments(out / f.name), _comments(saved)
        assert set(lo) == set(ours) > set(theirs)
        for key, (_, text) in ours.items():
            assert lo[key][1].strip() == text.strip(), key


# The notes' parts on their own, as Excel writes them: v:, o:, x: prefixes, single-quoted
# styles broken over lines, shapes numbered from 1025 in the block o:idmap claims.
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
EXCEL_VML_HEAD = (
    '<xml xmlns:v="urn:schemas-microsoft-com:vml"\n xmlns:o="urn:schemas-microsoft-com:office:'
    'office"\n xmlns:x="urn:schemas-microsoft-com:office:excel">\n <o:shapelayout v:ext="edit">'
    '\n  <o:idmap v:ext="edit" data="{block}"/>\n </o:shapelayout><v:shapetype id="_x0000_t202"'
    ' coordsize="21600,21600" o:spt="202"\n  path="m,l,21600r21600,l21600,xe">\n  <v:stroke '
    'joinstyle="miter"/>\n  <v:path gradientshapeok="t" o:connecttype="rect"/>\n </v:shapetype>'
)


def _excel_note(n: int, r: int, c: int) -> str:
    return (
        f'<v:shape id="_x0000_s{n}" type="#_x0000_t202" style=\'position:absolute;\n  margin-'
        "left:107.25pt;margin-top:1.5pt;width:108pt;height:59.25pt;z-index:1;\n  visibility:"
        'hidden\' fillcolor="#ffffe1" o:insetmode="auto">\n  <v:fill color2="#ffffe1"/>\n'
        '  <x:ClientData ObjectType="Note">\n   <x:MoveWithCells/>\n   <x:SizeWithCells/>\n'
        f"   <x:AutoFill>False</x:AutoFill>\n   <x:Row>{r}</x:Row>\n   <x:Column>{c}</x:Column>\n"
        "  </x:ClientData>\n </v:shape>"
    )


def _button(n: int) -> str:
    return (
        f'<v:shape id="_x0000_s{n}" type="#_x0000_t201"><x:ClientData ObjectType="Button"/>'
        "</v:shape>"
    )


def _package(vml: str, comments: str, threads: str | None = None) -> dict[str, bytes]:
    """A sheet with a legacy drawing and comments (and maybe threads), and a second sheet's
    VML claiming block 2: only the parts the notes touch."""
    rels = (
        f'<Relationship Id="rId1" Type="{REL_NS}/vmlDrawing" Target="../drawings/vmlDrawing1.vml"/>'
        f'<Relationship Id="rId2" Type="{REL_NS}/comments" Target="../comments1.xml"/>'
    )
    if threads is not None:
        rels += (
            f'<Relationship Id="rId3" Type="{TC_REL}/threadedComment" Target="/{THREADED_PART}"/>'
        )
    parts = {
        "[Content_Types].xml": b'<Types><Default Extension="vml" ContentType="x"/>'
        b'<Override PartName="/xl/comments1.xml" ContentType="y"/></Types>',
        "xl/worksheets/_rels/sheet1.xml.rels": f"<Relationships>{rels}</Relationships>".encode(),
        "xl/drawings/vmlDrawing1.vml": vml.encode(),
        "xl/drawings/vmlDrawing2.vml": (
            EXCEL_VML_HEAD.format(block=2) + _excel_note(2049, 0, 0) + "</xml>"
        ).encode(),
        "xl/comments1.xml": comments.encode(),
    }
    if threads is not None:
        parts[THREADED_PART] = threads.encode()
    return parts


SHEET_XML = (
    f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}"><sheetData/><legacyDrawing r:id="rId1"/>'
    "</worksheet>"
)


RUN_HEAD = (
    '<r><rPr><sz val="8"/><color indexed="81"/><rFont val="Tahoma"/><family val="2"/></rPr>'
    '<t xml:space="preserve">'
)


def _student_comments(*cells_texts: tuple[str, str, int]) -> str:
    body = "".join(
        f'<comment ref="{ref}" authorId="{a}"><text><r><t>{t}</t></r></text></comment>'
        for ref, t, a in cells_texts
    )
    return (
        f'<comments xmlns="{MAIN_NS}"><authors><author>Student</author><author>tc={THREAD_ID}'
        f"</author></authors><commentList>{body}</commentList></comments>"
    )


def test_a_full_id_block_gets_one_no_part_claims():
    from xlnet.feedback.notes import Note, Package, add_notes

    # block 1 full: its note on A1 is 1025, buttons take 1026 .. 2047
    vml = EXCEL_VML_HEAD.format(block=1) + _excel_note(1025, 0, 0)
    vml += "".join(_button(n) for n in range(1026, 2048)) + "\n</xml>"
    parts = _package(vml, _student_comments(("A1", "mine", 0)))
    changed: dict[str, bytes] = {}
    pkg = Package(parts, changed, parts["[Content_Types].xml"].decode())
    xml = add_notes(
        pkg, "xl/worksheets/sheet1.xml", SHEET_XML, [Note((1, 1), "B2: wrong", ((1, 1),))]
    )
    assert xml == SHEET_XML and pkg.ct == parts["[Content_Types].xml"].decode()
    assert set(changed) == {"xl/drawings/vmlDrawing1.vml", "xl/comments1.xml"}
    new = changed["xl/drawings/vmlDrawing1.vml"].decode()
    # block 2 is the other sheet's: ours is 3, and the part now claims it too
    assert '<o:idmap v:ext="edit" data="1,3"/>' in new
    # the part as it was, up to its end, where our one shape follows
    assert new.startswith(vml.replace('data="1"', 'data="1,3"').removesuffix("</xml>"))
    assert new.count("<v:shape ") == vml.count("<v:shape ") + 1 and new.endswith("</xml>")
    assert new.count("<v:shapetype") == 1 and 'type="#_x0000_t202"' in new.split("_x0000_s3073")[2]
    assert "<x:Row>1</x:Row><x:Column>1</x:Column>" in new
    comments = changed["xl/comments1.xml"].decode()
    assert "<author>xlnet</author>" in comments and '<comment ref="B2" authorId="2"' in comments
    assert '<comment ref="A1" authorId="0"><text><r><t>mine</t></r></text></comment>' in comments


@pytest.mark.parametrize(
    "rows, theirs, where",
    [
        (1, (), (2, 2)),
        (2, (), (3, 2)),
        (3, (("C4", "mine", 0),), (4, 2)),
        (2, (("C4", "x", 0),), (2, 2)),
    ],
)
def test_a_note_on_a_threaded_cell_moves_or_joins_the_stand_in(rows, theirs, where):
    """A note bound for a threaded cell moves to the next cell of its block with no comment;
    in a block with none free it is appended to the thread's legacy stand-in. The threaded
    part is never touched."""
    from xlnet.feedback.notes import SEPARATOR, Note, Package, add_notes

    vml = EXCEL_VML_HEAD.format(block=1) + _excel_note(1025, 2, 2) + "</xml>"
    threads = (
        f'<ThreadedComments xmlns="{TC_NS}"><threadedComment ref="C3" id="{THREAD_ID}"/>'
        "</ThreadedComments>"
    )
    comments = _student_comments(("C3", "[Threaded comment] hi", 1), *theirs)
    parts = _package(vml, comments, threads)
    changed: dict[str, bytes] = {}
    pkg = Package(parts, changed, parts["[Content_Types].xml"].decode())
    block = tuple((r, 2) for r in range(2, 2 + rows))
    add_notes(pkg, "xl/worksheets/sheet1.xml", SHEET_XML, [Note((2, 2), "dW: wrong", block)])
    assert THREADED_PART not in changed
    new_comments = changed["xl/comments1.xml"].decode()
    new = changed["xl/drawings/vmlDrawing1.vml"].decode()
    assert all(f'<comment ref="{ref}" authorId="{a}"><text><r><t>{t}</t></r></text></comment>'
               in new_comments for ref, t, a in theirs)  # fmt: skip
    if where == (2, 2):
        assert f"<t>[Threaded comment] hi</t></r>{RUN_HEAD}{SEPARATOR}dW: wrong</t>" in new_comments
        assert new == vml  # the stand-in's shape serves both
    else:
        ref = openpyxl.utils.get_column_letter(where[1] + 1) + str(where[0] + 1)
        assert f'<comment ref="{ref}" authorId="2"' in new_comments
        assert "dW: wrong\n(the first wrong cell, C3, holds a threaded comment)" in new_comments
        assert f"<x:Row>{where[0]}</x:Row><x:Column>2</x:Column>" in new
        assert new.startswith(vml.removesuffix("</xml>"))


def test_a_workbook_with_single_quoted_attributes_is_marked(tmp_path, cli, run, graded):
    """XML allows either quote: the copy finds the sheets (and the styles part through the
    workbook's rels) and marks them, where it used to find none and mark nothing."""
    src = run[0][0]
    odd = tmp_path / "squote.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(odd, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename in ("xl/workbook.xml", "xl/_rels/workbook.xml.rels"):
                data = re.sub(rb'(\s[\w:]+)="([^"]*)"', rb"\1='\2'", data)
            zout.writestr(item, data)
    out = tmp_path / "fb"
    assert cli("check", "--template", "klaas-ch1", odd, "--feedback", out).returncode == 1
    wb = openpyxl.load_workbook(out / odd.name)
    notes = [c for ws in wb for row in ws.iter_rows() for c in row if c.comment]
    wrong = [b for b in graded[src].graded if b.verdict != "correct"]
    assert len(notes) == len(wrong) and all(c.fill.fgColor.rgb == "FFFBE3E3" for c in notes)
