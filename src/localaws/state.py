"""Persistence hooks for code that changes moto state outside a request (background threads).

STUB until the foundation work lands; interface is fixed: call `changed(service)` after
mutating a backend from a thread that is not serving a request.
"""

from __future__ import annotations


def changed(service: str) -> None:
    """Record that `service`'s backend state changed and must be made durable now."""
