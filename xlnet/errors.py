"""The one base of every error xlnet raises for bad input, unusable files or a failed write:
a notebook catches `xlnet.XlnetError`; the command line turns each into one line and exit 2."""

from __future__ import annotations

import os


class XlnetError(Exception):
    """Something xlnet cannot do with what it was given; the message says what and where."""


class FileError(XlnetError, OSError):
    """A file or folder that cannot be read or written: missing, unreadable, disk full."""

    @classmethod
    def wrap(cls, exc: OSError) -> FileError:
        """The same error (errno, message, file name) as an XlnetError."""
        err = cls(exc.errno, exc.strerror or str(exc), exc.filename)
        if exc.errno is None:
            err.args = (str(exc),)
        return err

    def __str__(self) -> str:
        if self.strerror and self.filename:
            return f"{os.fsdecode(self.filename)}: {self.strerror}"
        return self.strerror or super().__str__()
