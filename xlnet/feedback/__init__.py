"""`xlnet check --feedback DIR`: an annotated copy and an HTML page per submission, and the
class's index.html."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from ..errors import XlnetError
from ..outfile import atomic_write
from ..template import Template
from ..verdicts import FileGrade
from .marks import marks_for
from .package import write_annotated
from .pages import index_page, student_page


def feedback_paths(
    files: list[Path], folder: Path, inputs: tuple[Path | None, ...] = ()
) -> list[tuple[Path, Path]]:
    """Each submission's (copy, page) in `folder`; refused when two would collide, one is
    named index, `folder` is (or holds) a submission, or an output would replace one of the
    other `inputs` (the template, its workbook, the points or the roster)."""
    if folder.exists() and not folder.is_dir():
        raise XlnetError(f"feedback folder {str(folder)!r} is a file, not a folder")
    if not folder.exists() and not folder.parent.is_dir():
        raise XlnetError(f"feedback folder {str(folder)!r}: folder {str(folder.parent)!r} "
                         "does not exist")  # fmt: skip
    seen: dict[str, Path] = {}
    out = []
    for f in files:
        if f.exists() and folder.exists() and f.resolve() == folder.resolve():
            raise XlnetError(f"feedback folder {str(folder)!r} is a submission")
        if folder.exists() and f.exists() and f.resolve().parent == folder.resolve():
            raise XlnetError(
                f"feedback folder {str(folder)!r} holds the submission "
                f"{str(f)!r}; choose another folder"
            )
        stem = f.stem
        if stem.lower() == "index":
            raise XlnetError(
                f"submission {str(f)!r} is named index, as the feedback's index.html; rename it"
            )
        if stem.lower() in seen:
            raise XlnetError(
                f"submissions {str(seen[stem.lower()])!r} and "
                f"{str(f)!r} share the name {stem!r} in the feedback folder"
            )
        seen[stem.lower()] = f
        ext = ".xlsm" if f.suffix.lower() == ".xlsm" else ".xlsx"
        out.append((folder / (stem + ext), folder / (stem + ".html")))
    written = [p for pair in out for p in pair] + [folder / "index.html"]
    for inp in inputs:
        if (
            inp is not None
            and inp.exists()
            and any(w.exists() and w.resolve() == inp.resolve() for w in written)
        ):
            raise XlnetError(f"the feedback would replace {str(inp)!r}; choose another folder")
    return out


def open_folder(folder: Path) -> None:
    """Create the feedback folder (its parent exists: feedback_paths checked) and make sure
    it can be written, before any grading."""
    try:
        folder.mkdir(exist_ok=True)
        atomic_write(folder / ".xlnet-probe", lambda tmp: Path(tmp).write_bytes(b""))
        (folder / ".xlnet-probe").unlink()
    except OSError as exc:
        raise XlnetError(f"feedback folder {str(folder)!r}: {exc.strerror or exc}") from None


def write_feedback(
    files: list[Path],
    grades: list[FileGrade],
    folder: Path,
    template: Template | None,
    given: tuple[str, ...] | None,
    names: list[str | None] | None = None,
) -> None:
    """Write the copies, the pages and index.html for `grades` (of `files`, in order);
    `names`: each file's student as the roster names them, where the file does not."""
    paths = feedback_paths(files, folder)
    folder.mkdir(exist_ok=True)
    who = names or [None] * len(grades)
    grades = [replace(g, student=g.student or n) for g, n in zip(grades, who, strict=True)]
    for f, g, (copy, page) in zip(files, grades, paths, strict=True):
        problem = None
        if not g.error:
            try:
                write_annotated(f, copy, marks_for(f, g, template, given))
            except (KeyError, ValueError, XlnetError) as exc:
                # A file that grades may still lay out its parts in ways the copy does not
                # handle (no styles part, say): its page says so; the class's feedback goes on.
                problem = f"no annotated copy: the file's parts are not as expected ({exc})"
        _text(page, student_page(g, problem))
    links = [quote(p.name, errors="surrogateescape") for _, p in paths]
    _text(folder / "index.html", index_page(grades, links))


def _text(path: Path, text: str) -> None:
    # A file name that is not UTF-8 (its bytes as surrogates) shows as "?", not a crash.
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", errors="replace"))
