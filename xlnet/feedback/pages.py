"""The HTML feedback: one self-contained page per submission and the class's index.html."""

from __future__ import annotations

from collections import Counter
from html import escape

from ..verdicts import BlockGrade, FileGrade

_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;
vertical-align:top}th{background:#f3f3f3}.correct{background:#e8f4e1}
.wrong,.missing,.not_formula,.error{background:#fbe3e3}code{font-size:.95em}
td code{overflow-wrap:anywhere}td.formula{min-width:10em;max-width:28em}.note{color:#555}
.bar{display:inline-block;height:.8em;background:#5b8bd0}.share{min-width:12em}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _row(b: BlockGrade, sheet: str, reveal: bool, weighted: bool) -> str:
    name = b.block + (f" (epoch {b.epoch})" if b.epoch is not None else "")
    cell = b.cell or ""
    if cell.startswith(sheet + "!"):
        cell = cell[len(sheet) + 1 :]  # the table is the sheet's own
    cells = [name, b.verdict, cell, b.formula or "", _fmt(b.expected), _fmt(b.got), b.hint or ""]
    if weighted:
        cells.append(f"{b.points if b.verdict == 'correct' else 0:g} of {b.points:g}")
    tds = "".join(
        f'<td class="formula"><code>{escape(c)}</code></td>' if k == 3 and c
        else f"<td>{escape(c)}</td>"
        for k, c in enumerate(cells)
    )  # fmt: skip
    if reveal:
        tds += f'<td class="formula"><code>{escape(b.expected_formula or "")}</code></td>'
    return f'<tr class="{escape(b.verdict)}">{tds}</tr>'


def student_page(g: FileGrade, problem: str | None = None) -> str:
    """One submission's page: score, every block with its verdict and first wrong cell's
    formula, expected and got, hint, and the notes about each sheet; and the template's
    formulas where the grades carry them (--reveal)."""
    reveal = any(b.expected_formula for b in g.graded)
    who = g.file + (f" ({g.student})" if g.student else "")
    ok = sum(b.verdict == "correct" for b in g.graded)
    weighted = any(b.points != 1.0 for b in g.graded)
    pts = f", {g.points_earned:g} of {g.points_possible:g} points" if weighted else ""
    parts = [
        f"<h1><bdi>{escape(who)}</bdi></h1>",  # a student's right-to-left text stays inside
        f"<p><strong>Score {g.score:g}%</strong> ({ok} of {len(g.graded)} blocks correct{pts})</p>",
    ]
    if g.error:
        parts.append(f'<p class="error">{escape(g.error)}</p>')
    if problem:
        parts.append(f'<p class="note">{escape(problem)}</p>')
    head = ["block", "verdict", "cell", "formula", "expected", "got", "hint"]
    head += ["points"] if weighted else []
    if reveal:
        head.append("expected formula")
    for s in g.sheets:
        parts.append(f"<h2>{escape(s.sheet)}</h2>")
        parts += [f'<p class="note">Note: {escape(n)}</p>' for n in s.notes]
        rows = "".join(_row(b, s.sheet, reveal, weighted) for b in s.blocks)
        ths = "".join(f"<th>{h}</th>" for h in head)
        parts.append(f"<table><tr>{ths}</tr>{rows}</table>")
    return _page(f"Feedback: {who}", "\n".join(parts))


def _histogram(scores: list[float]) -> str:
    """The score distribution as an inline SVG bar chart: ten bins of 10 points (100 falls in
    the last), each bar's count above it, the bins' edges below."""
    bins = [0] * 10
    for s in scores:
        bins[min(int(s // 10), 9)] += 1
    most = max(bins) or 1
    w, h, top, left = 40, 150, 20, 30
    base = top + h
    out = [f'<line x1="{left}" y1="{base}" x2="{left + 10 * w}" y2="{base}" stroke="#444"/>']
    for k, n in enumerate(bins):
        bh = round(h * n / most)
        x = left + k * w
        out.append(
            f'<rect x="{x + 4}" y="{base - bh}" width="{w - 8}" height="{bh}" fill="#5b8bd0">'
            f"<title>{k * 10}-{k * 10 + 10}%: {n}</title></rect>"
        )
        if n:
            out.append(f'<text x="{x + w / 2}" y="{base - bh - 4}" font-size="11" '
                       f'text-anchor="middle">{n}</text>')  # fmt: skip
    for k in range(11):
        out.append(f'<text x="{left + k * w}" y="{base + 15}" font-size="10" '
                   f'text-anchor="middle">{k * 10}</text>')  # fmt: skip
    out.append(f'<text x="{left + 5 * w}" y="{base + 32}" font-size="11" '
               'text-anchor="middle">score (%)</text>')  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + 10 * w + 20}" '
        f'height="{base + 40}" role="img" aria-label="score distribution: submissions per '
        f'10 points">{"".join(out)}</svg>'
    )


def index_page(grades: list[FileGrade], links: list[str]) -> str:
    """The class at a glance: score distribution, each block's share of correct submissions
    (hardest first), the most frequent hints, and a link to every student's page."""
    graded = [g for g in grades if not g.error]
    tally: dict[str, list[int]] = {}
    hints: Counter[str] = Counter()
    for g in graded:
        for s in g.sheets:
            for b in s.blocks:
                key = (f"{s.sheet}: " if len(g.sheets) > 1 else "") + b.block
                key += f" (epoch {b.epoch})" if b.epoch is not None else ""
                t = tally.setdefault(key, [0, 0])
                t[0] += b.verdict == "correct"
                t[1] += 1
                if b.hint and b.verdict != "correct":
                    hints[b.hint] += 1
    # Ties keep the order the blocks are computed in.
    order = {k: i for i, k in enumerate(tally)}
    blocks = sorted(tally.items(), key=lambda kv: (kv[1][0] / kv[1][1], order[kv[0]]))
    mean = sum(g.score for g in grades) / len(grades) if grades else 0.0
    parts = [
        "<h1>Class overview</h1>",
        f"<p>{len(grades)} submissions; mean score {mean:.1f}%</p>",
        "<h2>Score distribution</h2>",
        _histogram([g.score for g in grades]),
        "<h2>Blocks, hardest first</h2><table><tr><th>block</th><th>correct</th></tr>",
    ]
    parts += [
        f'<tr><td>{escape(k)}</td><td class="share"><span class="bar" style="width:'
        f'{8 * ok / n:.2f}em"></span> {ok} of {n} ({100 * ok / n:.0f}%)</td></tr>'
        for k, (ok, n) in blocks
    ]
    parts.append("</table><h2>Most frequent hints</h2><table><tr><th>hint</th><th>blocks</th></tr>")
    parts += [f"<tr><td>{escape(h)}</td><td>{n}</td></tr>" for h, n in hints.most_common(10)]
    parts.append(
        "</table><h2>Submissions</h2><table><tr><th>file</th><th>student</th><th>score</th></tr>"
    )
    for g, link in zip(grades, links, strict=True):
        parts.append(
            f'<tr><td><a href="{escape(link)}"><bdi>{escape(g.file)}</bdi></a></td>'
            f"<td><bdi>{escape(g.student or '')}</bdi></td><td>{g.score:g}%"
            + (" (not graded)" if g.error else "")
            + "</td></tr>"
        )
    parts.append("</table>")
    return _page("Class overview", "\n".join(parts))
