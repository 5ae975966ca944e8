"""Points per block from a TOML file (`xlnet check --points`): read, checked, and applied."""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import XlnetError
from .template import Template, TemplateError, valid_points
from .verdicts import FileGrade

Points = dict[tuple[str, str], float]  # (sheet, block name without epoch) -> points


class PointsError(XlnetError, ValueError):
    """A points file that cannot be used: bad TOML, an unknown or repeated block, bad points."""


def read_points(path: str | Path, template: Template | None = None) -> Points:
    """`[[sheet]] name = "..."` with `blocks = [{name = "...", points = N}, ...]`, the shape of a
    template's sheets (block names repeat across sheets); checked against `template`'s graded
    blocks when given, before any file is graded."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PointsError(f"{path}: not a readable TOML points file ({exc})") from None
    out: Points = {}
    sheets = data.get("sheet")
    if not isinstance(sheets, list) or not sheets:
        raise PointsError(f"{path}: no [[sheet]] tables")
    for s in sheets:
        blocks = s.get("blocks") if isinstance(s, dict) else None
        if not isinstance(s.get("name"), str) or not isinstance(blocks, list):
            raise PointsError(f"{path}: each [[sheet]] needs a name and a list of blocks")
        for b in blocks:
            if not isinstance(b, dict) or not isinstance(b.get("name"), str):
                raise PointsError(f"{path}: sheet {s['name']!r}: a block without a name")
            key = (s["name"], b["name"])
            where = f"{path}: sheet {key[0]!r} block {key[1]!r}"
            if key in out:
                raise PointsError(f"{where} is listed twice")
            try:
                out[key] = valid_points(b.get("points"), where)
            except TemplateError as exc:
                raise PointsError(str(exc)) from None
    if template is not None:
        _check(out, _template_blocks(template), path)
    return out


def _template_blocks(template: Template) -> set[tuple[str, str]]:
    """The (sheet, block) pairs a template grades: every block but the given ones."""
    return {(s.name, b.block_name) for s in template.sheets for b in s.blocks if b.kind != "input"}


def _check(points: Points, known: set[tuple[str, str]], path: str | Path) -> None:
    """Refuse the first entry naming a block that is not graded."""
    for sheet, block in points:
        if (sheet, block) not in known:
            names = sorted(b for s, b in known if s == sheet)
            have = f"its blocks: {', '.join(names)}" if names else "no such sheet"
            raise PointsError(f"{path}: sheet {sheet!r} block {block!r} is not graded ({have})")


def apply_points(grades: list[FileGrade], points: Points, path: str | Path) -> None:
    """Give each graded block its points (every epoch of a block in an xlnet exercise), once
    every entry is found to name a graded block (without a template, what the files hold)."""
    graded = {(s.sheet, b.block) for g in grades for s in g.sheets for b in s.blocks}
    if graded:
        _check(points, graded, path)
    for g in grades:
        for s in g.sheets:
            for b in s.blocks:
                b.points = points.get((s.sheet, b.block), b.points)
