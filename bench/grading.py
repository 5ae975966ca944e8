"""Benchmark: grading a class's worth of filled-in workbooks with `xlnet check`.

Run: python bench/grading.py [--files N]. Writes N submissions of the book's chapter-1 sheet
(both sheets filled; a mix of per-cell and array formulas, scalar and per-unit biases, and one
planted mistake in every other file), then times `xlnet check --template klaas-ch1` over all of
them with one worker and with one per core, each in its own process (peak memory from wait4),
all in this one run. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from klaas_fill import MISTAKES, fill

STYLES = [("cells", "scalar", "column"), ("arrays", "scalar", "column"),
          ("cells", "vector", "per_class"), ("arrays", "vector", "per_class")]  # fmt: skip


def submissions(folder: Path, n: int) -> list[Path]:
    mistakes = [m for m in sorted(MISTAKES) if m not in ("transposed", "unanchored")]
    out = []
    for k in range(n):
        style, bias, loss = STYLES[k % len(STYLES)]
        mistake = mistakes[(k // 2) % len(mistakes)] if k % 2 else None
        path = folder / f"student{k:03d}.xlsx"
        fill(path, style=style, bias=bias, loss=loss, mistake=mistake, seed=k)
        out.append(path)
    return out


def measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MB) of the command's own process (with one worker it
    grades every file itself; with more, the workers are its children, not counted here)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, _, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - start
    return took, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=24)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="xlnet-bench-grading-") as tmp:
        files = submissions(Path(tmp), args.files)
        cells = 2 * 178 * 16 + 178 * (3 + 3 + 1 + 3) + 178 * (5 + 5 + 3 + 3 + 3 + 1 + 3 + 5)
        rows = []
        for jobs in sorted({1, cores}):
            cmd = [sys.executable, "-m", "xlnet", "check", "--template", "klaas-ch1",
                   "--jobs", str(jobs), *map(str, files)]  # fmt: skip
            took, peak = measure(cmd)
            rows.append((jobs, took, peak))
    print(f"machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}")
    print(f"{args.files} submissions of the book's sheet (~{cells:,} formula cells each)\n")
    print("| workers | seconds | files/s | s per file | peak MB, main process | speed-up |")
    print("|---|---|---|---|---|---|")
    base = rows[0][1]
    for jobs, took, peak in rows:
        print(f"| {jobs} | {took:.1f} | {args.files / took:.2f} | {took / args.files:.2f} | "
              f"{peak:,.0f} | {base / took:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
