"""Per-request work in moto's dispatcher that never changes while the server runs, done once.

- To recognise a service name in the Host header, moto lists its own package folder (about
  175 `stat` calls) twice per request: about 1.2 ms of a 3.5 ms request.
- To find a response class's action methods, moto runs `inspect.getmembers` on the class at
  every request. Patches change those classes only in `apply()`, before the first request.
"""

from __future__ import annotations

from functools import cache

_DONE = "_localaws_cached"


def apply() -> None:
    """Cache moto's module list and method-name look-ups (idempotent)."""
    from moto import backends
    from moto.core import responses

    if getattr(backends.list_of_moto_modules, _DONE, False):
        return
    modules = frozenset(backends.list_of_moto_modules())

    def list_of_moto_modules() -> frozenset[str]:
        return modules

    method_names = cache(responses.method_names_from_class)
    for function in (list_of_moto_modules, method_names):
        setattr(function, _DONE, True)
    backends.list_of_moto_modules = list_of_moto_modules
    responses.method_names_from_class = method_names
