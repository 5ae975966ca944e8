"""Grading many files at once, on all cores, and the gradebook CSV."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .exercises import Roster, file_stem
from .grade import grade_file
from .outfile import atomic_write
from .template import Template
from .verdicts import FileGrade


def grade_files(
    files: list[Path],
    template: Template | None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    given: tuple[str, ...] | None = None,
    reveal: bool = False,
) -> list[FileGrade]:
    """Grades in the order of `files`; a file that cannot be graded has its error set;
    `reveal` adds each block's expected formula."""
    jobs = min(jobs or os.cpu_count() or 1, len(files))
    out: list[FileGrade | None] = [None] * len(files)
    done = 0
    if jobs <= 1:
        for k, f in enumerate(files):
            out[k] = grade_file(f, template, given, reveal)
            done += 1
            if progress:
                progress(done, len(files))
        return [g for g in out if g is not None]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(grade_file, f, template, given, reveal): k for k, f in enumerate(files)
        }
        try:
            for fut in as_completed(futures):
                k = futures[fut]
                try:
                    out[k] = fut.result()
                except Exception as exc:  # a crash in one worker must not lose the batch
                    out[k] = FileGrade(str(files[k]), error=f"{files[k]}: grading failed "
                                       f"({type(exc).__name__}: {exc})")  # fmt: skip
                done += 1
                if progress:
                    progress(done, len(files))
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [g for g in out if g is not None]


def _cell(text: str) -> str:
    """A gradebook field that a spreadsheet opening the CSV will not run as a formula (a
    student's name comes from the file they handed in)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _column(sheet: str, block: str, epoch: int | None, sheets: int) -> str:
    name = block if epoch is None else f"{block} (epoch {epoch})"
    return name if sheets <= 1 else f"{sheet}: {name}"


def roster_rows(grades: list[FileGrade], roster: Roster) -> list[tuple[str, ...] | None]:
    """Each file's roster row: the student whose file name (`xlnet exercise --roster`'s
    file_stem, case aside) is the file's stem; None for a file no student matches."""
    by_stem = {file_stem(n).lower(): r for n, r in zip(roster.names, roster.rows, strict=True)}
    return [by_stem.get(Path(g.file).stem.lower()) for g in grades]


def roster_names(grades: list[FileGrade], roster: Roster) -> list[str | None]:
    """Each file's student as the roster names them; None for a file no student matches."""
    return [r[roster.col].strip() if r and roster.col < len(r) else None
            for r in roster_rows(grades, roster)]  # fmt: skip


def _roster_head(roster: Roster, own: list[str]) -> list[str]:
    head = list(roster.header) or ["name"]
    return [f"roster {h}" if h in own else h for h in head]


def report_rows(
    grades: list[FileGrade], roster: Roster | None = None
) -> tuple[list[str], list[dict]]:
    """The gradebook's columns and rows: the roster's columns first (with `roster`, so that an
    LMS finds its student columns), file, student, score, one verdict per block (the
    blocks of every file, in the order first seen), and the error of a file not graded."""
    sheets = max((len(g.sheets) for g in grades), default=0)
    columns: list[str] = []
    rows = []
    for g in grades:
        row: dict = {"file": g.file, "student": g.student or "", "score": g.score,
                     "error": g.error or ""}  # fmt: skip
        for s in g.sheets:
            for b in s.blocks:
                col = _column(s.sheet, b.block, b.epoch, sheets)
                if col not in columns:
                    columns.append(col)
                row[col] = b.verdict
        rows.append(row)
    head = ["file", "student", "score", *columns, "error"]
    if roster is None:
        return head, rows
    extra = _roster_head(roster, head)
    for row, found in zip(rows, roster_rows(grades, roster), strict=True):
        cells = found or ()  # a short row's missing cells, like an unmatched file's, are empty
        row.update({h: cells[k] if k < len(cells) else "" for k, h in enumerate(extra)})
    return [*extra, *head], rows


def report_csv(grades: list[FileGrade], roster: Roster | None = None) -> str:
    """The gradebook as CSV: one row per file (report_rows), its text escaped so that a
    spreadsheet opening it runs nothing."""
    head, rows = report_rows(grades, roster)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=head, restval="", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: f"{v:g}" if k == "score" else _cell(str(v)) for k, v in row.items()})
    return buf.getvalue()


def write_report(grades: list[FileGrade], path: Path, roster: Roster | None = None) -> None:
    """Write the gradebook atomically: a temporary file beside it, renamed into place."""
    text = report_csv(grades, roster)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8", errors="replace"))
