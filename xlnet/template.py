"""Declarative layouts of exercise workbooks (templates/*.toml): which block sits where on which
sheet, and what it computes from which other blocks."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from . import a1
from .block import Block
from .checks import CHECKS
from .errors import XlnetError

# Templates ship inside the package, as package data.
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
KINDS = ("input", "param", "formula", "entered")
_RANGE = re.compile(
    r"^(?:(?P<sheet>'(?:[^']|'')+'|[^!']+)!)?(?P<a>\$?[A-Z]{1,3}\$?\d+)(?::(?P<b>\$?[A-Z]{1,3}\$?\d+))?$"
)


class TemplateError(XlnetError, ValueError):
    """A template that cannot be used: unknown name, bad TOML, an inconsistent block."""


@dataclass(frozen=True)
class BlockSpec:
    name: str
    kind: str  # one of KINDS
    forms: tuple[tuple[str, Block], ...]  # (label, range); one unlabelled form when fixed
    check: object = None  # a name in checks.CHECKS, or a checks.Check
    args: tuple[str, ...] = ()
    values: tuple[tuple[float, ...], ...] | None = None  # a constant input (class values)
    epoch: int | None = None  # in a training workbook: the epoch; `name` is then "Z1@3"
    points: float = 1.0  # the block's weight in the score
    # The template's formulas (`xlnet check --reveal`): (form label, the formula of the form's
    # top-left cell). "=..." fills right and down, "{=...}" is one array formula over the
    # form. The labels are the block's own forms', or those of the block it `follows` (Z1's
    # formula depends on whether b1 is one scalar or one bias per class).
    formulas: tuple[tuple[str, str], ...] = ()
    follows: str | None = None

    @property
    def block_name(self) -> str:
        """The name shown in grades: the header, without the epoch."""
        return self.name.partition("@")[0]

    def formula_at(self, judged: dict[str, str], row: int, col: int) -> str | None:
        """The template's formula for cell (row, col), 0-based, given the form `judged` of
        each block so far (its own included): the top-left cell's formula filled there."""
        from .xlsxedit import moved_formula

        text = dict(self.formulas).get(judged.get(self.follows or self.name, ""))
        if not text or text.startswith("{"):
            return text or None
        block = dict(self.forms)[judged.get(self.name, self.forms[0][0])]
        return "=" + moved_formula(text[1:], (block.row, block.col), (row, col))


@dataclass(frozen=True)
class SheetSpec:
    name: str
    model: str
    lr: Block
    n: Block
    blocks: tuple[BlockSpec, ...]


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    path: Path
    source: Path | None  # the blank workbook the template describes
    sheets: tuple[SheetSpec, ...]


def parse_range(text: str, sheet: str) -> Block:
    """ "P3:R15" or "Data!A3:A180" -> a Block (on `sheet` unless the text names one)."""
    m = _RANGE.match(text.strip())
    if not m:
        raise TemplateError(f"not a cell range: {text!r}")
    name = m.group("sheet")
    if name:
        sheet = name[1:-1].replace("''", "'") if name.startswith("'") else name
    r0, c0 = a1.parse_cell(m.group("a"))
    r1, c1 = a1.parse_cell(m.group("b") or m.group("a"))
    return Block(sheet, min(r0, r1), min(c0, c1), abs(r1 - r0) + 1, abs(c1 - c0) + 1)


def available() -> list[str]:
    return sorted(p.stem for p in TEMPLATE_DIR.glob("*.toml"))


