"""Exercise workbooks: blank blocks for students to fill, per-student variants, and who a
variant was written for."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset
from .errors import XlnetError
from .outfile import atomic_write
from .program import GROUPS, Program, build_program
from .reference import glorot_uniform
from .run import setting
from .sheetwriter import Blanks
from .spec import MAX_SEED, Spec
from .template import Template
from .workbook import BuildResult, build
from .xlsxedit import edited_copy
from .xlsxio import Book

VARY_LR = (0.1, 1.0)  # --vary-lr draws a student's learning rate log-uniformly from this range
MAX_ROSTER = 2000
STUDENT_SHEET = "Student"  # in a template's per-student copy: who it is for, seed, lr


class ExerciseError(XlnetError, ValueError):
    """An exercise that cannot be written: a bad roster, an unknown group."""


def parse_given(text: str) -> tuple[str, ...]:
    """ "forward,loss" -> ("forward", "loss"); "none" -> ()."""
    parts = [p.strip().lower() for p in text.split(",") if p.strip()]
    if parts in ([], ["none"]):
        return ()
    if parts == ["all"]:
        return GROUPS
    bad = [p for p in parts if p not in GROUPS]
    if bad:
        raise ExerciseError(
            f"unknown block group {bad[0]!r}; choose from {', '.join(GROUPS)}, all or none"
        )
    return tuple(g for g in GROUPS if g in parts)


def blank_steps(program: Program, given: tuple[str, ...]) -> frozenset[str]:
    return frozenset(s.out for s in program.epoch_steps if s.op.group not in given)


def write_exercise(
    spec: Spec, dataset: Dataset, out: str | Path, given: tuple[str, ...], student: str = ""
) -> BuildResult:
    program = build_program(spec, dataset.n, dataset.f, dataset.k)
    blanks = blank_steps(program, given)
    if not blanks:
        raise ExerciseError("every block is given: nothing is left for the student to fill")
    return build(spec, dataset, out, Blanks(blanks, given, student))


def student_seed(base: int, student: str) -> int:
    """A seed of the student's own, stable across runs and machines."""
    digest = hashlib.sha256(f"{base}\0{student.strip()}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (MAX_SEED + 1)


def student_lr(seed: int) -> float:
    lo, hi = VARY_LR
    u = np.random.default_rng(seed).uniform(np.log(lo), np.log(hi))
    return round(float(np.exp(u)), 2)


@dataclass(frozen=True)
class Roster:
    """A roster as read: its header (empty when it has none), its rows, and the column that
    names the students."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    col: int

    @property
    def names(self) -> list[str]:
        return [r[self.col].strip() if self.col < len(r) else "" for r in self.rows]


def load_roster(path: str | Path) -> Roster:
    """The roster's rows, each naming a student (in the column named student, name or id,
    else the first), no two the same."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ExerciseError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ExerciseError(f"{path}: {exc.strerror or exc}") from None
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        raise ExerciseError(f"{path}: the roster is empty")
    head = [c.strip().lower() for c in rows[0]]
    col = next((head.index(k) for k in ("student", "name", "id") if k in head), None)
    header = tuple(c.strip() for c in rows[0]) if col is not None else ()
    body = rows[1:] if col is not None else rows
    roster = Roster(header, tuple(tuple(r) for r in body), col or 0)
    names = roster.names
    if any(not n for n in names):
        line = names.index("") + (2 if header else 1)
        raise ExerciseError(f"{path}: line {line} has no student name")
    if not names:
        raise ExerciseError(f"{path}: the roster lists no students")
    if len(names) > MAX_ROSTER:
        raise ExerciseError(f"{path}: {len(names)} students; at most {MAX_ROSTER} per run")
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            raise ExerciseError(f"{path}: student {n!r} is listed twice")
        seen.add(n.lower())
    return roster


def read_roster(path: str | Path) -> list[str]:
    """Student names or ids: the column named student, name or id, else the first column."""
    return load_roster(path).names


