"""Benchmark: build, verify (our engine) and LibreOffice recalculation over a grid of workbooks.

Run: python bench/bench.py [--quick] [--naive]. Prints a Markdown table; every number comes from
this one run on this machine, each command in its own process so that its peak memory (max RSS,
from wait4) is its own. `--naive` adds the baseline: formulas.ExcelModel on a small workbook.
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

# (model, hidden, layout, epochs)
GRID = [
    ("logreg", 0, "cells", 10), ("logreg", 0, "arrays", 10),
    ("logreg", 0, "cells", 100), ("logreg", 0, "arrays", 100),
    ("logreg", 0, "cells", 1000), ("logreg", 0, "arrays", 1000),
    ("mlp", 5, "cells", 10), ("mlp", 5, "arrays", 10),
    ("mlp", 5, "cells", 100), ("mlp", 5, "arrays", 100),
    ("mlp", 5, "arrays", 1000),
    ("mlp", 8, "cells", 10), ("mlp", 8, "arrays", 10),
    ("mlp", 8, "cells", 100), ("mlp", 8, "arrays", 100),
    ("mlp", 8, "arrays", 1000),
]  # fmt: skip
QUICK = [("logreg", 0, "cells", 10), ("mlp", 5, "arrays", 10)]

# A child process that recalculates a file with LibreOffice: python -c LO_RECALC FILE REPO.
LO_RECALC = (
    "import sys, tempfile; sys.path.insert(0, sys.argv[2]);"
    "from xlnet.libreoffice import recalculate;"
    "recalculate(sys.argv[1], tempfile.mkdtemp())"
)

NAIVE = """
import sys, time, formulas
t = time.perf_counter()
model = formulas.ExcelModel().loads(sys.argv[1]).finish()
model.calculate()
print("NAIVE", time.perf_counter() - t)
"""


def measure(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of this one child, its stdout."""
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - start
        out.seek(0)
        text = out.read()
        err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{err}{text[-2000:]}")
    return took, usage.ru_maxrss / 1024, text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="two small cases only")
    ap.add_argument("--naive", action="store_true", help="also time formulas.ExcelModel")
    args = ap.parse_args()
    xl = [sys.executable, "-m", "xlnet"]
    here = Path(__file__).resolve().parents[1]
    lo = LO_RECALC
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
        f"Python {platform.python_version()}, {platform.platform()}"
    )
    print()
    print(
        "| model | H | layout | epochs | formula cells | file MB | build s | verify s | "
        "verify cells/s | verify peak MB | LibreOffice s | ours / LibreOffice |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model, h, layout, epochs in QUICK if args.quick else GRID:
            out = Path(tmp) / f"{model}{h}-{layout}-{epochs}.xlsx"
            hidden = ["--hidden", str(h)] if model == "mlp" else []
            build_s, _, text = measure([*xl, "build", model, *hidden, "--layout", layout,
                                        "--epochs", str(epochs), "-o", str(out)])  # fmt: skip
            cells = int(text.split(" formula cells")[0].rsplit(" ", 1)[-1])
            verify_s, peak, _ = measure([*xl, "verify", str(out)])
            lo_s, _, _ = measure([sys.executable, "-c", lo, str(out), str(here)])
            print(
                f"| {model} | {h or '-'} | {layout} | {epochs} | {cells:,} | "
                f"{out.stat().st_size / 1e6:.1f} | {build_s:.1f} | {verify_s:.1f} | "
                f"{cells / verify_s:,.0f} | {peak:,.0f} | {lo_s:.1f} | {verify_s / lo_s:.1f} |",
                flush=True,
            )
            out.unlink()
        if args.naive:
            out = Path(tmp) / "naive.xlsx"
            measure([*xl, "build", "logreg", "--epochs", "10", "-o", str(out)])
            naive_s, naive_peak, text = measure([sys.executable, "-c", NAIVE, str(out)])
            ours_s, ours_peak, _ = measure([*xl, "verify", str(out)])
            print()
            print("| engine, logreg 10 epochs (cells) | seconds | peak MB |")
            print("|---|---|---|")
            print(f"| formulas.ExcelModel load + calculate (naive) | {naive_s:.1f} | "
                  f"{naive_peak:,.0f} |")  # fmt: skip
            print(f"| xlnet verify (whole command) | {ours_s:.1f} | {ours_peak:,.0f} |")


if __name__ == "__main__":
    main()