def load_template(name_or_path: str | Path) -> Template:
    """A template by name (klaas-ch1) or by the path of a .toml file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = TEMPLATE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise TemplateError(
                f"no template named {str(name_or_path)!r}; available: {', '.join(available())}"
            )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: no such template file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: not a valid TOML template ({exc})") from None
    try:
        return _template(data, path)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, TemplateError):
            raise TemplateError(f"{path}: {exc}") from None
        raise TemplateError(f"{path}: malformed template ({type(exc).__name__}: {exc})") from None


def _template(data: dict, path: Path) -> Template:
    sheets = []
    for s in data["sheet"]:
        blocks = []
        for b in s["blocks"]:
            blocks.append(_block(b, s["name"]))
        names = [b.name for b in blocks]
        for k, b in enumerate(blocks):
            _check_formulas(b, {a.name: a for a in blocks[:k]})
            if names.count(b.name) > 1:
                raise TemplateError(f"sheet {s['name']!r}: two blocks named {b.name!r}")
            for arg in b.args:
                if arg not in names[: names.index(b.name)]:
                    raise TemplateError(
                        f"block {b.name!r} reads {arg!r}, which is not a block above it"
                    )
        sheets.append(SheetSpec(s["name"], s.get("model", ""), parse_range(s["lr"], s["name"]),
                                parse_range(s["n"], s["name"]), tuple(blocks)))  # fmt: skip
    source = data.get("source")
    return Template(
        data["name"], data.get("title", data["name"]), path,
        (path.parent / source) if source else None, tuple(sheets),
    )  # fmt: skip


def _block(b: dict, sheet: str) -> BlockSpec:
    name = b["name"]
    check = b.get("check")
    kind = b.get("kind", "formula" if check else "input")
    if kind not in KINDS:
        raise TemplateError(f"block {name!r}: kind must be one of {', '.join(KINDS)}")
    if check is not None and check not in CHECKS:
        raise TemplateError(f"block {name!r}: unknown check {check!r}")
    if kind in ("formula", "entered") and check is None:
        raise TemplateError(f"block {name!r}: a {kind} block needs a check")
    if "values" in b:
        values = tuple(tuple(float(v) for v in row) for row in b["values"])
        return BlockSpec(name, kind, (), values=values)
    if "forms" in b:
        forms = tuple((label, parse_range(r, sheet)) for label, r in b["forms"].items())
    else:
        forms = (("", parse_range(b["range"], sheet)),)
    return BlockSpec(name, kind, forms, check, tuple(b.get("args", ())),
                     points=valid_points(b.get("points", 1.0), f"block {name!r}"),
                     formulas=_formulas(b, kind), follows=b.get("follows"))  # fmt: skip


def _formulas(b: dict, kind: str) -> tuple[tuple[str, str], ...]:
    """A block's `formula = "..."`, or `formulas = { label = "..." }`: one per form of its own
    or of the block it `follows`."""
    name = b["name"]
    if "formula" in b and "formulas" in b:
        raise TemplateError(f"block {name!r}: give formula or formulas, not both")
    given = {"": b["formula"]} if "formula" in b else dict(b.get("formulas", {}))
    if given and kind in ("input", "param"):
        raise TemplateError(f"block {name!r}: an {kind} block has no formula")
    for text in given.values():
        if not isinstance(text, str) or not re.match(r"^(=|\{=.*\}$)", text, re.S):
            raise TemplateError(
                f'block {name!r}: a formula starts with "=" (or is "{{=...}}"), not {text!r}'
            )
    return tuple(given.items())


def _check_formulas(b: BlockSpec, above: dict[str, BlockSpec]) -> None:
    """Each formula is keyed by a form of the block, or of the block it follows."""
    if b.follows is not None and b.follows not in above:
        raise TemplateError(
            f"block {b.name!r} follows {b.follows!r}, which is not a block above it"
        )
    keyed = above[b.follows] if b.follows else b
    labels = {label for label, _ in keyed.forms}
    for label, _ in b.formulas:
        if label not in labels:
            forms = ", ".join(repr(lbl) for lbl in labels if lbl) or "only one form"
            raise TemplateError(
                f"block {b.name!r}: a formula for {label or 'its one form'!r}; "
                f"{keyed.name!r} has {forms}"
            )


def valid_points(value: object, where: str) -> float:
    """A block's points: a positive number (TOML's booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise TemplateError(f"{where}: points must be a positive number, not {value!r}")
    return float(value)
