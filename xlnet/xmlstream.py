"""Streaming XML with expat: the parser every part of a workbook is read with, and the
shared-string table. Namespaces are resolved ("uri local"), DTDs refused, and a part is fed in
chunks, since a worksheet can be a gigabyte."""

from __future__ import annotations

import pyexpat
import re
from collections.abc import Callable, Iterator

CHUNK = 1 << 20


class PartError(ValueError):
    """The part cannot be read unambiguously; the message names the cell where one is known.
    `broken`: the part is not XML a spreadsheet program would open at all."""

    def __init__(self, message: str, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


def parser(
    start: Callable,
    end: Callable | None = None,
    text: Callable | None = None,
    names: dict[str, str] | None = None,
):
    """An expat parser with namespaces resolved ("uri local") that refuses DTDs: no OOXML
    part has one, and entity declarations are how XML bombs are built. Element names found
    in `names` are handed to the callbacks as those very string objects, so a callback can
    tell them apart with `is`."""
    p = pyexpat.ParserCreate(namespace_separator=" ", intern=dict(names or {}))
    p.buffer_text = True
    p.StartElementHandler = start
    if end is not None:
        p.EndElementHandler = end
    if text is not None:
        p.CharacterDataHandler = text

    def doctype(*_args) -> None:
        raise PartError("a DTD is declared, which no spreadsheet part has", broken=True)

    p.StartDoctypeDeclHandler = doctype
    return p


def feed(p, chunks: Iterator[bytes]) -> None:
    """Parse a part chunk by chunk (a part can be a gigabyte); XML errors become PartError."""
    try:
        for chunk in chunks:
            p.Parse(chunk, False)
        p.Parse(b"", True)
    except pyexpat.ExpatError as exc:
        raise PartError(f"not well-formed XML ({exc})", broken=True) from None


_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def xstring(text: str) -> str:
    """A cell's text as written: the format escapes a character XML cannot hold as _xHHHH_,
    and a literal "_x" that would read as such an escape as _x005F_x (XlsxWriter does both)."""
    if "_x" not in text:
        return text
    return _ESCAPED.sub(lambda m: chr(int(m[1], 16)), text)


def read_strings(chunks: Iterator[bytes]) -> list[str]:
    """The shared-string table: each <si>'s text, rich-text runs joined, phonetic runs left out."""
    strings: list[str] = []
    state = {"si": None, "collect": None, "rph": 0}

    def start(name: str, _attrs) -> None:
        local = name.rpartition(" ")[2]
        if local == "si":
            state["si"] = []
        elif local == "rPh":
            state["rph"] += 1
        elif local == "t" and state["si"] is not None and not state["rph"]:
            state["collect"] = []

    def text(data: str) -> None:
        if state["collect"] is not None:
            state["collect"].append(data)

    def end(name: str) -> None:
        local = name.rpartition(" ")[2]
        if local == "t" and state["collect"] is not None:
            state["si"].append("".join(state["collect"]))
            state["collect"] = None
        elif local == "rPh":
            state["rph"] -= 1
        elif local == "si":
            strings.append(xstring("".join(state["si"])))
            state["si"] = None

    feed(parser(start, end, text), chunks)
    return strings
