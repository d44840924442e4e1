"""Per-request work in moto's dispatcher that never changes while the server runs, done once.

- To recognise a service name in the Host header, moto lists its own package folder (about
  175 `stat` calls) twice per request: about 1.2 ms of a 3.5 ms request.
- To find a response class's action methods, moto runs `inspect.getmembers` on the class at
  every request. Patch groups change those classes only when applied, before the first request.
- To find the backend of a request, moto matches its host (inferred from the signature) against
  the URL patterns of every service in turn, about 180 regular expressions: 15-30 us a request.
  A host's backend never changes: it is remembered (per host; a few dozen hosts at most).
- moto runs its Flask apps with `debug = True`, so each request whose form Flask parses (every
  S3 PutObject) got a class built for it (`flask.debughelpers.attach_enctype_error_multidict`:
  ~3 % of a PutObject's server CPU) to word a KeyError of `request.files[...]` when `files` is
  empty. moto reads `request.files[...]` only when it is not empty: the class never served.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from flask import debughelpers
from moto import backends
from moto.core import responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from localaws.core.patching import Patches

patches = Patches("moto.dispatch")


@patches.wrap(backends, "list_of_moto_modules")
@cache
def list_of_moto_modules(original: Callable[[], object]) -> frozenset[str]:
    return frozenset(original())


@patches.wrap(responses, "method_names_from_class")
@cache
def method_names_from_class(original: Callable[[type], list[str]], cls: type) -> list[str]:
    return original(cls)


_BACKENDS_KEPT = 1024  # hosts remembered at most (a client could make up any number of them)


@patches.wrap(DomainDispatcherApplication, "get_backend_for_host")
def get_backend_for_host(original: Callable[..., Any], self: Any, host: str | None) -> Any:
    """moto's answer, remembered per host (moto calls this under its own lock)."""
    known = self.__dict__.setdefault("_localaws_backends", {})
    backend = known.get(host)
    if backend is None:
        backend = original(self, host)
        if backend is not None and len(known) < _BACKENDS_KEPT:
            known[host] = backend
    return backend


@patches.replace(debughelpers, "attach_enctype_error_multidict")
def attach_enctype_error_multidict(request: Any) -> None:
    """Nothing: see the module docstring."""
