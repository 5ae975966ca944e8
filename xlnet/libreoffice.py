"""Headless LibreOffice as a second, independent engine: a forced full recalculation."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .errors import XlnetError

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
TICK_S = 0.5  # how often `tick` hears the elapsed time while LibreOffice works


class LibreOfficeError(XlnetError, RuntimeError):
    pass


# One profile per process, made at the first conversion and removed at exit: LibreOffice spends
# about 0.3 s of CPU setting up a fresh profile at every start. Conversions take turns on it (a
# second soffice on a profile in use would hand its work to the first); a conversion that fails
# or is killed throws the profile away, so that no stale lock or half-written state is reused.
_profile: Path | None = None
_profile_lock = threading.Lock()


def _user_installation() -> Path:
    global _profile
    if _profile is None or not _profile.is_dir():
        folder = Path(tempfile.mkdtemp(prefix="xlnet-lo-"))
        (folder / "user").mkdir()
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        _profile = folder
    # Written before every start: LibreOffice rewrites the file when it exits.
    (_profile / "user" / "registrymodifications.xcu").write_text(_PROFILE)
    return _profile


def _discard_profile() -> None:
    global _profile
    if _profile is not None:
        shutil.rmtree(_profile, ignore_errors=True)
        _profile = None


def soffice() -> str | None:
    """Path of the soffice binary, or None when LibreOffice is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def recalculate(
    path: str | Path,
    outdir: str | Path,
    timeout: float = TIMEOUT_S,
    tick: Callable[[float], None] | None = None,
) -> Path:
    """Open `path` in headless LibreOffice, recalculate everything, save an .xlsx in `outdir`;
    `tick(seconds)` hears the elapsed time every TICK_S while LibreOffice works (it reports
    nothing of its own)."""
    exe = soffice()
    if exe is None:
        raise LibreOfficeError(
            "LibreOffice is not installed (no soffice on PATH); "
            "on Debian: apt-get install libreoffice-calc-nogui"
        )
    path, outdir = Path(path).resolve(), Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with _profile_lock:
        profile = _user_installation()
        cmd = [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(outdir.resolve()),
            str(path),
        ]
        env = dict(os.environ, HOME=str(profile))
        try:
            returncode, stdout, stderr = _run(cmd, env, timeout, tick)
        except BaseException:
            _discard_profile()
            raise
        out = outdir / (path.stem + ".xlsx")
        if returncode != 0 or not out.exists():
            _discard_profile()
    if returncode != 0 or not out.exists():
        detail = (stderr or stdout).strip().splitlines()
        raise LibreOfficeError(
            f"LibreOffice failed to convert {path.name}: {detail[-1] if detail else 'no output'}"
        )
    return out


def _run(
    cmd: list[str], env: dict[str, str], timeout: float, tick: Callable[[float], None] | None
) -> tuple[int, str, str]:
    """Run soffice to the end: its exit status, stdout and stderr. LibreOffice is killed when
    it overruns `timeout`, and when we are interrupted (Ctrl-C, SIGTERM), so that no
    recalculation outlives the command that asked for it."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    try:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=TICK_S)
                return proc.returncode, stdout, stderr
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - start
                if elapsed > timeout:
                    raise LibreOfficeError(
                        f"LibreOffice did not finish within {timeout:.0f} s"
                    ) from None
                if tick is not None:
                    tick(elapsed)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
