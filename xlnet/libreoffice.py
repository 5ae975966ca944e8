"""Headless LibreOffice as a second, independent engine: a forced full recalculation."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# Without OOXMLRecalcMode = 0 ("always"), LibreOffice keeps the cached values it finds in an
# .xlsx, and a stale value survives a "recalculated" conversion.
_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="ODFRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""

TIMEOUT_S = 900


class LibreOfficeError(RuntimeError):
    pass


def soffice() -> str | None:
    """Path of the soffice binary, or None when LibreOffice is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def recalculate(path: str | Path, outdir: str | Path, timeout: float = TIMEOUT_S) -> Path:
    """Open `path` in headless LibreOffice, recalculate everything, save an .xlsx in `outdir`."""
    exe = soffice()
    if exe is None:
        raise LibreOfficeError(
            "LibreOffice is not installed (no soffice on PATH); "
            "on Debian: apt-get install libreoffice-calc-nogui"
        )
    path, outdir = Path(path).resolve(), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="xlnet-lo-") as profile:
        user = Path(profile) / "user"
        user.mkdir()
        (user / "registrymodifications.xcu").write_text(_PROFILE)
        cmd = [
            exe,
            f"-env:UserInstallation={Path(profile).as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(outdir.resolve()),
            str(path),
        ]
        env = dict(os.environ, HOME=profile)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            raise LibreOfficeError(f"LibreOffice did not finish within {timeout:.0f} s") from None
    out = outdir / (path.stem + ".xlsx")
    if proc.returncode != 0 or not out.exists():
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LibreOfficeError(
            f"LibreOffice failed to convert {path.name}: {detail[-1] if detail else 'no output'}"
        )
    return out
