"""xlnet: machine-learning training written into spreadsheets as live formulas.

    import xlnet
    run = xlnet.build("mlp", "net.xlsx", hidden=(5,), epochs=20, lr=1.0)
    run.history                         # a DataFrame: epoch, loss, accuracy
    xlnet.verify("net.xlsx").ok         # every formula recomputed, compared with NumPy

The functions (build, verify, exercise, check, sweep, export_scorer) live in xlnet.api and
are imported on first use, so `import xlnet` stays cheap; every error they raise is an
XlnetError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import FileError, XlnetError
from .version import __version__

__all__ = ["FileError", "XlnetError", "__version__", "build", "check", "exercise",
           "export_scorer", "sweep", "verify"]  # fmt: skip

_API = ("build", "check", "exercise", "export_scorer", "sweep", "verify")

if TYPE_CHECKING:
    from .api import build, check, exercise, export_scorer, sweep, verify


def __getattr__(name: str) -> Any:
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'xlnet' has no attribute {name!r}")
