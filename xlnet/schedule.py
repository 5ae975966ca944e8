"""The order of computation: rectangles of grouped cells, their dependencies and levels.

The cells of a group are cut into maximal rectangles (one per block and epoch in xlnet's own
sheets). A rectangle depends on every rectangle that the bounding box of its cells' reads
touches; rectangles are computed by level (one more than the highest level they read), and the
rectangles of one group at one level form one batch. Only where rectangles read each other in
a circle (a group reading itself, or a true circular reference) are the cells of that circle
scheduled one by one, depth-first, as the cells of any spreadsheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from . import a1
from .groups import Group
from .refs import EvalError

Cells = slice | np.ndarray  # a group's cells: a run of them, or any of them


@dataclass
class Batch:
    """Cells of one group computed in one step: none of them reads another."""

    group: int
    cells: Cells
    box: tuple[int, int, int, int] | None = None  # r0, c0, r1, c1: the cells are this block


@dataclass
class Schedule:
    """Batches in the order they are computed."""

    batches: list[Batch]
    circular: list[tuple[int, int, str]]  # lenient: (group, cell, why) left out as #REF!


@dataclass
class _Rects:
    """Every group's rectangles, one per index."""

    sheet: np.ndarray
    r0: np.ndarray
    c0: np.ndarray
    r1: np.ndarray
    c1: np.ndarray
    group: np.ndarray
    start: np.ndarray  # the rectangle's cells are start:end of its group's (sorted) cells
    end: np.ndarray


def schedule(
    groups: list[Group], shapes: list[tuple[int, int]], names: list[str], lenient: bool
) -> Schedule:
    """Batches in an order that computes every cell after all it reads. Each group's cells
    are reordered in place so that the cells of a rectangle are contiguous."""
    rects = _rectangles(groups)
    # owner: 1 + the rectangle holding each cell, 0 for none (zeros cost nothing until touched)
    owner = [np.zeros(shape, dtype=np.int32) for shape in shapes]
    boxes = zip(
        *(x.tolist() for x in (rects.sheet, rects.r0, rects.c0, rects.r1, rects.c1)), strict=True
    )
    for k, (s, r0, c0, r1, c1) in enumerate(boxes):
        owner[s][r0 : r1 + 1, c0 : c1 + 1] = k + 1
    deps = _dependencies(groups, rects, owner)
    del owner
    group = rects.group.tolist()
    level = [0] * len(deps)
    batches: dict[tuple[int, int], list[int]] = {}  # (level, group) -> rectangles
    circles: list[tuple[int, list[int]]] = []
    for comp in _components(deps):
        inside = set(comp)
        lv = 1 + max((level[d] for k in comp for d in deps[k] if d not in inside), default=0)
        for k in comp:
            level[k] = lv
        if len(comp) == 1 and comp[0] not in deps[comp[0]]:
            batches.setdefault((lv, group[comp[0]]), []).append(comp[0])
        else:
            circles.append((lv, comp))
    steps = [(lv, gi, ks) for (lv, gi), ks in batches.items()]
    steps += [(lv, -1, comp) for lv, comp in circles]
    steps.sort(key=lambda step: step[0])
    out = Schedule([], [])
    for _, gi, ks in steps:
        if gi >= 0:
            ks = sorted(ks)
            box = None
            if len(ks) == 1 and groups[gi].size is None:
                k = ks[0]
                box = (int(rects.r0[k]), int(rects.c0[k]), int(rects.r1[k]), int(rects.c1[k]))
            out.batches.append(Batch(gi, _cells(rects, ks), box))
        else:
            _circle(groups, rects, ks, shapes, names, lenient, out)
    return out


def _cells(rects: _Rects, ks: list[int]) -> Cells:
    if all(rects.end[a] == rects.start[b] for a, b in pairwise(ks)):
        return slice(int(rects.start[ks[0]]), int(rects.end[ks[-1]]))
    return np.concatenate([np.arange(rects.start[k], rects.end[k]) for k in ks])


