"""Find a resource in a moto collection by one attribute, without a scan per request.

moto keeps IAM roles in a dict keyed by role id, and STS's assumed roles and a state
machine's executions in lists; it finds one by name, ARN or access key with a scan. With
many tenants that is O(N) per request, and in a mutating request every resource a scan
passes is fingerprinted at save (`persistence.tracking`). A `Lookup` remembers where each
value was found (the dict key or the list position) and checks the item there on use. A
miss rescans only if the collection changed since the last scan (its `version`, which
`persistence.tracking` bumps on every membership change, and its length), so a value that
is not there costs a scan once per change, not once per request.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_NONE = object()


@dataclass
class _Index:
    collection: Any  # a weak reference where the collection allows one, else the collection
    stamp: tuple[Any, int] | None = None
    slots: dict[Any, Any] = field(default_factory=dict)

    def refers_to(self, collection: Any) -> bool:
        held = self.collection() if isinstance(self.collection, weakref.ref) else self.collection
        return held is collection


def _hold(collection: Any) -> Any:
    try:
        return weakref.ref(collection)
    except TypeError:  # plain dict / list
        return collection


def _stamp(collection: Any) -> tuple[Any, int]:
    return getattr(collection, "version", None), len(collection)


def _slots(collection: Any) -> Iterator[tuple[Any, Any]]:
    """(slot, item) without the tracked iteration: a rebuild reads, it reaches nothing.

    It walks a copy: requests run in threads, and another one may add or remove an item
    meanwhile. The base types' `copy` runs in C without releasing the GIL, so it is a
    consistent snapshot where iterating the live dict raised "changed size during iteration".
    """
    if isinstance(collection, dict):
        return iter(dict.copy(collection).items())
    return enumerate(list.copy(collection))


def _at(collection: Any, slot: Any) -> Any:
    """The item at `slot`, through the collection's own (tracked) access, or None."""
    if isinstance(collection, dict):
        return collection.get(slot)
    return collection[slot] if 0 <= slot < len(collection) else None


class Lookup:
    """Items of moto collections by the value of `attribute` (the first item with it)."""

    def __init__(self, attribute: str):
        self.attribute = attribute
        self._indexes: dict[int, _Index] = {}

    def find(self, collection: Any, value: Any) -> Any:
        """The first item whose `attribute` equals `value`, or None."""
        index = self._indexes.get(id(collection))
        if index is None or not index.refers_to(collection):
            index = self._indexes[id(collection)] = _Index(_hold(collection))
        slot = index.slots.get(value, _NONE)
        if slot is not _NONE:
            item = _at(collection, slot)
            if item is not None and getattr(item, self.attribute, None) == value:
                return item
        stamp = _stamp(collection)
        if slot is _NONE and index.stamp == stamp:
            return None  # scanned since the collection last changed: not there
        slots: dict[Any, Any] = {}
        for at, item in _slots(collection):
            slots.setdefault(getattr(item, self.attribute, None), at)
        index.slots, index.stamp = slots, stamp
        slot = slots.get(value, _NONE)
        return None if slot is _NONE else _at(collection, slot)
