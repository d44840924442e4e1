"""Each bucket's object names in sorted order, kept up to date as names come and go.

A listing page (`services.s3.versions`) bisects to its marker in this index instead of sorting
every name of the bucket. The index of a bucket's key store (moto's `_VersionedKeyStore`) is
built on first use and then updated by the store's own mutators (`__setitem__`, `setlist`,
`pop`: every way moto adds or removes a name), under one lock with the change itself so that
concurrent writers keep it exact. Code that bypasses them (the persistence restore fills a
new store with `dict.__setitem__`) creates new stores, which get new indexes; a length that
no longer matches the store rebuilds the index all the same.
"""

from __future__ import annotations

import threading
import weakref
from bisect import bisect_left
from typing import Any

from moto.s3.utils import _VersionedKeyStore

from localaws.core.patching import Patches

patches = Patches("s3.key_index")

_lock = threading.RLock()
# id(store) -> (weak reference to the store, its names sorted); entries leave with the store.
_indexes: dict[int, tuple[weakref.ref, list[str]]] = {}


def sorted_names(store: Any) -> list[str]:
    """The names of `store` (a bucket's keys) in sorted order: a copy, safe to iterate."""
    with _lock:
        names = _index(store)
        if names is None or len(names) != len(store):
            names = sorted(dict.keys(store))
            ident = id(store)

            def forget(ref: weakref.ref, ident: int = ident) -> None:
                with _lock:
                    if ident in _indexes and _indexes[ident][0] is ref:
                        del _indexes[ident]

            _indexes[ident] = (weakref.ref(store, forget), names)
        return list(names)


def _index(store: Any) -> list[str] | None:
    entry = _indexes.get(id(store))
    if entry is None or entry[0]() is not store:
        return None
    return entry[1]


def _added(store: Any, name: str) -> None:
    names = _index(store)
    if names is not None:
        at = bisect_left(names, name)
        if at == len(names) or names[at] != name:
            names.insert(at, name)


def _removed(store: Any, name: str) -> None:
    names = _index(store)
    if names is not None and not dict.__contains__(store, name):
        at = bisect_left(names, name)
        if at < len(names) and names[at] == name:
            del names[at]


@patches.wrap(_VersionedKeyStore, "__setitem__")
@patches.wrap(_VersionedKeyStore, "setlist")
def _adding(original: Any, self: Any, key: str, value: Any) -> Any:
    with _lock:
        result = original(self, key, value)
        _added(self, key)
    return result


@patches.wrap(_VersionedKeyStore, "pop")
def _pop(original: Any, self: Any, key: str) -> Any:
    with _lock:
        try:
            return original(self, key)
        finally:
            _removed(self, key)
