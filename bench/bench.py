"""Benchmark: build, verify (our engine) and LibreOffice recalculation, and grading throughput.

Run: python bench/bench.py            the issue's four workbooks (many minutes)
     python bench/bench.py --quick    two 10-epoch workbooks and 6 graded files (a smoke run)
     options: --files N (graded submissions, default 24), --naive (adds formulas.ExcelModel)

Prints Markdown tables; every number comes from this one run on this machine. Each command
(`python -m xlnet build ...`, `python -m xlnet verify F`, a Python child calling
xlnet.libreoffice.recalculate) runs in its own process, start-up included. Wall seconds come from
perf_counter; CPU seconds are user + system time of the command *and all its descendants*: a
child's wait4 rusage already holds its waited-for descendants (so soffice.bin, which oosplash
waits for, is in it), and this process makes itself the children's subreaper (Linux prctl) so
that helpers soffice.bin forks off without waiting (gpg, gpgconf) are re-parented here and
reaped; CPU is then the RUSAGE_CHILDREN delta over the command. Peak MB is wait4's ru_maxrss.
Ratios use CPU seconds (robust on a shared machine); wall ratios are printed too.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grading import submissions  # the grading benchmark's filled-in copies of the book's sheet

# (model, hidden, layout, epochs)
GRID = [("logreg", 0, "cells", 100), ("mlp", 5, "cells", 100),
        ("mlp", 8, "arrays", 100), ("mlp", 8, "arrays", 1000)]  # fmt: skip
QUICK = [("logreg", 0, "cells", 10), ("mlp", 5, "arrays", 10)]
VERIFY_X, BUILD_X, KB_PER_CELL, H5_MB, FILES_PER_S = 0.5, 1.5, 0.7, 400, 3.0

REPO = Path(__file__).resolve().parents[1]
XL = [sys.executable, "-m", "xlnet"]
LO_RECALC = (  # a child that recalculates argv[1] in LibreOffice (soffice is its grandchild)
    "import sys, tempfile; sys.path.insert(0, sys.argv[2]);"
    "from xlnet.libreoffice import recalculate;"
    "recalculate(sys.argv[1], tempfile.mkdtemp())"
)
NAIVE = "import sys, formulas; formulas.ExcelModel().loads(sys.argv[1]).finish().calculate()"


class Run(NamedTuple):
    wall: float  # seconds
    cpu: float  # user + system seconds, the command and all its descendants
    peak: float  # MB, max RSS (wait4)
    out: str


def become_subreaper() -> bool:
    """Orphaned descendants of our children get re-parented to us (Linux >= 3.4)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_...
    except (OSError, AttributeError):
        return False


