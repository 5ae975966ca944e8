"""Benchmark of the spine: build time, file size, verify time and peak memory per engine.

Run: python bench/bench_spine.py [--quick]. Prints a Markdown table; every row is measured in
this one run, each command in its own process so peak memory (max RSS) is its own.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [
    ("logreg", 5, 10),
    ("logreg", 5, 20),
    ("mlp", 5, 10),
    ("mlp", 5, 20),
    ("mlp", 8, 20),
]


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the child, stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}{proc.stdout[-2000:]}")
    # ru_maxrss of children is the max over all children so far: report it only when it grew.
    return took, max(peak, before) / 1024, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="only the first two cases")
    args = ap.parse_args()
    xl = [sys.executable, "-m", "xlnet"]
    cases = CASES[:2] if args.quick else CASES
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {platform.platform()}")  # fmt: skip
    print()
    print("| model | H | epochs | formula cells | file MB | build s | verify s (formulas) "
          "| cells/s | verify peak MB | verify s (LibreOffice) | ours / LibreOffice |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model, h, epochs in cases:
            out = Path(tmp) / f"{model}-{h}-{epochs}.xlsx"
            hidden = ["--hidden", str(h)] if model == "mlp" else []
            b_s, _, text = timed([*xl, "build", model, *hidden, "--epochs", str(epochs),
                                  "-o", str(out)])  # fmt: skip
            cells = int(text.split(" formula cells")[0].rsplit(" ", 1)[-1])
            # Peak memory of verify alone: a fresh interpreter that reports its own max RSS.
            probe = (
                "import resource,sys;from xlnet.cli import main;rc=main(sys.argv[1:]);"
                "print('PEAK',resource.getrusage(resource.RUSAGE_SELF).ru_maxrss);sys.exit(rc)"
            )
            v_s, _, vout = timed([sys.executable, "-c", probe, "verify", str(out)])
            peak = int(vout.rsplit("PEAK", 1)[1].split()[0]) / 1024
            lo_s, _, _ = timed([*xl, "verify", str(out), "--engine", "libreoffice"])
            mb = out.stat().st_size / 1e6
            print(f"| {model} | {h if model == 'mlp' else '-'} | {epochs} | {cells:,} | {mb:.1f} "
                  f"| {b_s:.1f} | {v_s:.1f} | {cells / v_s:,.0f} | {peak:.0f} | {lo_s:.1f} "
                  f"| {v_s / lo_s:.1f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
