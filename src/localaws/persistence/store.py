"""Durable snapshots of moto's backends in the state directory: what is saved, and restore.

Layout under `<state_dir>/`:
  data/FORMAT                                   format and moto version; checked at start
  data/<service>/<account>/<region>.pkl         the backend's attributes (pickled); for the
                                                services split per resource, the remainder
  data/<service>/<account>/<region>.shards/     one file per resource (`persistence.shards`)
  data/<service>/<account>/<region>/<part>.pkl  one file per S3 bucket / DynamoDB table
  data/.../<bucket>.keys/<hash>.pkl             one file per S3 object name (all versions)
  data/.../<table>.items/<hash>.pkl             one file per DynamoDB hash key
  journal/*.journal                             writes not yet checkpointed into data/
  blobs/                                        S3 object bodies (`persistence.blobs`)

`Store.append` snapshots a service: for S3 and DynamoDB only the named buckets/tables, and
in them the named objects/hash keys, plus the small backend remainder; for the others the
resources the request reached or a background thread named (`persistence.shards`). Files
whose content did not change are skipped, the others go to the write-ahead journal
(`persistence.journal`), which `save` syncs and a background checkpoint folds into data/.
Snapshots of one service are serialized by a lock. `Store.restore` replays the journal and
loads every saved backend into moto (a `<region>.pkl` of the earlier whole-backend layout
too: it is split at its first save).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from localaws.core.files import files_named, tree_size, write_atomic
from localaws.persistence import pickling, tracking
from localaws.persistence.catalog import SERVICES
from localaws.persistence.journal import Journal
from localaws.persistence.pickling import BackendPickler
from localaws.persistence.shards import FORMAT_KEY, BackendShards

log = logging.getLogger("localaws.persistence")

FORMAT = "localaws-state 1"
# What to save of a service: None (everything), part names, or part name -> entries (S3
# object names, DynamoDB hash keys; None: every entry of that part).
Parts = Iterable[str] | dict[str, set[Any] | None] | None


class StateError(RuntimeError):
    """The state directory cannot be used (corrupt, unreadable, other format)."""


def _key_file(name: str) -> str:
    """File name for an S3 object name (which may be 1 KiB long or hold any character)."""
    return (
        hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest() + ".pkl"
    )


def _item_file(hash_key) -> str:
    """File name for a DynamoDB hash key value (a moto DynamoType)."""
    raw = pickle.dumps((hash_key.type, hash_key.value), protocol=4)
    return hashlib.blake2b(raw, digest_size=16).hexdigest() + ".pkl"


class Store:
    """Snapshots and restores moto backends under `<state_dir>/data`."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.root = state_dir / "data"
        self.journal = Journal(state_dir)
        self._digests: dict[str, bytes | None] = {}
        self._locks = {name: threading.Lock() for name in SERVICES}
        self._pickler = BackendPickler()
        self._shards: dict[str, BackendShards] = {}  # data/<service>/<account>/<region>

    # ----- save
    def ensure_format(self) -> None:
        """Create the data folder, or check that an existing one has our format."""
        marker = self.root / "FORMAT"
        from moto import __version__ as moto_version

        expected = f"{FORMAT}\nmoto {moto_version}\n"
        if marker.exists():
            found = marker.read_text()
            if found != expected:
                raise StateError(
                    f"{self.root} was written by another localaws/moto version "
                    f"({found.strip()!r}, this is {expected.strip()!r}); "
                    "`localaws reset` deletes it"
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise StateError(f"{self.root} exists without a FORMAT file: not a localaws state")
        self.root.mkdir(parents=True, exist_ok=True)
        write_atomic(marker, expected.encode())

    def save(self, service: str, parts: Parts = None, resources: tuple = ()) -> None:
        """Make `service`'s state durable; `parts` limits partitioned services to those entries,
        `resources` (objects a background thread changed) the others to those resources."""
        ticket = self.append(service, parts, resources)
        if ticket:
            self.journal.sync(ticket)

    def append(self, service: str, parts: Parts = None, resources: tuple = ()):
        """Journal `service`'s state (not yet synced); returns a ticket for `journal.sync`.

        Resource-split services save what the request reached (`tracking.current()`), else
        the named `resources` and membership changes, else compare every resource."""
        if service not in SERVICES:
            raise ValueError(f"localaws does not persist service {service!r}")
        backends = self._pickler.backends(service)
        if backends is None:
            return None
        self._pickler.register_all_loaded()
        # A patch may make two names share one BackendDict: save it once, under the first.
        for other in SERVICES:
            if other == service:
                break
            if self._pickler.backends(other) is backends:
                service = other
                break
        spec = SERVICES[service]
        wanted = None if parts is None else dict(parts) if isinstance(parts, dict) else set(parts)
        with self._locks[service]:
            records: list = []
            regions = [
                (a, r, b)
                for a, regional in list(backends.items())
                for r, b in list(regional.items())
            ]
            if not spec.partition:
                records = self._resource_records(service, spec, regions, resources)
            for account, region, backend in regions if spec.partition else ():
                records += self._backend_records(service, spec, account, region, backend, wanted)
            # Appended under the service lock so snapshots reach the journal in order.
            return self.journal.append(records) if records else None

    def _record(self, rel: str, data: bytes | None) -> list:
        """A journal record for `rel`, or none if its content is what was saved last."""
        digest = None if data is None else hashlib.blake2b(data, digest_size=16).digest()
        if rel in self._digests and self._digests[rel] == digest:
            return []
        self._digests[rel] = digest
        return [(rel, data, False)]

    def _exists(self, rel: str) -> bool:
        known, data = self.journal.pending(rel)
        return data is not None if known else (self.state_dir / rel).exists()

    def _resource_records(self, service, spec, regions, resources: tuple) -> list:
        """Records of a service saved one resource per file (`shards`): what the request
        reached, else the named `resources`, else (or if one is not a resource) everything."""
        split = []
        for account, region, backend in regions:
            base = f"data/{service}/{account}/{region}"
            shards = self._shards.get(base)
            if shards is None:
                shards = self._shards[base] = BackendShards(base, spec, self._pickler._dispatch)
            shards.refresh(backend)
            split.append((shards, backend))
        touches = tracking.current()
        unknown = [r for r in resources if not any(s.owns(r) for s, _ in split)]
        full = (touches is None and not resources) or bool(unknown)
        records: list = []
        for shards, backend in split:
            for rel, data in shards.records(backend, touches, resources, full):
                records += self._record(rel, data)
        return records

    def _backend_records(self, service, spec, account, region, backend, wanted) -> list:
        base = f"data/{service}/{account}"
        records: list = []
        state = dict(backend.__dict__)
        if spec.partition:
            collection = state.pop(spec.partition)
            part_dir = f"{base}/{region}"
            if wanted is None:
                names = set(collection) | self._stored_parts(part_dir)
            else:
                names = set(wanted)
            for name in names:
                rel = f"{part_dir}/{urllib.parse.quote(name, safe='')}.pkl"
                entry = collection.get(name)
                if service == "s3":
                    keys = wanted.get(name) if isinstance(wanted, dict) else None
                    records += self._s3_bucket_records(rel, entry, keys)
                elif service == "dynamodb":
                    keys = wanted.get(name) if isinstance(wanted, dict) else None
                    records += self._dynamodb_table_records(rel, entry, keys)
                elif entry is None:
                    if self._exists(rel):
                        records += self._record(rel, None)
                else:
                    records += self._record(rel, self._pickler.dumps(entry))
        records += self._record(f"{base}/{region}.pkl", self._pickler.dumps(state))
        return records

    def _s3_bucket_records(self, rel: str, bucket, keys: set[str] | None) -> list:
        """A bucket without its objects, plus one file per object name (all its versions)."""
        if bucket is None:
            return self._container_records(rel, None, None, ".keys", _key_file, keys)
        meta = object.__new__(type(bucket))
        meta.__dict__.update(bucket.__dict__)
        meta.keys = type(bucket.keys)()
        return self._container_records(rel, meta, bucket.keys, ".keys", _key_file, keys, list)

    def _dynamodb_table_records(self, rel: str, table, keys: set | None) -> list:
        """A table without its items, plus one file per hash key (its item or items)."""
        from localaws.services.dynamodb import items as ddb_items

        if table is None:
            return self._container_records(rel, None, None, ".items", _item_file, keys)
        if not ddb_items.track(table):
            keys = None
        meta = object.__new__(type(table))
        meta.__dict__.update(table.__dict__)
        meta.items = ddb_items.TrackedItems(dict)
        meta.items.table_name = table.name
        return self._container_records(rel, meta, table.items, ".items", _item_file, keys)

    def _container_records(
        self,
        rel: str,
        meta: Any,
        entries: dict | None,
        suffix: str,
        file_name: Callable[[Any], str],
        keys: set | None,
        snapshot: Callable[[Any], Any] = lambda value: value,
    ) -> list:
        """`meta` (a bucket or table without its entries) at `rel`, plus one file per entry of
        `entries` (S3 object name, DynamoDB hash key) under `<rel without .pkl><suffix>/`.

        `meta` None: the container is gone, remove it all. `keys`: the entries a request
        touched; None saves (and prunes) all of them.
        """
        entries_dir = rel[: -len(".pkl")] + suffix
        records: list = []
        if meta is None or entries is None:
            if self._exists(rel):
                records += self._record(rel, None)
            for stale in self._stored_files(entries_dir):
                records += self._record(f"{entries_dir}/{stale}", None)
            return records
        records += self._record(rel, self._pickler.dumps(meta))
        if keys is None:
            present = {file_name(key): key for key in list(dict.keys(entries))}
            for stale in self._stored_files(entries_dir) - set(present):
                records += self._record(f"{entries_dir}/{stale}", None)
            keys = set(present.values())
        for key in keys:
            path = f"{entries_dir}/{file_name(key)}"
            value = dict.get(entries, key)
            if value:
                records += self._record(path, self._pickler.dumps((key, snapshot(value))))
            elif self._exists(path):
                records += self._record(path, None)
        return records

    def _stored_files(self, rel_dir: str) -> set[str]:
        pending = self.journal.pending_under(rel_dir)  # first: see `Journal.pending_under`
        folder = self.state_dir / rel_dir
        names = {p.name for p in folder.glob("*.pkl")} if folder.is_dir() else set()
        for rel, data in pending.items():
            name = rel.rsplit("/", 1)[1]
            if data is None:
                names.discard(name)
            else:
                names.add(name)
        return names

    def _stored_parts(self, part_dir: str) -> set[str]:
        return {urllib.parse.unquote(n[:-4]) for n in self._stored_files(part_dir)}

    def save_all(self) -> None:
        for service in SERVICES:
            self.save(service)

    # ----- restore
    def restore(self) -> list[str]:
        """Load every saved backend into moto; return the services restored."""
        restored: list[str] = []
        replayed = self.journal.replay()
        if replayed:
            log.info("replayed %d journaled writes", replayed)
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.exists() else []
        for service_dir in folders:
            service = service_dir.name
            if service not in SERVICES:
                raise StateError(f"unknown service folder {service_dir} in the state directory")
            backends = self._pickler.backends(service, load=True)
            spec = SERVICES[service]
            for account_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
                for main in sorted(account_dir.glob("*.pkl")):
                    self._restore_backend(spec, backends, account_dir.name, main)
            restored.append(service)
        self.journal.open()
        return restored

    def _load(self, path: Path | str):
        try:
            with open(path, "rb") as src:
                return pickling.load(src)
        except Exception as exc:  # noqa: BLE001 - any failure means this file is unusable
            raise StateError(f"cannot read state file {path}: {exc!r}") from exc

    def _restore_backend(self, spec, backends, account: str, main: Path) -> None:
        region = main.name[:-4]
        live = backends[account][region]
        state = self._load(main)
        if not isinstance(state, dict):
            raise StateError(f"state file {main} does not hold a backend")
        if FORMAT_KEY in state:  # one file per resource (`shards`)
            self._restore_shards(spec, main, state, live)
            return
        if spec.partition:
            collection = type(getattr(live, spec.partition))()
            part_dir = main.with_suffix("")
            for path in sorted(part_dir.glob("*.pkl")) if part_dir.is_dir() else ():
                entry = self._load(path)
                # S3: the bucket's objects, one file per name; DynamoDB: the table's items,
                # one file per hash key. Files in any order: a dict's order is not an API's.
                for key_file in files_named(path.with_suffix(".keys"), ".pkl"):
                    name, versions = self._load(key_file)
                    dict.__setitem__(entry.keys, name, versions)
                for item_file in files_named(path.with_suffix(".items"), ".pkl"):
                    key, value = self._load(item_file)
                    dict.__setitem__(entry.items, key, value)
                collection[urllib.parse.unquote(path.name[:-4])] = entry
            state[spec.partition] = collection
        live.__dict__.clear()
        live.__dict__.update(state)

    def _restore_shards(self, spec, main: Path, remainder: dict, live) -> None:
        base = main.relative_to(self.state_dir).as_posix()[: -len(".pkl")]
        shards = self._shards[base] = BackendShards(base, spec, self._pickler._dispatch)

        def load_file(path: str):
            with open(path, "rb") as src:
                data = src.read()
            # Known content: an unchanged resource is not written again after a restart.
            rel = f"{base}.shards/{os.path.basename(path)}"
            self._digests[rel] = hashlib.blake2b(data, digest_size=16).digest()
            try:
                return pickling.load(io.BytesIO(data))
            except Exception as exc:  # noqa: BLE001 - any failure means this file is unusable
                raise StateError(f"cannot read state file {path}: {exc!r}") from exc

        try:
            shards.load(main, remainder, live, load_file)
        except pickle.UnpicklingError as exc:
            raise StateError(f"state of {main} is inconsistent: {exc}") from exc

    def size_bytes(self) -> int:
        return tree_size(self.root)