def _rectangles(groups: list[Group]) -> _Rects:
    parts = []
    for gi, g in enumerate(groups):
        n = len(g.rows)
        if g.size is not None:  # each array formula is a rectangle of its own
            nr, nc = g.size
            perm = np.arange(n)
            r0, c0, r1, c1 = g.rows, g.cols, g.rows + nr - 1, g.cols + nc - 1
            start = np.arange(n)
        else:
            # Runs down each column, then runs of equal runs side by side.
            by_col = np.lexsort((g.rows, g.cols))
            r, c = g.rows[by_col], g.cols[by_col]
            run = np.r_[0, np.cumsum((c[1:] != c[:-1]) | (r[1:] != r[:-1] + 1))]
            first = np.r_[0, np.flatnonzero(np.diff(run)) + 1]
            last = np.r_[first[1:], n] - 1
            rr0, rr1, rc = r[first], r[last], c[first]
            by_row = np.lexsort((rc, rr1, rr0))
            a0, a1_, ac = rr0[by_row], rr1[by_row], rc[by_row]
            new = (a0[1:] != a0[:-1]) | (a1_[1:] != a1_[:-1]) | (ac[1:] != ac[:-1] + 1)
            rect_of_sorted_run = np.r_[0, np.cumsum(new)]
            rect_of_run = np.empty_like(rect_of_sorted_run)
            rect_of_run[by_row] = rect_of_sorted_run
            rect_of_cell = np.empty(n, dtype=np.int64)
            rect_of_cell[by_col] = rect_of_run[run]
            perm = np.lexsort((g.cols, g.rows, rect_of_cell))  # each block row by row
            rid = rect_of_cell[perm]
            start = np.r_[0, np.flatnonzero(np.diff(rid)) + 1]
            rows, cols = g.rows[perm], g.cols[perm]
            r0 = np.minimum.reduceat(rows, start)
            r1 = np.maximum.reduceat(rows, start)
            c0 = np.minimum.reduceat(cols, start)
            c1 = np.maximum.reduceat(cols, start)
        _permute(g, perm)
        end = np.r_[start[1:], n]
        parts.append((np.full(len(start), g.sheet), r0, c0, r1, c1, np.full(len(start), gi),
                      start, end))  # fmt: skip
    fields = [np.concatenate([p[k] for p in parts]).astype(np.int64) if parts
              else np.zeros(0, dtype=np.int64) for k in range(8)]  # fmt: skip
    return _Rects(*fields)


def _permute(g: Group, perm: np.ndarray) -> None:
    g.rows, g.cols, g.order = g.rows[perm], g.cols[perm], g.order[perm]
    for rc in g.refs:
        rc.r0, rc.c0 = rc.r0[perm], rc.c0[perm]


def _dependencies(groups: list[Group], rects: _Rects, owner: list[np.ndarray]) -> list[set[int]]:
    """For each rectangle, the rectangles the bounding boxes of its references touch."""
    deps: list[set[int]] = [set() for _ in range(len(rects.group))]
    seen: dict[tuple[int, int, int, int, int], list[int]] = {}
    for gi, g in enumerate(groups):
        ks = np.flatnonzero(rects.group == gi)
        if not len(ks):
            continue
        start = rects.start[ks]
        for rc in g.refs:
            if rc.address:  # ROW(A5), ROWS(A1:A9): where the range is, not what it holds
                continue
            lo_r = np.minimum.reduceat(rc.r0, start).tolist()
            hi_r = (np.maximum.reduceat(rc.r0, start) + rc.h - 1).tolist()
            lo_c = np.minimum.reduceat(rc.c0, start).tolist()
            hi_c = (np.maximum.reduceat(rc.c0, start) + rc.w - 1).tolist()
            for j, k in enumerate(ks.tolist()):
                box = (rc.sheet, lo_r[j], lo_c[j], hi_r[j], hi_c[j])
                hit = seen.get(box)
                if hit is None:
                    window = owner[rc.sheet][box[1] : box[3] + 1, box[2] : box[4] + 1]
                    if window.size <= 64:
                        hit = [x - 1 for x in set(window.ravel().tolist()) if x]
                    elif (top := int(window.max())) == int(window.min()):
                        hit = [top - 1] if top else []  # one block read whole: the usual case
                    else:
                        ids = np.unique(window)
                        hit = (ids[ids > 0] - 1).tolist()
                    seen[box] = hit
                deps[k].update(hit)
    return deps


