"""The VML part that draws a sheet's legacy comments: note shapes appended to it, the shapes it
holds kept as they are, its o:idmap and shape numbers kept consistent with the workbook's."""

from __future__ import annotations

import re
from collections.abc import Callable

_NS = {
    "v": "urn:schemas-microsoft-com:vml",
    "o": "urn:schemas-microsoft-com:office:office",
    "x": "urn:schemas-microsoft-com:office:excel",
}
NEW_VML = "<xml></xml>"  # a sheet without one gets this, filled in by merge_vml
# (blocks the part claims, how many) -> (free shape numbers, the blocks with any new ones)
Numbers = Callable[[list[int], int], tuple[list[int], list[int]]]


def idmap(text: str) -> tuple[re.Match | None, list[int]]:
    """The o:idmap tag of a VML part and the id blocks its data lists ("1" or "1,2")."""
    m = re.search(r"<(?:\w+:)?idmap\b[^>]*>", text)
    data = re.search(r"\sdata\s*=\s*[\"']([^\"']*)", m.group(0)) if m else None
    return m, [int(n) for n in re.findall(r"\d+", data.group(1))] if data else []


def merge_vml(text: str, cells: list[tuple[int, int]], numbers: Numbers) -> str | None:
    """`text` with a hidden note shape for each of `cells` that has none yet, or None when the
    part has no <xml> root to put them in. Shape numbers come from `numbers`, in the blocks
    the part's o:idmap claims (a block is added to it when they are full)."""
    root = re.search(r"<xml\b[^>]*>", text)
    closes = list(re.finditer(r"</xml\s*>", text))
    close = closes[-1] if closes else None
    if root is None or close is None:
        return None
    noted = _noted(text)
    wanted = [c for c in dict.fromkeys(cells) if c not in noted]
    if not wanted:
        return text
    bound = re.findall(r"\sxmlns:(\w+)\s*=\s*[\"']([^\"']*)", root.group(0))
    everywhere = set(re.findall(r"\sxmlns:(\w+)\s*=", text))
    pre, declare = {}, ""
    for short, uri in _NS.items():
        pre[short] = next((p for p, u in bound if u == uri), "")
        if not pre[short]:
            name, k = short, 0
            while name in everywhere:
                k += 1
                name = f"{short}{k}"
            everywhere.add(name)
            pre[short] = name
            declare += f' xmlns:{name}="{uri}"'
    v, o, x = pre["v"], pre["o"], pre["x"]
    tag, blocks = idmap(text)
    got, blocks_now = numbers(blocks, len(wanted))
    shapetype, type_id = _shapetype(text, v, o)
    z = max((int(n) for n in re.findall(r"z-index:\s*(\d+)", text)), default=0)
    shapes = "".join(
        f'<{v}:shape id="_x0000_s{n}" {o}:spid="_x0000_s{n}" type="#{type_id}" style="position:'
        "absolute;margin-left:59.25pt;margin-top:1.5pt;width:180pt;height:90pt;z-index:"
        f'{z + k + 1};visibility:hidden" fillcolor="#ffffe1" {o}:insetmode="auto"><{v}:fill '
        f'color2="#ffffe1"/><{v}:shadow on="t" color="black" obscured="t"/><{v}:path '
        f'{o}:connecttype="none"/><{v}:textbox style="mso-direction-alt:auto"><div style="'
        f'text-align:left"></div></{v}:textbox><{x}:ClientData ObjectType="Note"><{x}:'
        f"MoveWithCells/><{x}:SizeWithCells/><{x}:Anchor>{c + 1}, 15, {max(r - 1, 0)}, 10, "
        f"{c + 4}, 15, {r + 5}, 4</{x}:Anchor><{x}:AutoFill>False</{x}:AutoFill><{x}:Row>{r}"
        f"</{x}:Row><{x}:Column>{c}</{x}:Column></{x}:ClientData></{v}:shape>"
        for k, (n, (r, c)) in enumerate(zip(got, wanted, strict=True))
    )
    # edited from the end backwards, so that the earlier offsets still hold
    text = text[: close.start()] + shapetype + shapes + text[close.start() :]
    data = ",".join(map(str, blocks_now))
    if tag is None:
        at = root.end()
        text = (
            text[:at]
            + f'<{o}:shapelayout {v}:ext="edit"><{o}:idmap {v}:ext="edit" data="{data}"/>'
            + f"</{o}:shapelayout>"
            + text[at:]
        )
    elif blocks_now != blocks:
        new = re.sub(r"\sdata\s*=\s*([\"'])[^\"']*\1", f' data="{data}"', tag.group(0), count=1)
        if new == tag.group(0):  # an idmap without data
            new = re.sub(r"\s*/?>$", lambda m: f' data="{data}"' + m.group(0), new, count=1)
        text = text[: tag.start()] + new + text[tag.end() :]
    return text[: root.end() - 1] + declare + text[root.end() - 1 :]


def _noted(text: str) -> set[tuple[int, int]]:
    """The cells the part already draws a note for."""
    out = set()
    for m in re.finditer(r"<(\w+:)?ClientData\b([^>]*)>(.*?)</\1?ClientData>", text, re.S | re.I):
        kind = re.search(r"ObjectType\s*=\s*[\"']([^\"']*)", m.group(2))
        row = re.search(r"<(?:\w+:)?Row>\s*(\d+)\s*<", m.group(3))
        col = re.search(r"<(?:\w+:)?Column>\s*(\d+)\s*<", m.group(3))
        if kind and kind.group(1) == "Note" and row and col:
            out.add((int(row.group(1)), int(col.group(1))))
    return out


def _shapetype(text: str, v: str, o: str) -> tuple[str, str]:
    """(the shapetype to add, or "" when the part has a note's one; the id shapes refer to)."""
    ids = set()
    for m in re.finditer(r"<(?:\w+:)?shapetype\b[^>]*>", text):
        sid = re.search(r"\sid\s*=\s*[\"']([^\"']*)", m.group(0))
        spt = re.search(r"\s\w+:spt\s*=\s*[\"']\s*(\d+)", m.group(0))
        if sid and spt and spt.group(1) == "202":
            return "", sid.group(1)
        if sid:
            ids.add(sid.group(1))
    tid = "_x0000_t202"
    k = 0
    while tid in ids:
        k += 1
        tid = f"_x0000_t202_{k}"
    return (
        f'<{v}:shapetype id="{tid}" coordsize="21600,21600" {o}:spt="202" path="m,l,21600r21600,'
        f'l21600,xe"><{v}:stroke joinstyle="miter"/><{v}:path gradientshapeok="t" '
        f'{o}:connecttype="rect"/></{v}:shapetype>'
    ), tid
