"""Learning rates at both ends of the range: no error cell and agreement in both engines.

bench/extremes.py runs the same for 1000 epochs (results in bench/extremes.md)."""

import pytest

from conftest import MODELS_OUTPUTS
from xlnet.spec import Spec
from xlnet.verify import verify
from xlnet.workbook import build

# At lr 50 the two-layer net is sensitive: any engine's last-digit differences from NumPy
# (summation order, EXP, TANH) grow from epoch to epoch and pass 1e-9 after ~5-10 epochs
# (formulas, per-cell SUMPRODUCT) or ~5 (LibreOffice); see the README. So lr 50 is checked
# over fewer epochs than lr 1e-4; what is asserted everywhere is no error cell.
EPOCHS = {1e-4: 40, 50.0: 4}
LO_EPOCHS = 4


@pytest.mark.parametrize("lr", [1e-4, 50.0])
@pytest.mark.parametrize(("model", "output"), MODELS_OUTPUTS)
def test_extreme_learning_rates(tmp_path, wine, model, output, lr):
    path = tmp_path / "x.xlsx"
    build(Spec(model=model, output=output, hidden=2, lr=lr, epochs=EPOCHS[lr]), wine, path)
    report = verify(path)
    assert report.ok, report.table()
    assert report.error_cells == []


@pytest.mark.libreoffice
@pytest.mark.parametrize(("model", "output"), MODELS_OUTPUTS)
def test_extreme_learning_rate_in_libreoffice(need_soffice, tmp_path, wine, model, output):
    path = tmp_path / "x.xlsx"
    build(Spec(model=model, output=output, hidden=2, lr=50.0, epochs=LO_EPOCHS, layout="arrays"),
          wine, path)  # fmt: skip
    report = verify(path, engine="libreoffice")
    assert report.ok, report.table()
    assert report.error_cells == []
