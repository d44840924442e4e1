"""Persistence hooks for code that changes moto state outside a request.

- `changed(service, *resources)`: call after mutating a moto backend from a background
  thread (an execution finishing, a job completing). It saves that service's state before
  returning: the named `resources` (the moto objects changed, e.g. the job) and resources
  added or removed; without names it compares every resource of the service (slower).
  S3 takes `parts={bucket: {key names}}` instead.
  Service names are moto's backend names as listed in `localaws.persistence.catalog.SERVICES`
  (e.g. "s3", "dynamodb", "iam", "sagemaker", "logs", "stepfunctions",
  "stepfunctions_parser"). Outside the server process it does nothing.
- `on_restore(callback)`: `callback()` runs once at server start, after the saved state is
  loaded and before the first request is served. Use it to mark work that was running when
  the server stopped or died (executions, jobs) as failed/stopped with a reason, and
  saves what it changed with `changed(service, *resources)`: nothing else is saved at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol


class Store(Protocol):
    """What `changed` needs of the snapshot store (`localaws.persistence.store.Store`)."""

    def save(self, service: str, parts: Any = None, resources: tuple = ()) -> None: ...


log = logging.getLogger("localaws.state")

_store: Store | None = None
_restore_callbacks: list[Callable[[], None]] = []


def changed(service: str, *resources: object, parts: Any = None) -> None:
    """Record that `service`'s state changed and make it durable now: `resources` (objects of
    a resource-split service; default: any of them) or `parts` (a partitioned service's
    entries, S3: {bucket: {key names}}, as `Store.save`)."""
    if _store is not None:
        _store.save(service, parts, resources)


def on_restore(callback: Callable[[], None]) -> Callable[[], None]:
    """Register `callback` to run after state is restored at server start (usable as decorator)."""
    _restore_callbacks.append(callback)
    return callback


def activate(store: Store) -> None:
    """Server start-up: route `changed` to `store`."""
    global _store
    _store = store


def run_restore_callbacks() -> None:
    for callback in _restore_callbacks:
        try:
            callback()
        except Exception:  # noqa: BLE001 - one broken hook must not keep the server down
            log.exception("restore callback %r failed", callback)
