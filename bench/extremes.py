"""Numeric extremes: learning rates 1e-4 and 50 for 1000 epochs, both models and outputs,
verified with both engines (formulas and LibreOffice). Prints a Markdown table.

Run: python bench/extremes.py [--epochs N] [--layout arrays|cells]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from xlnet.data import load_wine
from xlnet.spec import Spec
from xlnet.verification import verify
from xlnet.workbook import build


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=1000)
    ap.add_argument("--layout", default="arrays")
    ap.add_argument("--hidden", type=int, default=2)
    ap.add_argument("--models", default="logreg,mlp", help="comma-separated subset")
    args = ap.parse_args()
    wine = load_wine()
    print(f"{args.epochs} epochs, layout {args.layout}, mlp hidden {args.hidden}\n")
    print(
        "Per engine: max rel err against the NumPy trajectory; max local err (each block "
        "against NumPy applied to the values it reads, beyond what input rounding explains); "
        "blocks that drift (off the trajectory, right locally); error cells; verdict.\n"
    )
    print(
        "| model | output | lr | final loss | final accuracy | formulas | LibreOffice | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            for output in ("softmax", "sigmoid"):
                for lr in (1e-4, 50.0):
                    start = time.perf_counter()
                    spec = Spec(model=model, output=output, hidden=args.hidden, lr=lr,
                                epochs=args.epochs, layout=args.layout)  # fmt: skip
                    path = Path(tmp) / "x.xlsx"
                    res = build(spec, wine, path)
                    cols = []
                    for engine in ("formulas", "libreoffice"):
                        rep = verify(path, engine=engine)
                        worst = max(b.max_rel_error for b in rep.blocks if b.epoch is not None)
                        local = max(b.local_rel_error or 0.0 for b in rep.blocks)
                        verdict = "OK" if rep.ok else "FAILED"
                        cols.append(f"{worst:.1e}, {local:.1e}, {len(rep.drifting)} drift, "
                                    f"{len(rep.error_cells)} errors, {verdict}")  # fmt: skip
                    took = time.perf_counter() - start
                    print(f"| {model} | {output} | {lr:g} | {res.final_loss:.6g} | "
                          f"{res.final_accuracy:.4f} | {cols[0]} | {cols[1]} | {took:.0f} |",
                          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
