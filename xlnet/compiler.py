"""Formulas compiled by `formulas`, once per relative form, and computed one cell at a time.

Each distinct formula (up to where its references point) is parsed once; its vectorised plan
(batch.py) comes from the parse, and formulas' own compiled function, which the cell-by-cell
path runs, is built only when some cell needs it. What `formulas` makes of a text does not
depend on the book, so parses are also shared by every evaluation in the process (a batch of
files, each re-evaluation of one); where the inputs point is resolved per evaluation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from formulas import Parser
from formulas.functions.operators import OPERATORS
from formulas.tokens.operand import XlError

from . import functions
from .batch import Plan, make_plan
from .refs import EvalError, Ref, Resolver
from .values import scalar, xl_error

_NEGATE = OPERATORS["U-"]
# schedula logs a traceback for every function that fails; a failure is an error value.
for _name in ("schedula", "formulas"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class _Parsed:
    """What `formulas` makes of one formula text, whatever the book."""

    builder: Any
    plan: Plan | None
    error: tuple[XlError, str] | None  # the text does not parse
    address: frozenset[str] = frozenset()  # inputs that ROW, COLUMN, ROWS... take


# Keyed by the text alone, which is all a parse depends on (where its inputs point is resolved
# per evaluation), so no key is too coarse. Bounded by count (a parse is ~30 kB: 15 MB at most;
# the chapter-1 sheet has ~30 distinct texts, a class's files ~100); least recently used first.
# formulas' compiled functions are not kept: each holds its last call's inputs, views of one
# evaluation's grids, which must not outlive it.
_PARSED_MAX = 512
_parsed: dict[str, _Parsed] = {}


def _parse(parser: Parser, text: str) -> _Parsed:
    hit = _parsed.pop(text, None)
    if hit is None:
        try:
            tokens, builder = parser.ast(text)
            address = _own_functions(builder)
            plan = make_plan(builder, _double_negations(tokens, builder))
            hit = _Parsed(builder, plan, None, address)
        except Exception as exc:  # formulas raises many types for what it cannot parse
            hit = _Parsed(None, None, (xl_error("#NAME?"), f"cannot compile {text}: {exc}"))
        while len(_parsed) >= _PARSED_MAX:
            del _parsed[next(iter(_parsed))]
    _parsed[text] = hit  # last: the most recently used
    return hit


@dataclass
class Compiled:
    """One formula as `formulas` parsed it, for every cell whose formula has its form."""

    text: str  # "=..." of the cell whose references `refs` are
    here: int
    refs: list[Ref]
    builder: Any = None
    plan: Plan | None = None  # the vectorised form, where every function has one
    plan_order: list[int] = field(default_factory=list)  # plan input -> reference index
    error: tuple[XlError, str] | None = None  # what every cell holds when it cannot compile
    func: Callable | None = None
    order: list[int] = field(default_factory=list)  # func input -> reference index
    address: frozenset[str] = frozenset()  # inputs whose address a function reads
    addressed: list[bool] = field(default_factory=list)  # per func input: one of those
    # Reference index -> where a whole column or row ends for ROWS and COLUMNS (the sheet's
    # end; `refs` stop at its used cells, all that is read of its values).
    whole: dict[int, Ref] = field(default_factory=dict)


class Compiler:
    """Parses each distinct formula form once (a cache keyed by the group's compile key)."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        functions.load()
        self.parser = Parser()
        self.cache: dict[tuple, Compiled] = {}

    def get(self, key: tuple, text: str, here: int, refs: list[Ref]) -> Compiled:
        """The compiled form shared by every formula of `key`; `text` and `refs` are those of
        one of them. Raises EvalError when formulas' inputs do not match the references."""
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        body = text[1:] if text.startswith("=") else text
        compiled = Compiled("=" + body, here, refs)
        parsed = _parse(self.parser, compiled.text)
        compiled.builder, compiled.plan, compiled.error = parsed.builder, parsed.plan, parsed.error
        compiled.address = parsed.address
        if compiled.plan is not None:
            compiled.plan_order = [self._index(inp, compiled) for inp, _ in compiled.plan.inputs]
            for (inp, _), k in zip(compiled.plan.inputs, compiled.plan_order, strict=True):
                self._whole(inp, k, compiled)
        self.cache[key] = compiled
        return compiled

    def function(self, compiled: Compiled) -> None:
        """formulas' own function for `compiled`, for the cell-by-cell path."""
        if compiled.func is not None or compiled.error is not None:
            return
        try:
            func = compiled.builder.compile()  # type: ignore[attr-defined]
        except Exception as exc:
            compiled.error = (xl_error("#NAME?"), f"cannot compile {compiled.text}: {exc}")
            return
        compiled.order = [self._index(inp, compiled) for inp in func.inputs]
        compiled.addressed = [inp in compiled.address for inp in func.inputs]
        for inp, k in zip(func.inputs, compiled.order, strict=True):
            self._whole(inp, k, compiled)
        compiled.func = func

    def _index(self, inp: str, compiled: Compiled) -> int:
        target = self.resolver.input_target(inp, compiled.here, compiled.text)
        try:
            return compiled.refs.index(target)
        except ValueError:
            raise EvalError(f"cannot match input {inp!r} of {compiled.text}") from None

    def _whole(self, inp: str, k: int, compiled: Compiled) -> None:
        if inp in compiled.address:
            full = self.resolver.input_target(inp, compiled.here, compiled.text, clip=False)
            if full != compiled.refs[k]:
                compiled.whole[k] = full


def _own_functions(builder: Any) -> frozenset[str]:
    """xlnet's ROW, COLUMN, ROWS, COLUMNS and AREAS in place of formulas' (functions.py), and
    INDEX with Excel's row or column 0; returns the inputs whose address the former read."""
    address = set()
    for fid, node in builder.dsp.nodes.items():
        if node["type"] != "function":
            continue
        name = str(fid).split("<")[0].upper()
        if name in functions.ADDRESS:
            node["function"] = functions.ADDRESS[name]
            address.update(i for i in node.get("inputs") or () if isinstance(i, str))
        elif name == "INDEX":
            node["function"] = functions.index(node["function"])
    return frozenset(address)


def _negate_twice(x: object) -> object:
    return _NEGATE(_NEGATE(x))


def _double_negations(tokens: list, builder: Any) -> dict[str, str]:
    """formulas folds a run of signs into one by parity, so --x parses as +x, which leaves a
    boolean a boolean; in Excel each minus makes a number (SUMPRODUCT(--(a=b)) counts).
    Each such node is given two negations instead; returns them for the vectorised plan."""
    out = {}
    for token in tokens:
        if token.name != "u+" or "-" not in token.attr.get("sum_minus", ""):
            continue
        for fid, node in builder.dsp.nodes.items():
            if node["type"] == "function" and node.get("outputs") == [token.node_id]:
                node["function"] = _negate_twice
                out[fid] = "U--"
    return out


def compute(
    compiled: Compiled, args: list[np.ndarray], nr: int, nc: int
) -> tuple[np.ndarray, str | None]:
    """One formula's values (nr x nc) from its inputs, and why it is an error (or None)."""
    if compiled.error is not None:
        out = np.empty((nr, nc), dtype=object)
        out.fill(compiled.error[0])
        return out, compiled.error[1]
    why = None
    try:
        res = compiled.func(*args)  # type: ignore[misc]
    except Exception as exc:  # a function failing is an error value, as in a spreadsheet
        res, why = failure(exc)
    if nr * nc == 1 and isinstance(res, np.ndarray) and res.size > 1:
        why = "a plain formula whose result is an array (implicit intersection)"
    return shape(res, nr, nc), why


def failure(exc: Exception) -> tuple[XlError, str]:
    """The error value and cause of a function that raised: an unknown function (a typo, or one
    `formulas` lacks) is #NAME?, as Excel shows a typo; anything else #VALUE!."""
    args = getattr(exc, "args", ())
    if len(args) >= 3 and isinstance(args[1], str) and isinstance(args[2], NotImplementedError):
        return xl_error("#NAME?"), f"{args[1]} is not a function xlnet's evaluator computes"
    return xl_error("#VALUE!"), f"evaluation failed: {' '.join(str(exc).split())}"


def shape(res: object, nr: int, nc: int) -> np.ndarray:
    out = np.empty((nr, nc), dtype=object)
    if isinstance(res, np.ndarray) and res.size > 1:
        if nr * nc == 1:
            # A plain formula that yields an array: Excel and LibreOffice would implicitly
            # intersect or show #VALUE!; flag it rather than pick an element.
            out[0, 0] = xl_error("#VALUE!")
            return out
        arr = res if res.ndim == 2 else res.reshape(1, -1)
        for i in range(nr):
            for j in range(nc):
                ii = i if arr.shape[0] > 1 else 0
                jj = j if arr.shape[1] > 1 else 0
                inside = (arr.shape[0] == 1 or i < arr.shape[0]) and (
                    arr.shape[1] == 1 or j < arr.shape[1]
                )
                out[i, j] = scalar(arr[ii, jj]) if inside else xl_error("#N/A")
        return out
    v = res.ravel()[0] if isinstance(res, np.ndarray) else res
    out[:, :] = scalar(v)
    return out
