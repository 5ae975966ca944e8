"""Property-based: random settings through build -> verify agree with NumPy."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlnet.data import load_wine
from xlnet.spec import Spec
from xlnet.verification import verify
from xlnet.workbook import build

# Each example builds and verifies a workbook (1-3 s); the "ci" profile keeps the suite short,
# HYPOTHESIS_PROFILE=thorough explores more.
settings.register_profile("ci", max_examples=8, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.register_profile("thorough", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

WINE = load_wine()

specs = st.builds(
    Spec,
    model=st.sampled_from(["logreg", "mlp"]),
    output=st.sampled_from(["softmax", "sigmoid"]),
    hidden=st.integers(1, 4),
    epochs=st.integers(1, 3),
    # learning rates from 1e-4 to 10, uniform in the exponent (lr 50 makes the net sensitive
    # enough to drift from NumPy within a few epochs: tests/test_extremes.py covers it)
    lr=st.floats(math.log10(1e-4), 1.0).map(lambda e: float(f"{10**e:.6g}")),
    seed=st.integers(0, 2**32 - 1),
    layout=st.sampled_from(["cells", "arrays"]),
)


@given(spec=specs)
def test_any_settings_verify(spec: Spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.xlsx"
        result = build(spec, WINE, path)
        assert math.isfinite(result.final_loss)
        report = verify(path)
        assert report.ok, f"{spec}\n{report.table()}"
        assert report.error_cells == []
