"""Output files: written beside their destination, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from types import TracebackType

PARTS_SUFFIX = ".parts"  # beside the temporary file: the folder XlsxWriter writes its parts to


def atomic_write(out: Path, write):
    """Write to a temporary file beside `out` with `write(tmp_path)`, then rename it into
    place: a failed or interrupted write (an error, Ctrl-C, SIGTERM turned into an exception)
    leaves no partial file, no temporary part, and an existing file intact. An error writing
    the output (a full disk) comes out as an OSError naming `out`."""
    folder = out.parent if str(out.parent) else Path(".")
    try:
        # The name is cut: a valid 250-byte name must not make its temporary one too long.
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name[:100]}.", suffix=".tmp", dir=folder)
    except OSError as exc:  # a missing or read-only folder: name the output, not our temp file
        raise OSError(exc.errno, exc.strerror, str(out)) from None
    os.close(fd)
    parts = Path(tmp + PARTS_SUFFIX)
    try:
        parts.mkdir()
        result = write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a workbook is an ordinary file
        os.replace(tmp, out)
    except BaseException as exc:
        _close_zipfiles(exc)
        Path(tmp).unlink(missing_ok=True)
        shutil.rmtree(parts, ignore_errors=True)
        failed = _write_error(exc, out)
        if failed is not None:
            raise failed from None
        raise
    shutil.rmtree(parts, ignore_errors=True)
    return result


def writer_options(path: str | Path) -> dict:
    """XlsxWriter's options for a workbook written to `path`: text stays text (a CSV header
    like "=HYPERLINK(...)" must not become a live formula), and its temporary files go beside
    the output, on the filesystem the output needs room on: into the parts folder
    atomic_write made for `path`, which it removes however the write ends."""
    parts = Path(str(path) + PARTS_SUFFIX)
    folder = parts if parts.is_dir() else Path(path).parent
    return {
        "strings_to_numbers": False,
        "strings_to_formulas": False,
        "tmpdir": str(folder if str(folder) else Path(".")),
    }


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during (XlsxWriter's FileCreateError
    wraps the OSError that stopped it)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _close_zipfiles(exc: BaseException) -> None:
    """Close the zip files the failed write left open. A ZipFile abandoned half-written is
    closed by the garbage collector later, which tries to write its directory to the full
    disk again and prints a traceback nobody can act on ("Exception ignored in ZipFile.__del__")."""
    for e in _chain(exc):
        tb: TracebackType | None = e.__traceback__
        while tb is not None:
            for value in list(tb.tb_frame.f_locals.values()):
                if isinstance(value, zipfile.ZipFile) and value.fp is not None:
                    # the disk is full: close() fails, yet its file is closed all the same
                    with contextlib.suppress(Exception):
                        value.close()
            tb = tb.tb_next


def _write_error(exc: BaseException, out: Path) -> OSError | None:
    """The OSError behind a failed write, as one about `out` (not about the temporary file
    or part that hit the full disk); None for anything else."""
    if not isinstance(exc, Exception):
        return None  # Ctrl-C, SIGTERM: as they are
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno is not None:
            if e.filename is not None and not _ours(e.filename, out):
                return None  # about an input, say: its own message names it
            return OSError(e.errno, e.strerror or str(e), str(out))
    return None


def _ours(filename: object, out: Path) -> bool:
    """The output, its temporary file or a part in its parts folder."""
    if not isinstance(filename, str | bytes):
        return True
    name = Path(os.fsdecode(filename)).resolve()
    folder = (out.parent if str(out.parent) else Path(".")).resolve()
    mine = f".{out.name}."
    return (
        name == out.resolve()
        or (name.parent == folder and name.name.startswith(mine))
        or (name.parent.parent == folder and name.parent.name.startswith(mine))
    )