def reap_orphans(timeout: float = 30.0) -> None:
    """Wait for descendants re-parented to us, so that their CPU lands in RUSAGE_CHILDREN."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _, _ = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                print("warning: orphaned processes still running, CPU not counted", file=sys.stderr)
                return
            time.sleep(0.01)


def measure(cmd: list[str], ok: tuple[int, ...] = (0,), one_core: bool = False) -> Run:
    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def pin() -> None:  # the child and its threads on one core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    before = cpu()
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pre = pin if one_core else None
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, preexec_fn=pre)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        reap_orphans()
        used = cpu() - before
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode not in ok:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err.read()[-3000:]}")
    return Run(wall, used, usage.ru_maxrss / 1024, text)


def verdict(met: bool, value: str) -> str:
    return f"{'met' if met else '**missed**'} ({value})"


def machine() -> str:
    try:
        lo = subprocess.run(["soffice", "--version"], capture_output=True, text=True, timeout=60)
        lo_version = " ".join(lo.stdout.split()[:2]) or "LibreOffice ?"
    except (OSError, subprocess.TimeoutExpired):
        lo_version = "no LibreOffice"
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"machine: {platform.platform()}, {os.cpu_count()} cores, {mem:.0f} GB, "
            f"Python {platform.python_version()}, {lo_version}")  # fmt: skip


def workbooks(tmp: Path, grid: list[tuple[str, int, str, int]]) -> None:
    print("| file | formula cells | build wall s | build CPU s | verify wall s | verify CPU s | "
          "verify peak MB | verify KB/formula cell | LibreOffice wall s | LibreOffice CPU s | "
          "verify/LO (CPU) | build/LO (CPU) |")  # fmt: skip
    print("|---" * 12 + "|")
    verdicts = []
    for model, h, layout, epochs in grid:
        out = tmp / f"{model}{h}-{layout}-{epochs}.xlsx"
        hidden = ["--hidden", str(h)] if model == "mlp" else []
        arrays = ["--layout", "arrays"] if layout == "arrays" else []
        build = measure([*XL, "build", model, *hidden, "--epochs", str(epochs), *arrays,
                         "-o", str(out)])  # fmt: skip
        verify = measure([*XL, "verify", str(out), "--json"], ok=(0, 1))
        report = json.loads(verify.out)
        lo = measure([sys.executable, "-c", LO_RECALC, str(out), str(REPO)])
        out.unlink()
        cells = report["formula_cells"]
        name = f"{model}{f' H {h}' if h else ''}, {epochs} epochs, {layout}"
        name += "" if report["ok"] else " (verify: DIFFERS)"
        kb = verify.peak * 1024 / cells
        vx, bx = verify.cpu / lo.cpu, build.cpu / lo.cpu
        print(f"| {name} | {cells:,} | {build.wall:.1f} | {build.cpu:.1f} | {verify.wall:.1f} | "
              f"{verify.cpu:.1f} | {verify.peak:,.0f} | {kb:.2f} | {lo.wall:.1f} | {lo.cpu:.1f} | "
              f"{vx:.2f} | {bx:.2f} |", flush=True)  # fmt: skip
        h5 = verdict(verify.peak <= H5_MB, f"{verify.peak:,.0f} MB") if h == 5 else "-"
        verdicts.append(
            f"| {name} | {verify.wall / lo.wall:.2f} | {build.wall / lo.wall:.2f} | "
            f"{verdict(vx <= VERIFY_X, f'{vx:.2f}x')} | {verdict(bx <= BUILD_X, f'{bx:.2f}x')} | "
            f"{verdict(kb <= KB_PER_CELL, f'{kb:.2f} KB')} | {h5} |"
        )
    print(f"\n| file | verify/LO (wall) | build/LO (wall) | verify <= {VERIFY_X}x LO (CPU) | "
          f"build <= {BUILD_X}x LO (CPU) | verify peak <= {KB_PER_CELL} KB/formula cell | "
          f"verify peak <= {H5_MB} MB (mlp H 5) |")  # fmt: skip
    print("|---" * 7 + "|")
    print("\n".join(verdicts), flush=True)


def grading(tmp: Path, n: int) -> None:
    folder = tmp / "grading"
    folder.mkdir()
    files = [str(f) for f in submissions(folder, n)]
    run = measure([*XL, "check", "--template", "klaas-ch1", "--jobs", "1", "--json", *files],
                  ok=(0, 1), one_core=True)  # fmt: skip
    docs = json.loads(run.out)
    docs = docs if isinstance(docs, list) else [docs]
    if len(docs) != n or any("error" in d for d in docs):
        sys.exit(f"xlnet check did not grade all {n} files: {[d.get('error') for d in docs]}")
    rate_wall, rate_cpu = n / run.wall, n / run.cpu
    print(f"\n`xlnet check --template klaas-ch1 --jobs 1` on {n} filled copies of the book's sheet "
          "(bench/grading.py's submissions), pinned to one core:\n")  # fmt: skip
    print("| files | wall s | CPU s | files/s (wall) | files/s (CPU) | peak MB | "
          f">= {FILES_PER_S:g} files/s (CPU) |")  # fmt: skip
    print("|---" * 7 + "|")
    met = verdict(rate_cpu >= FILES_PER_S, f"{rate_cpu:.2f}/s")
    print(f"| {n} | {run.wall:.1f} | {run.cpu:.1f} | {rate_wall:.2f} | {rate_cpu:.2f} | "
          f"{run.peak:,.0f} | {met} |")  # fmt: skip


def naive(tmp: Path) -> None:
    out = tmp / "naive.xlsx"
    measure([*XL, "build", "logreg", "--epochs", "10", "-o", str(out)])
    base = measure([sys.executable, "-c", NAIVE, str(out)])
    ours = measure([*XL, "verify", str(out)], ok=(0, 1))
    print("\n| engine, logreg 10 epochs (cells) | wall s | CPU s | peak MB |\n|---|---|---|---|")
    print(f"| formulas.ExcelModel load + calculate (naive) | {base.wall:.1f} | {base.cpu:.1f} | "
          f"{base.peak:,.0f} |")  # fmt: skip
    print(f"| xlnet verify (whole command) | {ours.wall:.1f} | {ours.cpu:.1f} | {ours.peak:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two 10-epoch workbooks, 6 graded files")
    ap.add_argument("--files", type=int, help="graded submissions (default 24, --quick 6)")
    ap.add_argument("--naive", action="store_true", help="also time formulas.ExcelModel")
    args = ap.parse_args()
    reaper = become_subreaper()
    print(machine())
    print("CPU s: user + system of the command and all its descendants"
          + ("" if reaper else " (waited-for ones only: no subreaper here)") + "\n")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="xlnet-bench-") as tmp:
        workbooks(Path(tmp), QUICK if args.quick else GRID)
        grading(Path(tmp), args.files or (6 if args.quick else 24))
        if args.naive:
            naive(Path(tmp))


if __name__ == "__main__":
    main()