def make_folder(folder: Path) -> None:
    """An output folder, created with its parents when missing (`--outdir ex/`)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ExerciseError(f"output folder {str(folder)!r} is a file") from None
    except OSError as exc:
        raise ExerciseError(
            f"cannot create output folder {str(folder)!r}: {exc.strerror or exc}"
        ) from None


def file_stem(student: str) -> str:
    """A file name from a student's name: letters, digits, '-', '_' and '.' only."""
    stem = re.sub(r"[^\w.-]+", "_", student.strip(), flags=re.ASCII).strip("._")
    return stem or "student"


@dataclass(frozen=True)
class Variant:
    student: str
    path: Path
    seed: int
    lr: float


def write_roster(
    spec: Spec,
    dataset: Dataset,
    roster: str | Path,
    outdir: str | Path,
    given: tuple[str, ...],
    vary_lr: bool = False,
    template: Template | None = None,
) -> list[Variant]:
    """One exercise per student, each with its own seed (and learning rate with vary_lr): an
    xlnet exercise, or the template's workbook with the student's initial weights entered."""
    outdir = Path(outdir)
    names = read_roster(roster)
    stems = [file_stem(n) for n in names]
    clash = {s for s in stems if stems.count(s) > 1}
    if clash:
        raise ExerciseError(f"{roster}: two students map to the file name {sorted(clash)[0]!r}")
    make_folder(outdir)
    out = []
    for name, stem in zip(names, stems, strict=True):
        seed = student_seed(spec.seed, name)
        lr = student_lr(seed) if vary_lr else spec.lr
        path = outdir / f"{stem}.xlsx"
        if template is not None:
            write_template_exercise(template, path, Variant(name, path, seed, lr))
        else:
            s = dataclasses.replace(spec, lr=lr, seed=seed)
            write_exercise(s, dataset, path, given, student=name)
        out.append(Variant(name, path, seed, lr))
    return out


def write_template_exercise(
    template: Template, out: str | Path, variant: Variant | None = None
) -> Path:
    """The template's own workbook (the book's sheet): unchanged, or for one student with
    their initial weights (Glorot-uniform from their seed, biases 0) entered in the first form
    of each param block, their learning rate, and a Student sheet saying whose it is."""
    if template.source is None or not template.source.exists():
        raise ExerciseError(f"template {template.name} has no blank workbook to copy")
    out = Path(out)
    if variant is None:
        atomic_write(out, lambda tmp: shutil.copyfile(template.source, tmp))
    else:
        atomic_write(out, lambda tmp: _personalise(template, variant, Path(tmp)))
    return out


def _personalise(template: Template, variant: Variant, dst: Path) -> None:
    rng = np.random.default_rng(variant.seed)
    with edited_copy(template.source, dst) as book:
        for sheet in template.sheets:
            if sheet.name not in book.sheet_names:
                continue
            cells: dict[tuple[int, int], object] = {(sheet.lr.row, sheet.lr.col): variant.lr}
            for b in sheet.blocks:
                if b.kind != "param":
                    continue
                block = b.forms[0][1]
                if block.nrows * block.ncols > 1:
                    w = glorot_uniform(rng, block.nrows, block.ncols)
                else:
                    w = np.zeros((1, 1))
                cells.update({(r, c): float(w[i, j]) for i, j, r, c in block.cells()})
            book.enter(sheet.name, cells)
        rows = [("Student", variant.student), ("Seed", variant.seed),
                ("Learning rate", variant.lr), ("Template", template.name)]  # fmt: skip
        book.add_sheet(STUDENT_SHEET, rows)


def student_of(book: Book) -> str | None:
    """Who a per-student exercise was written for: its Settings row, or a template copy's
    Student sheet."""
    v = setting(book, "student")
    if v is None and STUDENT_SHEET.upper() in {s.upper() for s in book.sheets}:
        v = book.sheet(STUDENT_SHEET).values.get((0, 1))
    return v if isinstance(v, str) and v else None
