"""What localaws adds to moto: every module here with an `apply()` is applied once, by name."""

from __future__ import annotations

import importlib
import pkgutil

_applied = False


def apply_all() -> None:
    """Apply every patch module of this package (idempotent)."""
    global _applied
    if _applied:
        return
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "apply"):
            module.apply()
    _applied = True
