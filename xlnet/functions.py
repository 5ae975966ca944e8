"""formulas' function library, loaded without importing scipy until a function needs it.

formulas imports all its function modules at the first parse, and its statistics module
imports scipy.stats, scipy.linalg and scipy.interpolate at the top: about a second of CPU at
every start, more than recomputing a 100,000-cell sheet. Training sheets never call those
distributions (NORM.DIST, T.TEST...). While that module loads, stand-ins take the place of the
three scipy modules; each imports the real module the first time a function touches it, so a
sheet that does use them computes exactly as before.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

_STAT = "formulas.functions.stat"
_DEFERRED = ("scipy.stats", "scipy.linalg", "scipy.interpolate")


class _Deferred(types.ModuleType):
    """A module whose attributes are looked up in the real one, imported on first use."""

    def __getattr__(self, name: str) -> _Attribute:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Attribute(self.__name__, name)


class _Attribute:
    """scipy.stats.norm, interp1d...: resolved, and the module imported, when used."""

    def __init__(self, module: str, name: str) -> None:
        self._module, self._name = module, name

    def _real(self) -> Any:
        return getattr(importlib.import_module(self._module), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._real()(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


def load() -> None:
    """Import formulas' statistics module with scipy deferred (once; a no-op when scipy.stats
    is loaded already, when the module is, or if the stand-ins do not fit this formulas)."""
    if _STAT in sys.modules or any(name in sys.modules for name in _DEFERRED):
        return
    try:
        import scipy  # noqa: F401  (the package itself is cheap; its submodules are not)
    except ImportError:
        return
    for name in _DEFERRED:
        sys.modules[name] = _Deferred(name)
    try:
        importlib.import_module(_STAT)
    except Exception:
        sys.modules.pop(_STAT, None)
    finally:
        for name in _DEFERRED:
            if isinstance(sys.modules.get(name), _Deferred):
                del sys.modules[name]
