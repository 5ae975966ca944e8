"""Hints on a graded block: the common mistake a wrong block's values (or formulas) show, and
notes on a correct block that its values alone cannot vouch for."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import numpy as np

from . import a1
from .block import Block
from .operation import Check, ShapeMismatch
from .readings import numbers
from .refs import relative
from .scalars import Env
from .submission import Entered
from .template import BlockSpec
from .verdicts import close
from .workcopy import WorkingCopy

ERROR_HINTS = {
    "#VALUE!": "arithmetic on text, or on a range where one number is meant",
    "#NAME?": "an unknown function or name: a typo, or a function this spreadsheet lacks",
    "#DIV/0!": "a division by zero or by an empty cell",
    "#REF!": "a reference to a cell that was deleted or lies outside the sheet",
    "#NUM!": "a number out of range: EXP of a large value, or LN of zero or less",
    "#N/A": "a value that is not available: a lookup that found nothing, or an array formula "
    "larger than its result",
}
_LOG = re.compile(r"(?<![\w.])LOG(10)?\s*\(", re.I)
_RANGE = re.compile(r"(\$?)([A-Z]{1,3})(\$?)(\d+):(\$?)([A-Z]{1,3})(\$?)(\d+)")
_PLAIN_ARRAY = re.compile(
    r"(?<![\w.])SUM\s*\(\s*(?:EXP|LN|LOG|TANH)\s*\(\s*\$?[A-Z]{1,3}\$?\d+:", re.I
)
# SUMPRODUCT given a bare comparison as one of its arrays: (a=b) or a=b, neither multiplied
# by 1 nor negated twice.
_BOOLEAN_SUMPRODUCT = re.compile(
    r"(?<![\w.])SUMPRODUCT\s*\((?:[^()]*,)?\s*(?:\([^()]*[=<>][^()]*\)|[^(),-][^(),]*[=<>][^(),]*)"
    r"\s*[,)]",
    re.I,
)
# Joins a block's formula texts so that one search tells whether any of them matches: neither
# a word character, nor ".", nor space, so no pattern above matches across it.
_SEP = "\x00"


def text_hint(texts: Collection[str]) -> str | None:
    """A mistake the formulas themselves show, whatever their values."""
    if _LOG.search(_SEP.join(texts)):
        return "LOG is the base-10 logarithm; the cross-entropy needs LN"
    if _BOOLEAN_SUMPRODUCT.search(_SEP.join(texts)):
        return (
            "SUMPRODUCT of a comparison counts TRUE as 0 in Excel (LibreOffice counts it as "
            "1): write SUMPRODUCT(--(a=b)) or SUMPRODUCT((a=b)*1)"
        )
    return None


def advice(check: Check, texts: Collection[str], got: np.ndarray) -> str | None:
    """A note on a correct block: what the grade cannot see, or what another engine
    computes differently."""
    plain = [t for t in texts if not t.startswith("{")]
    if _PLAIN_ARRAY.search(_SEP.join(plain)):
        return (
            "SUM over EXP/LN/TANH of a range in a plain cell: Excel 365 computes it as "
            "arrays, LibreOffice and Excel 2019 or older do not; apply EXP/LN/TANH cell by "
            "cell and SUM those cells, or enter it with Ctrl+Shift+Enter"
        )
    if check.name == "grad_b" and got.size == 1 and abs(float(got[0, 0])) < 1e-12:
        return (
            "this scalar gradient is 0 for any formula (with softmax each sample's dZ sums "
            "to 0), so its value cannot show a mistake"
        )
    return None


def hint(
    spec: BlockSpec,
    check: Check,
    env: Env,
    args: list[np.ndarray],
    got: np.ndarray,
    expected: np.ndarray,
    block: Block,
    cell: tuple[int, int],
    values: Mapping[str, np.ndarray],
    cells: Entered,
    work: WorkingCopy,
) -> str | None:
    """The most specific explanation of a wrong block that the values support."""
    text = text_hint(cells.texts(block))
    if text:
        return text
    if close(got[:1, :1], expected[:1, :1]):  # right where it was written, wrong where filled
        slide = sliding_range(block, cell, cells)
        if slide:
            return slide
    beside = shifted_columns(spec, args, block, cell, cells, work)
    if beside:
        return beside
    shape = got.shape
    if check.mistakes is not None:
        try:
            for why, exp in check.mistakes(env, shape, *args):
                if exp.shape == shape and close(got, exp):
                    return why
        except (ShapeMismatch, ValueError):
            pass
    if check.uses_n and env.n and close(got, expected * env.n):
        return "a missing 1/N: divide by the number of samples"
    if close(got, -expected):
        return "the sign is flipped"
    for name, arg in zip(spec.args, args, strict=True):
        if arg.shape == got.shape and close(got, arg):
            return f"it only copies {display(name)}: the step itself is not applied"
    return transposed(got, expected) or _wrong_input(spec, check, env, args, got, values)


def _wrong_input(
    spec: BlockSpec,
    check: Check,
    env: Env,
    args: list[np.ndarray],
    got: np.ndarray,
    values: Mapping[str, np.ndarray],
) -> str | None:
    """A block that matches its formula fed with another block in place of one of its
    inputs: the wrong activation fed to a gradient, Z where A was meant, ..."""
    for pos, name in enumerate(spec.args):
        want = args[pos].shape
        for other, v in values.items():
            if other == name or other in spec.args or v.ndim != 2:
                continue
            if v.shape[0] != want[0] or v.shape[1] < want[1]:
                continue
            trial = list(args)
            trial[pos] = v[:, : want[1]]
            try:
                cands = check.expect(env, got.shape, *trial)
            except (ShapeMismatch, ValueError):
                continue
            if any(e.shape == got.shape and close(got, e) for _, e in cands):
                return (
                    f"{spec.block_name} is computed from {display(other)} where it needs "
                    f"{display(name)}"
                )
    return None


def sliding_range(block: Block, cell: tuple[int, int], cells: Entered) -> str | None:
    """A range that moved as the formula was copied right or down although it should have
    stayed: the wrong cell's formula is an exact copy of the first cell's (same relative
    form), and one of its ranges spans several cells in the direction of the copy."""
    r, c = cell
    here = cells.formula(block.sheet, r, c)
    top = cells.formula(block.sheet, block.row, block.col)
    if not here or not top or here.startswith("{") or (r, c) == (block.row, block.col):
        return None
    if relative(top, block.row, block.col) != relative(here, r, c):
        return None
    for g in _RANGE.findall(here):
        across = c != block.col and not (g[0] or g[4]) and g[1] != g[5]
        down = r != block.row and not (g[2] or g[6]) and g[3] != g[7]
        if across or down:
            way = "right" if across else "down"
            return (
                f"the range {_plain(g)} moved as the formula was filled {way}: anchor it "
                f"with $ ({_anchored(g, across)})"
            )
    return None


def shifted_columns(
    spec: BlockSpec,
    args: list[np.ndarray],
    block: Block,
    cell: tuple[int, int],
    cells: Entered,
    work: WorkingCopy,
) -> str | None:
    """A range of the wrong cell's formula that has an input's shape but sits one column
    beside it: the input's values are found one column left (or right) of what it reads,
    and not where it reads (the book author's softmax read AR:AT, z2 being AQ:AS)."""
    r, c = cell
    text = (cells.formula(block.sheet, r, c) or "").strip("{}")
    for m in _RANGE.finditer(text):
        if text[: m.start()].endswith("!"):
            continue  # a range on another sheet: its columns there say nothing about this one
        g = m.groups()
        (r0, c0), (r1, c1) = (a1.parse_cell(g[1] + g[3]), a1.parse_cell(g[5] + g[7]))
        for name, arg in zip(spec.args, args, strict=True):
            n, k = arg.shape
            if c1 - c0 + 1 != k:
                continue
            # A row of the input read by this sample's cell, or the input's whole height.
            top = r0 - (r - block.row) if r1 == r0 else r0 if r1 - r0 + 1 == n else -1
            if top < 0 or close(numbers(work, Block(block.sheet, top, c0, n, k))[0], arg):
                continue
            for d in (-1, 1):
                if c0 + d >= 0 and close(numbers(work, Block(block.sheet, top, c0 + d, n, k))[0],
                                         arg):  # fmt: skip
                    side = "right" if d < 0 else "left"
                    wanted = f"{a1.col_letters(c0 + d)}:{a1.col_letters(c1 + d)}"
                    return (
                        f"the formula reads columns {g[1]}:{g[5]}, one column to the {side} of "
                        f"{display(name)} ({wanted}): make it read {display(name)}'s own columns"
                    )
    return None


def transposed(got: np.ndarray, expected: np.ndarray) -> str | None:
    """The transpose of the expected block, where it fits (an MMULT with its factors swapped
    fills a KxF result into an FxK block: the corner holds the transpose, the rest #N/A)."""
    t = expected.T
    rows, cols = min(t.shape[0], got.shape[0]), min(t.shape[1], got.shape[1])
    if rows * cols < 2 or (t.shape == expected.shape and (t == expected).all()):
        return None
    if close(got[:rows, :cols], t[:rows, :cols]):
        r, c = expected.shape
        return (
            f"the block holds the transpose ({c}x{r}) of what it should ({r}x{c}): swap the "
            "factors of the product, or TRANSPOSE the other one"
        )
    return None


def _anchored(g: tuple[str, ...], across: bool) -> str:
    """The range with $ where its copy must not move."""
    if across:
        return f"${g[1]}{g[2]}{g[3]}:${g[5]}{g[6]}{g[7]}"
    return f"{g[0]}{g[1]}${g[3]}:{g[4]}{g[5]}${g[7]}"


def _plain(groups: tuple[str, ...]) -> str:
    return "".join(groups[:4]) + ":" + "".join(groups[4:])


def display(key: str) -> str:
    """A block's key as a student reads it: "dW1 (epoch 2)" for "dW1@2"."""
    name, _, epoch = key.partition("@")
    return f"{name} (epoch {epoch})" if epoch else name
