"""The WSGI middleware: health checks, one request scope per request, durable writes.

Every request runs inside a `core.request_scope` scope, where moto's patched S3 and DynamoDB
code records what it touched, and a mutating one also inside a `tracking` scope, where the
other services' resource collections record the resources it reached. After a successful
mutating request (`requests.classify`) the middleware snapshots what it changed
(`requests.refine`, `Store.append`) and syncs the journal before the response is sent: a
write is durable once acknowledged.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Callable

from localaws.core import request_scope
from localaws.core.request_scope import RequestScope
from localaws.persistence import tracking
from localaws.persistence.requests import Plan, classify, refine
from localaws.persistence.store import Store

log = logging.getLogger("localaws.persistence")

HEALTH_PATH = "/_localaws/health"
SERIALIZED = ("dynamodb",)
LARGE_BODY = 8 * 1024 * 1024


def _content_length(environ: dict) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _drop_body(environ: dict) -> None:
    """Free a large request body now.

    moto's Flask request caches the body and sits in reference cycles (request <-> environ,
    request context), which only the cyclic GC frees; large bodies (S3 parts) would pile up
    in memory until the next full collection.
    """
    request = environ.pop("werkzeug.request", None)
    if request is not None:
        request.__dict__.pop("_cached_data", None)
    gc.collect()


class PersistMiddleware:
    """Answers health checks; saves touched state after each successful mutating request."""

    def __init__(self, app: Callable, store: Store, health: Callable[[], dict]):
        self.app = app
        self.store = store
        self.health = health
        self._serial = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == HEALTH_PATH:
            payload = json.dumps(self.health()).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        plan, _ = classify(environ)
        with request_scope.scope() as scope:
            if plan is None:
                return self.app(environ, start_response)
            try:
                with tracking.tracking():  # only writes: reads scan at moto's own speed
                    return self._mutate(environ, start_response, plan, scope)
            finally:
                if _content_length(environ) >= LARGE_BODY:
                    _drop_body(environ)

    def _mutate(self, environ, start_response, plan: Plan, scope: RequestScope):
        captured: list = []
        early: list[bytes] = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers, exc_info]
            return early.append

        # DynamoDB writes are serialized: moto's conditional writes and ADD updates read
        # then write, which concurrent requests would interleave (lost updates).
        serialize = any(service in SERIALIZED for service, _ in plan.targets)
        tickets = []
        method = environ.get("REQUEST_METHOD", "")
        if serialize:
            self._serial.acquire()
        try:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if int(captured[0].split()[0]) < 400:
                try:
                    tickets = [
                        self.store.append(svc, refine(svc, parts, scope, method))
                        for svc, parts in plan.targets
                    ]
                except Exception as exc:  # noqa: BLE001 - the client must learn it is not durable
                    return self._failed(start_response, exc)
        finally:
            if serialize:
                self._serial.release()
        try:
            for ticket in tickets:
                if ticket:
                    self.store.journal.sync(ticket)
        except Exception as exc:  # noqa: BLE001
            return self._failed(start_response, exc)
        start_response(*captured[:2])
        return early + chunks

    @staticmethod
    def _failed(start_response, exc: Exception) -> list[bytes]:
        log.error("saving state failed", exc_info=exc)
        payload = f"localaws could not save its state: {exc!r}".encode()
        start_response(
            "500 Internal Server Error",
            [("Content-Type", "text/plain"), ("Content-Length", str(len(payload)))],
        )
        return [payload]
