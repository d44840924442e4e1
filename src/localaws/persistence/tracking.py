"""Which resources a request reached: moto's resource collections that report their use.

`persistence.shards` saves a backend one resource per file; to save only what a request
changed it must know which resources the request could have changed. moto reaches a
resource through its backend's collections (`backend.roles[name]`, `backend.training_jobs
.get(name)`, a scan of `roles.values()`, `state_machine.executions`), so those collections
are replaced by `TrackedDict` / `TrackedList`, which record in the open `Touches` (one per
request, opened by the middleware with `tracking()`):
- `full`: resources looked up by key, set, popped, or where a scan stopped (moto's
  `for role in roles.values(): if role.name == name: return role` returns the last one it
  saw): these are pickled and compared with what was saved;
- `scanned`: resources a scan went past: compared by a cheap fingerprint first
  (`shards.fingerprint`), pickled only if it changed.
Outside a request (job and execution threads) nothing is recorded: those callers name what
they changed (`core.hooks.changed(service, *resources)`), or the whole service is checked.
Every membership change bumps the collection's `version`, so the save compares keys only
in collections that changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Touches:
    """What one request reached, by collection (`id(collection)` -> keys)."""

    full: dict[int, set[Any]] = field(default_factory=dict)
    scanned: dict[int, set[Any]] = field(default_factory=dict)

    def add(self, collection: Any, key: Any, full: bool = True) -> None:
        (self.full if full else self.scanned).setdefault(id(collection), set()).add(key)


_current: ContextVar[Touches | None] = ContextVar("localaws_touches", default=None)


@contextmanager
def tracking() -> Iterator[Touches]:
    """Record the resources reached on this thread until the block ends (one request)."""
    touches = Touches()
    token = _current.set(touches)
    try:
        yield touches
    finally:
        _current.reset(token)


def current() -> Touches | None:
    return _current.get()


def _touch(collection: Any, key: Any) -> None:
    touches = _current.get()
    if touches is not None:
        touches.add(collection, key)


def _scan(collection: Any, pairs: Iterator[tuple[Any, Any]], pick: int) -> Iterator[Any]:
    """Yield from `pairs` ((key, value)); the values passed are scanned, the last one full."""
    touches = _current.get()
    last: Any = _NONE
    try:
        for pair in pairs:
            if touches is not None:
                if last is not _NONE:
                    touches.add(collection, last, full=False)
                last = pair[0]
            yield pair if pick < 0 else pair[pick]
    finally:
        if touches is not None and last is not _NONE:
            touches.add(collection, last)


_NONE = object()


class _View:
    """A dict view whose iteration reports what it passes (len / in / reversed as dict's)."""

    __slots__ = ("_owner", "_view", "_pick")

    def __init__(self, owner: TrackedDict, view: Any, pick: int):
        self._owner, self._view, self._pick = owner, view, pick

    # Over a copy: a scan runs Python code per item (moto's `filter(lambda ..., values())`),
    # a window in which a concurrent request could change the dict ("changed size during
    # iteration": a 500 under load); the copy is one C call. Outside a mutating request
    # (reads, threads) nothing is recorded: the copy alone.
    def __iter__(self) -> Iterator[Any]:
        if _current.get() is None:
            return iter(list(self._view))
        return _scan(self._owner, iter(list(dict.items(self._owner))), self._pick)

    def __reversed__(self) -> Iterator[Any]:
        if _current.get() is None:
            return reversed(list(self._view))
        return _scan(self._owner, reversed(list(dict.items(self._owner))), self._pick)

    def __len__(self) -> int:
        return len(self._view)

    def __contains__(self, item: object) -> bool:
        return item in self._view

    def __repr__(self) -> str:
        return repr(self._view)


class TrackedDict(dict):
    """A backend's resource dict (key -> resource) that reports the keys a request reaches."""

    version = 0

    def __getitem__(self, key):
        _touch(self, key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        _touch(self, key)
        return dict.get(self, key, default)

    def __setitem__(self, key, value) -> None:
        _touch(self, key)
        self.version += 1
        dict.__setitem__(self, key, value)

    def __delitem__(self, key) -> None:
        self.version += 1
        dict.__delitem__(self, key)

    def pop(self, key, *default):
        self.version += 1
        return dict.pop(self, key, *default)

    def popitem(self):
        self.version += 1
        return dict.popitem(self)

    def setdefault(self, key, default=None):
        _touch(self, key)
        self.version += 1
        return dict.setdefault(self, key, default)

    def update(self, *args, **kwargs) -> None:
        self.version += 1
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        self.version += 1
        dict.clear(self)

    def values(self):  # type: ignore[override]
        return _View(self, dict.values(self), 1)

    def items(self):  # type: ignore[override]
        return _View(self, dict.items(self), -1)

    def copy(self) -> dict:
        return dict(self.items())

    def __reduce__(self):
        return dict, (), None, None, iter(dict.items(self))


class TrackedList(list):
    """A resource list (e.g. a state machine's executions), keyed by `key_attr` of its items."""

    version = 0
    key_attr = ""

    def _pairs(self, items: Any) -> Iterator[tuple[Any, Any]]:
        return ((getattr(item, self.key_attr, None), item) for item in items)

    def __iter__(self) -> Iterator[Any]:
        if _current.get() is None:
            return list.__iter__(self)
        return _scan(self, self._pairs(list(list.__iter__(self))), 1)

    def __reversed__(self) -> Iterator[Any]:
        if _current.get() is None:
            return list.__reversed__(self)
        return _scan(self, self._pairs(list(list.__reversed__(self))), 1)

    def __getitem__(self, index):
        found = list.__getitem__(self, index)
        for item in found if isinstance(index, slice) else (found,):
            _touch(self, getattr(item, self.key_attr, None))
        return found

    def _changed(self) -> None:
        self.version += 1

    def append(self, item) -> None:
        self._changed()
        _touch(self, getattr(item, self.key_attr, None))
        list.append(self, item)

    def extend(self, items) -> None:
        self._changed()
        list.extend(self, items)

    def insert(self, index, item) -> None:
        self._changed()
        list.insert(self, index, item)

    def remove(self, item) -> None:
        self._changed()
        list.remove(self, item)

    def pop(self, index=-1):
        self._changed()
        return list.pop(self, index)

    def clear(self) -> None:
        self._changed()
        list.clear(self)

    def __setitem__(self, index, value) -> None:
        self._changed()
        list.__setitem__(self, index, value)

    def __delitem__(self, index) -> None:
        self._changed()
        list.__delitem__(self, index)

    def __iadd__(self, items):
        self._changed()
        return list.__iadd__(self, items)

    def sort(self, *args, **kwargs) -> None:
        self._changed()
        list.sort(self, *args, **kwargs)

    def __reduce__(self):
        return list, (), None, list.__iter__(self)