def _components(deps: list[set[int]]) -> list[list[int]]:
    """Strongly connected components (Tarjan's, without recursion), each after all it reads."""
    index = [-1] * len(deps)
    low = [0] * len(deps)
    on_stack = [False] * len(deps)
    stack: list[int] = []
    out: list[list[int]] = []
    counter = 0
    for root in range(len(deps)):
        if index[root] >= 0:
            continue
        work = [(root, iter(deps[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, it = work[-1]
            advanced = False
            for d in it:
                if index[d] < 0:
                    index[d] = low[d] = counter
                    counter += 1
                    stack.append(d)
                    on_stack[d] = True
                    work.append((d, iter(deps[d])))
                    advanced = True
                    break
                if on_stack[d]:
                    low[node] = min(low[node], index[d])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack[x] = False
                    comp.append(x)
                    if x == node:
                        break
                out.append(comp)
    return out


_PENDING = np.int32(2**30)  # the level of a formula cell not yet scheduled
Node = tuple[int, int, int]  # sheet, row, col of a formula (the anchor of an array formula)


def _circle(
    groups: list[Group],
    rects: _Rects,
    ks: list[int],
    shapes: list[tuple[int, int]],
    names: list[str],
    lenient: bool,
    out: Schedule,
) -> None:
    """Rectangles that read each other: their cells scheduled one by one, depth-first, each
    one level above the highest level it reads (cells outside the circle are done: 0)."""
    level: dict[int, np.ndarray] = {}
    nodes: dict[tuple[int, int, int], tuple[int, int]] = {}  # anchor -> (group, cell)
    master: dict[tuple[int, int, int], tuple[int, int, int]] = {}
    for k in ks:
        gi = int(rects.group[k])
        g = groups[gi]
        nr, nc = g.size or (1, 1)
        for i in range(int(rects.start[k]), int(rects.end[k])):
            s, r, c = g.sheet, int(g.rows[i]), int(g.cols[i])
            if s not in level:
                level[s] = np.zeros(shapes[s], dtype=np.int32)
            level[s][r : r + nr, c : c + nc] = _PENDING
            nodes[(s, r, c)] = (gi, i)
            if nr * nc > 1:
                for rr in range(r, r + nr):
                    for cc in range(c, c + nc):
                        master[(s, rr, cc)] = (s, r, c)
    refs = {node: [groups[gi].ref(k, i) for k, rc in enumerate(groups[gi].refs) if not rc.address]
            for node, (gi, i) in nodes.items()}  # fmt: skip

    def visit(node: Node) -> list[Node] | int:
        """The level of `node` if all it reads is scheduled, else the cells still pending in
        the first window that has some (all of them, so the window is scanned once)."""
        lv = 0
        for s, r0, c0, r1, c1 in refs[node]:
            grid = level.get(s)
            if grid is None:
                continue
            window = grid[r0 : r1 + 1, c0 : c1 + 1]
            if not window.size:
                continue
            m = window.max()
            if m == _PENDING:
                return list(dict.fromkeys(
                    master.get(d, d) for d in ((s, r0 + int(i), c0 + int(j))
                                               for i, j in np.argwhere(window == _PENDING))
                ))  # fmt: skip
            lv = max(lv, int(m))
        return lv + 1

    batches: dict[tuple[int, int], list[int]] = {}
    # Depth-first, with the cells being expanded ("gray") forming the path from the start:
    # reaching one of them again is a circular reference. Started in the book's order, so
    # that lenient mode breaks a circle where a spreadsheet read from the top would.
    for start in sorted(nodes, key=lambda node: int(groups[nodes[node][0]].order[nodes[node][1]])):
        stack = [start]
        gray: set = set()
        while stack:
            node = stack[-1]
            s, r, c = node
            if level[s][r, c] != _PENDING:
                stack.pop()
                continue
            found = visit(node)
            if isinstance(found, list):
                gray.add(node)
                for dep in found:
                    if dep in gray:
                        why = f"circular reference through {names[dep[0]]}!{a1.cell(*dep[1:])}"
                        if not lenient:
                            raise EvalError(why, (names[dep[0]], dep[1], dep[2]))
                        # Break the circle at dep: it holds #REF! and is not computed.
                        gi, i = nodes[dep]
                        out.circular.append((gi, i, why))
                        nr, nc = groups[gi].size or (1, 1)
                        level[dep[0]][dep[1] : dep[1] + nr, dep[2] : dep[2] + nc] = 0
                        continue
                    stack.append(dep)
                continue
            stack.pop()
            gray.discard(node)
            gi, i = nodes[node]
            nr, nc = groups[gi].size or (1, 1)
            level[s][r : r + nr, c : c + nc] = found
            batches.setdefault((found, gi), []).append(i)
    for (_, gi), cells in sorted(batches.items(), key=lambda kv: kv[0][0]):
        out.batches.append(Batch(gi, np.array(sorted(cells), dtype=np.int64)))
