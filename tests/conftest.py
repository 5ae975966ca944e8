"""Shared fixtures: small workbooks built once per session, LibreOffice availability."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xlnet.data import load_wine
from xlnet.libreoffice import soffice
from xlnet.spec import Spec
from xlnet.workbook import build

MODELS_OUTPUTS = [(m, o) for m in ("logreg", "mlp") for o in ("softmax", "sigmoid")]
LAYOUT_CASES = [(m, o, lay) for m, o in MODELS_OUTPUTS for lay in ("cells", "arrays")]
SMALL_EPOCHS = 3
SMALL_HIDDEN = 3


def small_spec(model: str, output: str, **kw) -> Spec:
    kw.setdefault("epochs", SMALL_EPOCHS)
    kw.setdefault("hidden", SMALL_HIDDEN)
    return Spec(model=model, output=output, **kw)


@pytest.fixture(scope="session")
def wine():
    return load_wine()


@pytest.fixture(scope="session")
def small_books(tmp_path_factory, wine) -> dict[tuple[str, ...], Path]:
    """One small workbook per (model, output) in the cells layout, and per (model, output,
    layout) for both layouts."""
    folder = tmp_path_factory.mktemp("books")
    out: dict[tuple[str, ...], Path] = {}
    for model, output, layout in LAYOUT_CASES:
        path = folder / f"{model}-{output}-{layout}.xlsx"
        build(small_spec(model, output, layout=layout), wine, path)
        out[(model, output, layout)] = path
        if layout == "cells":
            out[(model, output)] = path
    return out


@pytest.fixture(scope="session")
def need_soffice() -> str:
    """LibreOffice's soffice; skipped locally when missing, a failure in CI."""
    exe = soffice()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI=true but LibreOffice (soffice) is not installed; .ci/run installs it")
        pytest.skip("LibreOffice (soffice) is not installed")
    return exe


def pytest_collection_modifyitems(config, items):
    # When the README's test command runs from inside the suite, keep only the smoke tests.
    if os.environ.get("XLNET_INNER_RUN"):
        keep = [i for i in items if i.get_closest_marker("smoke")]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep
