"""The one request-scoped channel between the persistence middleware and moto's code below it.

Why it cannot be a parameter: the readers and writers sit deep inside moto, behind call
chains localaws does not own. A DynamoDB table's item dict (`services.dynamodb.items`) learns
which hash keys a request touches, but moto calls it from dozens of backend methods; an S3
key's `value` property (`services.s3.storage`) must return a stream instead of bytes for a
plain GetObject, but moto's response code reads it with no argument to pass.

So `persistence.middleware` opens one `RequestScope` per request with `scope()` (set and
reset there, nowhere else); the moto patches read it with `current()` and record into it.
Outside a request (background threads, tests calling backends directly) `current()` is None
and the patches behave as moto does. It is a `ContextVar`, so concurrent requests, each on
its own server thread, never see each other's scope.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestScope:
    """What one request records (or asks for) on its way through moto."""

    # S3: the object names moto parsed from the request (the objects it may change).
    s3_keys: set[str] = field(default_factory=set)
    # S3: set while moto answers a plain GetObject, whose large bodies may be streamed.
    stream_bodies: bool = False
    # DynamoDB: table name -> hash keys the request read or wrote.
    dynamodb_keys: dict[str, set[Any]] = field(default_factory=dict)


_current: ContextVar[RequestScope | None] = ContextVar("localaws_request_scope", default=None)


def current() -> RequestScope | None:
    """The scope of the request being served on this thread, or None outside a request."""
    return _current.get()


@contextmanager
def scope() -> Iterator[RequestScope]:
    """Open a fresh scope for one request (the persistence middleware's job only)."""
    opened = RequestScope()
    token = _current.set(opened)
    try:
        yield opened
    finally:
        _current.reset(token)
