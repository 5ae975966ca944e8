"""Benchmark: what each feature beyond the book costs, against the book's two-layer net.

Run: python bench/features.py [--epochs N]. Prints a Markdown table; every row comes from this
one run on this machine (so the ratios to the first row are comparable), each command in its
own process (bench.measure) so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import LO_RECALC, become_subreaper, measure

# (label, build flags); every row is an mlp in the arrays layout.
CASES = [
    ("book: H 5 tanh sgd", []),
    ("H 8,4 tanh", ["--hidden", "8,4"]),
    ("H 5 relu", ["--activation", "relu", "--lr", "0.3"]),
    ("H 5 momentum", ["--optimizer", "momentum", "--lr", "0.3"]),
    ("H 5 adam", ["--optimizer", "adam", "--lr", "0.05"]),
    ("H 5 test 0.3", ["--test-fraction", "0.3"]),
    ("H 8,4 relu adam test 0.3", ["--hidden", "8,4", "--activation", "relu", "--optimizer",
                                  "adam", "--lr", "0.05", "--test-fraction", "0.3"]),
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args()
    become_subreaper()  # LibreOffice's stray helpers count towards its CPU, as in bench.py
    xl = [sys.executable, "-m", "xlnet"]
    here = Path(__file__).resolve().parents[1]
    lo = LO_RECALC
    print(f"mlp, arrays layout, {args.epochs} epochs, wine data; x = ratio to the first row\n")
    print("| case | formula cells | file MB | build CPU s | verify CPU s | verify peak MB | "
          "LibreOffice CPU s | verify x | LibreOffice x |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    base: tuple[float, float] | None = None
    with tempfile.TemporaryDirectory() as tmp:
        for i, (label, flags) in enumerate(CASES):
            out = Path(tmp) / f"case{i}.xlsx"
            build = measure([*xl, "build", "mlp", "--layout", "arrays", "--epochs",
                             str(args.epochs), *flags, "-o", str(out)])  # fmt: skip
            cells = int(build.out.split(" formula cells")[0].rsplit(" ", 1)[-1])
            verify = measure([*xl, "verify", str(out)])
            assert "OK:" in verify.out, verify.out[-2000:]
            build_s, verify_s, peak = build.cpu, verify.cpu, verify.peak
            lo_s = measure([sys.executable, "-c", lo, str(out), str(here)]).cpu
            base = base or (verify_s, lo_s)
            print(
                f"| {label} | {cells:,} | {out.stat().st_size / 1e6:.1f} | {build_s:.1f} | "
                f"{verify_s:.1f} | {peak:,.0f} | {lo_s:.1f} | {verify_s / base[0]:.2f} | "
                f"{lo_s / base[1]:.2f} |",
                flush=True,
            )
            out.unlink()


if __name__ == "__main__":
    main()
