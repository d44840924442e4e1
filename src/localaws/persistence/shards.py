"""One backend saved one resource per file, so a write costs what it touched, not the backend.

A backend's resource collections (`Collection`: every plain dict attribute, the lists and
nested collections its `catalog.ServiceSpec` names, e.g. Step Functions' state machines and
each one's executions, SageMaker pipelines' executions, CloudWatch Logs' streams of each
group, the tag services) are kept
as `tracking.TrackedDict` / `TrackedList`. Each resource is one file
`data/<service>/<account>/<region>.shards/<hash>.pkl`; the rest of the backend is
`<region>.pkl` (today's path, so state written before shards still loads, and is split at
its first save).

References between resources stay references: a resource pickled inside another one, or
in the backend's remainder, is written as a persistent id (`("e", collection, key)`), a
collection as `("c", collection)`. Restore creates every plain resource object first and
fills in their state second, so resources may refer to each other in any direction.

What a save looks at (`BackendShards.records`):
- collections whose membership changed (`version`) are compared key by key: new and replaced
  resources are written, removed ones deleted;
- the resources a request reached (`tracking.Touches`): looked-up ones are pickled and
  written if their bytes changed; ones a scan went past are first compared by `fingerprint`;
- the resources a background thread names (`core.hooks.changed(service, *resources)`);
- with none of that known (`full`): every resource is pickled and compared (restore, old
  callers); even then only the files that changed are written.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from operator import is_
from pathlib import Path
from typing import Any

from localaws.core.files import files_named
from localaws.persistence import pickling
from localaws.persistence.catalog import ServiceSpec
from localaws.persistence.tracking import Touches, TrackedDict, TrackedList

FORMAT_KEY = "__localaws_shards__"
Name = tuple  # a collection's name: ("roles",), ("tagger", "tags"), ("groups", key, "streams")
_SCALARS = (str, bytes, int, float, bool, type(None))


def fingerprint(obj: Any) -> list[Any]:
    """What `obj` holds two levels down, by reference: its attributes, and the members of
    those that are containers or plain objects. Compared by identity (`same`); holding the
    references keeps them alive, so a changed member can never pose as the one before."""
    state = getattr(obj, "__dict__", None)
    if state is None or isinstance(obj, (dict, list, tuple)):
        state = {"": obj}
    out = list(chain.from_iterable(state.items()))
    for value in list(state.values()):
        kind = type(value)
        members = _MEMBERS.get(kind, _UNKNOWN)
        if members is _UNKNOWN:
            members = _MEMBERS[kind] = _members_of(kind)
        if members is not None:
            out += members(value)
    return out


_UNKNOWN = object()
_MEMBERS: dict[type, Any] = {kind: None for kind in _SCALARS}


def _members_of(kind: type) -> Callable[[Any], list] | None:
    """How to list the members of a value of type `kind` (None: nothing below it)."""
    if issubclass(kind, (TrackedDict, TrackedList, *_SCALARS)):
        return None  # collections are saved on their own; scalars are their value
    if issubclass(kind, dict):
        return lambda value: list(chain.from_iterable(dict.items(value)))
    if issubclass(kind, (list, tuple, set, frozenset)):
        return list
    return lambda value: list(chain.from_iterable(getattr(value, "__dict__", {}).items()))


def same(before: list[Any] | None, now: list[Any]) -> bool:
    return before is not None and len(before) == len(now) and all(map(is_, before, now))


def _retrying(make: Callable[[], Any]) -> Any:
    """`make()`, again while a concurrent request changes a dict or set it walks."""
    for attempt in range(50):
        try:
            return make()
        except RuntimeError as exc:
            if "changed size" not in str(exc) and "mutated" not in str(exc):
                raise
            time.sleep(0.001 * attempt)
    raise RuntimeError("state kept changing while being saved")


def _plain_object(obj: Any, dispatch: dict) -> bool:
    """Whether `obj` pickles as class + __dict__ (then restore can create it up front)."""
    cls = type(obj)
    return (
        hasattr(obj, "__dict__")
        and not isinstance(obj, (dict, list, tuple, set, type))
        and cls not in dispatch
        and cls.__reduce_ex__ is object.__reduce_ex__
        and cls.__reduce__ is object.__reduce__
        and cls.__getstate__ is object.__getstate__
        and not hasattr(cls, "__setstate__")
        and not hasattr(cls, "__slots__")
    )


@dataclass
class Collection:
    name: Name
    live: Any  # the TrackedDict / TrackedList
    key_attr: str | None = None  # lists: the attribute that keys an item
    version: int = -1  # `live.version` when last compared
    keys: dict[Any, Any] = field(default_factory=dict)  # key -> resource, as last compared

    def pairs(self) -> list[tuple[Any, Any]]:
        if isinstance(self.live, list):
            items = _retrying(lambda: list(list.__iter__(self.live)))
            return [(getattr(v, self.key_attr or "", None), v) for v in items]
        return _retrying(lambda: list(dict.items(self.live)))


class _EntryPickler(pickling._Pickler):
    def __init__(self, buf: io.BytesIO, dispatch: dict, shards: BackendShards, root: Any):
        super().__init__(buf, dispatch)
        self.shards, self.root = shards, root
        self.referenced: set[tuple] = set()

    def persistent_id(self, obj: Any) -> Any:
        if obj is self.root or isinstance(obj, _SCALARS):
            return None
        found = self.shards.locations.get(id(obj))
        if found is None or found[0] is not obj:
            return None
        if found[1] == "c":
            return ("c", found[2])
        self.referenced.add(found[1:])
        return ("e", *found[1:])


class BackendShards:
    """The files of one backend (`base` = data/<service>/<account>/<region>)."""

    def __init__(self, base: str, spec: ServiceSpec, dispatch: dict):
        self.base, self.spec, self.dispatch = base, spec, dispatch
        self.collections: dict[Name, Collection] = {}
        self.locations: dict[int, tuple] = {}  # id -> (obj, "c", name) | (obj, name, key)
        self.saved: dict[tuple, tuple[Any, int]] = {}  # (name, key) -> (fingerprint, seq)
        self.seq = 0
        self._orphans: list[Collection] = []  # collections gone: their files go at next save
        self._forgotten: set[int] = set()  # resources removed by the save under way
        self._out: list[tuple[str, bytes | None]] = []  # `refresh`'s findings for `records`
        self._check: dict[tuple, bool] = {}  # (name, key) -> pickle it (False: if fingerprint)

    def rel(self, name: Name, key: Any) -> str:
        raw = pickle.dumps((name, key), protocol=4)
        return f"{self.base}.shards/{hashlib.blake2b(raw, digest_size=16).hexdigest()}.pkl"

    # ----- which collections the backend has
    def _adopt(self, name: Name, holder: dict, attr: str, key_attr: str | None) -> bool:
        value = holder.get(attr)
        if type(value) is dict:
            value = holder[attr] = TrackedDict(value)
        elif type(value) is list and key_attr:
            tracked = TrackedList(value)
            tracked.key_attr = key_attr
            value = holder[attr] = tracked
        if not isinstance(value, (TrackedDict, TrackedList)):
            return False
        known = self.collections.get(name)
        if known is None or known.live is not value:
            if known is not None:
                self._drop_collection(name)
            self.collections[name] = Collection(name, value, key_attr)
            self.locations[id(value)] = (value, "c", name)
        return True

    def discover(self, backend: Any) -> None:
        """Adopt the backend's collections (making them tracked); drop those gone."""
        state = backend.__dict__
        adopted: set[Name] = set()

        def adopt(name: Name, holder: dict, attr: str, key_attr: str | None) -> None:
            if self._adopt(name, holder, attr, key_attr):
                adopted.add(name)

        listed = dict(self.spec.lists)
        for attr in list(state):
            if type(state[attr]) in (dict, TrackedDict) or attr in listed:
                adopt((attr,), state, attr, listed.get(attr))
        for first, second in self.spec.paths:  # e.g. tagger.tags: a dict in a helper object
            holder = state.get(first)
            if holder is not None and hasattr(holder, "__dict__"):
                adopt((first, second), holder.__dict__, second, None)
        for parent, attr, key_attr in self.spec.nested:
            outer = self.collections.get((parent,))
            if outer is not None and (parent,) in adopted:
                for key, entry in outer.pairs():
                    if hasattr(entry, "__dict__"):
                        adopt((parent, key, attr), entry.__dict__, attr, key_attr)
        for name in [n for n in self.collections if n not in adopted]:
            self._drop_collection(name)

    def _drop_collection(self, name: Name) -> None:
        gone = self.collections.pop(name)
        self.locations.pop(id(gone.live), None)
        self._orphans.append(gone)

    # ----- save
    def refresh(self, backend: Any) -> None:
        """Compare the membership of collections that changed with what was saved (first
        step of a save: new, replaced and removed resources are known after it)."""
        self.discover(backend)
        for gone in self._orphans:
            for key, value in gone.keys.items():
                self._out.append(self._forget(gone.name, key, value))
        self._orphans = []
        for coll in self.collections.values():
            if coll.version != coll.live.version:
                seen_version = coll.live.version
                current = dict(coll.pairs())
                for key, value in coll.keys.items():
                    if key not in current:
                        self._out.append(self._forget(coll.name, key, value))
                for key, value in current.items():
                    old = coll.keys.get(key)
                    if old is not value:
                        if old is not None and self.locations.get(id(old), (None,))[0] is old:
                            del self.locations[id(old)]  # replaced under its key
                        self._check[(coll.name, key)] = True
                        if (coll.name, key) not in self.saved:  # restore keeps this order
                            self.saved[(coll.name, key)] = (None, self._next())
                        self.locations[id(value)] = (value, coll.name, key)
                coll.keys, coll.version = current, seen_version

    def owns(self, obj: Any) -> bool:
        """Whether `obj` is (or was until this save) one of this backend's resources."""
        found = self.locations.get(id(obj))
        return (found is not None and found[0] is obj) or id(obj) in self._forgotten

    def records(
        self, backend: Any, touches: Touches | None, named: tuple = (), full: bool = False
    ) -> list[tuple[str, bytes | None]]:
        """(path, content or None) of every file this save must write or delete; `refresh`
        came first. `full`: compare every resource."""
        out, check = self._out, self._check
        self._out, self._check, self._forgotten = [], {}, set()
        if full:
            check.update({(c.name, k): True for c in self.collections.values() for k in c.keys})
        if touches is not None:
            for coll in self.collections.values():
                for key in touches.full.get(id(coll.live), ()):
                    if key in coll.keys:
                        check[(coll.name, key)] = True
                for key in touches.scanned.get(id(coll.live), ()):
                    if key in coll.keys:
                        check.setdefault((coll.name, key), False)
        for obj in named:
            found = self.locations.get(id(obj))
            if found is not None and found[0] is obj and found[1] != "c":
                check[found[1:]] = True
        done: set[tuple] = set()
        while check:
            (name, key), must = check.popitem()
            done.add((name, key))
            coll = self.collections.get(name)
            if coll is None or key not in coll.keys:
                continue  # a reference to what is gone: its removal is recorded elsewhere
            value = coll.keys[key]
            fp = _retrying(lambda value=value: fingerprint(value))
            if not must and same(self.saved.get((name, key), (None,))[0], fp):
                continue
            seq = self.saved[(name, key)][1] if (name, key) in self.saved else self._next()
            data, referenced = self._dumps(name, key, value, seq)
            self.saved[(name, key)] = (fp, seq)
            out.append((self.rel(name, key), data))
            for ref in referenced - done:  # something reached through it may have changed
                check.setdefault(ref, False)
        remainder = self._dump_remainder(backend)
        return out + [(f"{self.base}.pkl", remainder)]

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def _forget(self, name: Name, key: Any, value: Any) -> tuple[str, None]:
        self.saved.pop((name, key), None)
        found = self.locations.get(id(value))
        if found is not None and found[0] is value and found[1:] == (name, key):
            del self.locations[id(value)]
        self._forgotten.add(id(value))
        return (self.rel(name, key), None)

    def _dumps(self, name: Name, key: Any, value: Any, seq: int) -> tuple[bytes, set]:
        plain = _plain_object(value, self.dispatch)

        def dump() -> tuple[bytes, set]:
            buf = io.BytesIO()
            inner = _EntryPickler(buf, self.dispatch, self, value)
            inner.dump(dict(value.__dict__) if plain else value)
            return buf.getvalue(), inner.referenced

        data, referenced = _retrying(dump)
        outer = pickle.dumps(
            (name, key, seq, type(value) if plain else None, data),
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        return outer, referenced

    def _dump_remainder(self, backend: Any) -> bytes:
        def dump() -> bytes:
            buf = io.BytesIO()
            _EntryPickler(buf, self.dispatch, self, None).dump(dict(backend.__dict__))
            return buf.getvalue()

        state = _retrying(dump)
        return pickle.dumps({FORMAT_KEY: 1, "seq": self.seq, "state": state})

    # ----- restore
    def load(self, main: Path, remainder: dict, live: Any, load_file) -> dict:
        """The backend's state from `remainder` (what `_dump_remainder` wrote) and the files
        in `<main>.shards/`; registers what was loaded as saved."""
        self.seq = remainder["seq"]
        entries: dict[tuple, list] = {}  # (name, key) -> [seq, cls, inner, object or _TODO]
        for path in files_named(main.with_suffix(".shards"), ".pkl"):  # `seq` orders them
            name, key, seq, cls, inner = load_file(path)
            obj = cls.__new__(cls) if cls is not None else _TODO
            entries[(name, key)] = [seq, cls, inner, obj]
        collections: dict[Name, Any] = {}
        loading: set[tuple] = set()

        def collection(name: Name) -> Any:
            if name not in collections:
                keyed = self.spec.key_attr(name)
                coll = TrackedList() if keyed else TrackedDict()
                if keyed:
                    coll.key_attr = keyed
                collections[name] = coll
            return collections[name]

        def resolve(pid: tuple) -> Any:
            if pid[0] == "c":
                return collection(tuple(pid[1]))
            slot = entries.get((tuple(pid[1]), pid[2]))
            if slot is None:
                raise pickle.UnpicklingError(f"reference to a missing resource {pid[1:]}")
            if slot[3] is _TODO:
                if (tuple(pid[1]), pid[2]) in loading:
                    raise pickle.UnpicklingError(f"reference cycle through {pid[1:]}")
                loading.add((tuple(pid[1]), pid[2]))
                slot[3] = _unpickle(slot[2], resolve)
            return slot[3]

        for (name, key), slot in sorted(entries.items(), key=lambda kv: kv[1][0]):
            if slot[1] is not None:
                slot[3].__dict__.update(_unpickle(slot[2], resolve))
            else:
                resolve(("e", name, key))
        for (name, key), slot in sorted(entries.items(), key=lambda kv: kv[1][0]):
            coll = collection(name)
            if isinstance(coll, list):
                list.append(coll, slot[3])
            else:
                dict.__setitem__(coll, key, slot[3])
            fp = None  # unknown until first pickled: a scan's first look pickles it
            self.saved[(name, key)] = (fp, slot[0])
        state = _unpickle(remainder["state"], resolve)
        live.__dict__.clear()
        live.__dict__.update(state)
        self.discover(live)
        for coll in self.collections.values():
            coll.keys = dict(coll.pairs())
            coll.version = coll.live.version
            # Not restored from files of its own: written inside its owner by a catalog that
            # did not split it yet; the next save writes its resources and the owner.
            inline = coll.name not in collections
            for key, value in coll.keys.items():
                self.locations[id(value)] = (value, coll.name, key)
                if inline:
                    self.saved[(coll.name, key)] = (None, self._next())
                    self._check[(coll.name, key)] = True
            if inline and len(coll.name) == 3:
                self._check[((coll.name[0],), coll.name[1])] = True
        return state


_TODO = object()


class _ShardUnpickler(pickling._Unpickler):
    def __init__(self, file: Any, resolve: Any):
        super().__init__(file)
        self._resolve = resolve

    def persistent_load(self, pid: Any) -> Any:
        return self._resolve(pid)


def _unpickle(data: bytes, resolve: Any) -> Any:
    return _ShardUnpickler(io.BytesIO(data), resolve).load()
