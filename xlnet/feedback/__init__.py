"""`xlnet check --feedback DIR`: an annotated copy and an HTML page per submission, and the
class's index.html."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from ..errors import XlnetError
from ..outfile import atomic_write
from ..template import Template
from ..verdicts import FileGrade
from .marks import marks_for
from .package import write_annotated
from .pages import index_page, student_page


def feedback_paths(files: list[Path], folder: Path) -> list[tuple[Path, Path]]:
    """Each submission's (copy, page) in `folder`; refused when two would collide, one is
    named index, or `folder` is (or holds) a submission."""
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
    return out


def write_feedback(
    files: list[Path],
    grades: list[FileGrade],
    folder: Path,
    template: Template | None,
    given: tuple[str, ...] | None,
) -> None:
    """Write the copies, the pages and index.html for `grades` (of `files`, in order)."""
    paths = feedback_paths(files, folder)
    folder.mkdir(parents=True, exist_ok=True)
    for f, g, (copy, page) in zip(files, grades, paths, strict=True):
        if not g.error:
            write_annotated(f, copy, marks_for(f, g, template, given))
        text = student_page(g)
        atomic_write(page, lambda tmp, t=text: Path(tmp).write_text(t, encoding="utf-8"))
    index = index_page(grades, [quote(p.name) for _, p in paths])
    atomic_write(folder / "index.html", lambda tmp: Path(tmp).write_text(index, encoding="utf-8"))
