"""Durable snapshots of moto's backends in the state directory.

Layout under `<state_dir>/`:
  data/FORMAT                                   format and moto version; checked at start
  data/<service>/<account>/<region>.pkl         the backend's attributes (pickled)
  data/<service>/<account>/<region>/<part>.pkl  one file per S3 bucket / DynamoDB table
  journal/*.journal                             writes not yet checkpointed into data/
  blobs/                                        S3 object bodies (see `localaws.blobs`)

A write is durable before the response is sent: `PersistMiddleware` snapshots the services a
mutating request touched (for S3 and DynamoDB only the touched buckets/tables plus the small
backend remainder); files whose content did not change are skipped, the others go to the
write-ahead journal (`localaws.journal`: one group-committed fdatasync per request) and
reach data/ at the next checkpoint. Snapshots of one service are serialized by a lock;
requests are not, so a snapshot that races with another write is repeated (RuntimeError
from a dict changing size) and the racing writer snapshots again after its own change.
References between backends are pickled by name (module,
BackendDict, account, region) and re-bound to the live backends on restore; locks and threads
are pickled as fresh locks / None.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import io
import json
import logging
import os
import pickle
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from localaws import ddb_items
from localaws.journal import Journal, fsync_dir, write_file

log = logging.getLogger("localaws.persistence")

FORMAT = "localaws-state 1"


class StateError(RuntimeError):
    """The state directory cannot be used (corrupt, unreadable, other format)."""


@dataclass(frozen=True)
class ServiceSpec:
    module: str
    backends: str
    partition: str | None = None  # attribute holding a dict persisted one file per entry


SERVICES: dict[str, ServiceSpec] = {
    "s3": ServiceSpec("moto.s3.models", "s3_backends", "buckets"),
    "dynamodb": ServiceSpec("moto.dynamodb.models", "dynamodb_backends", "tables"),
    "iam": ServiceSpec("moto.iam.models", "iam_backends"),
    "sts": ServiceSpec("moto.sts.models", "sts_backends"),
    "cloudformation": ServiceSpec("moto.cloudformation.models", "cloudformation_backends"),
    "stepfunctions": ServiceSpec("moto.stepfunctions.models", "stepfunctions_backends"),
    "stepfunctions_parser": ServiceSpec(
        "moto.stepfunctions.parser.models", "stepfunctions_parser_backends"
    ),
    "sagemaker": ServiceSpec("moto.sagemaker.models", "sagemaker_backends"),
    "logs": ServiceSpec("moto.logs.models", "logs_backends"),
    "events": ServiceSpec("moto.events.models", "events_backends"),
    "sns": ServiceSpec("moto.sns.models", "sns_backends"),
    "sqs": ServiceSpec("moto.sqs.models", "sqs_backends"),
    "secretsmanager": ServiceSpec("moto.secretsmanager.models", "secretsmanager_backends"),
    "ecr": ServiceSpec("moto.ecr.models", "ecr_backends"),
}
# SigV4 signing name -> services whose state a mutating request may change.
SIGNING_NAMES: dict[str, tuple[str, ...]] = {
    "states": ("stepfunctions", "stepfunctions_parser"),
    # CloudFormation creates resources of other services in-process.
    "cloudformation": tuple(SERVICES),
}


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new content."""
    write_file(path, data)
    fsync_dir(path.parent)


def _key_file(name: str) -> str:
    """File name for an S3 object name (which may be 1 KiB long or hold any character)."""
    return (
        hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest() + ".pkl"
    )


def _item_file(hash_key) -> str:
    """File name for a DynamoDB hash key value (a moto DynamoType)."""
    raw = pickle.dumps((hash_key.type, hash_key.value), protocol=4)
    return hashlib.blake2b(raw, digest_size=16).hexdigest() + ".pkl"


def _resolve_backend(module: str, attr: str, account: str, region: str):
    return getattr(importlib.import_module(module), attr)[account][region]


def _versioned_store(raw: dict):
    from moto.s3.utils import _VersionedKeyStore

    store = _VersionedKeyStore()
    dict.update(store, raw)
    return store


def _fresh_lock(kind: str):
    return threading.RLock() if kind == "rlock" else threading.Lock()


def _none():
    return None


class _Pickler(pickle.Pickler):
    """Pickles other backends by reference, locks as fresh locks, threads/files as None."""

    def __init__(self, file, dispatch: dict):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = dispatch


def _base_dispatch() -> dict:
    import copyreg

    table: dict = dict(copyreg.dispatch_table)
    table.update(
        {
            type(threading.Lock()): lambda _: (_fresh_lock, ("lock",)),
            type(threading.RLock()): lambda _: (_fresh_lock, ("rlock",)),
            threading.Thread: lambda _: (_none, ()),
            threading.Event: lambda _: (threading.Event, ()),
            threading.Condition: lambda _: (threading.Condition, ()),
            io.BufferedRandom: lambda _: (_none, ()),
            io.BufferedReader: lambda _: (_none, ()),
            io.BufferedWriter: lambda _: (_none, ()),
            io.TextIOWrapper: lambda _: (_none, ()),
        }
    )
    import tempfile

    table[tempfile.SpooledTemporaryFile] = lambda _: (_none, ())
    return table


class Store:
    """Snapshots and restores moto backends under `<state_dir>/data`."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.root = state_dir / "data"
        self.journal = Journal(state_dir)
        self._digests: dict[str, bytes | None] = {}
        self._locks = {name: threading.Lock() for name in SERVICES}
        self._dispatch = _base_dispatch()
        self._registered: set[str] = set()

    # ----- helpers
    def _backend_dict(self, service: str, load: bool = False):
        spec = SERVICES[service]
        module = sys.modules.get(spec.module)
        if module is None:
            if not load:
                return None  # never imported: nothing of it to save
            module = importlib.import_module(spec.module)
        backends = getattr(module, spec.backends)
        if service not in self._registered:
            self._register(backends, spec)
            self._registered.add(service)
        return backends

    def _register(self, backends, spec: ServiceSpec) -> None:
        def reduce(obj, spec=spec):
            return _resolve_backend, (spec.module, spec.backends, obj.account_id, obj.region_name)

        self._dispatch[backends.backend] = reduce
        if spec.module == "moto.s3.models":
            from moto.s3.utils import _VersionedKeyStore

            # Its items() yields only each key's newest version: pickle the raw lists.
            self._dispatch[_VersionedKeyStore] = lambda o: (_versioned_store, (dict.copy(o),))

    def _register_all_loaded(self) -> None:
        for service in SERVICES:
            self._backend_dict(service)

    def _dumps(self, obj) -> bytes:
        for attempt in range(50):
            buf = io.BytesIO()
            try:
                _Pickler(buf, self._dispatch).dump(obj)
                return buf.getvalue()
            except RuntimeError as exc:  # a concurrent request changed a dict/set meanwhile
                if "changed size" not in str(exc) and "mutated" not in str(exc):
                    raise
                time.sleep(0.001 * attempt)
        raise RuntimeError("state kept changing while being saved")

    @staticmethod
    def _part_file(folder: Path, name: str) -> Path:
        return folder / (urllib.parse.quote(name, safe="") + ".pkl")

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

    def save(self, service: str, parts: Iterable[str] | None = None) -> None:
        """Make `service`'s state durable; `parts` limits partitioned services to those entries."""
        ticket = self.append(service, parts)
        if ticket:
            self.journal.sync(ticket)

    def append(self, service: str, parts: Iterable[str] | None = None):
        """Journal `service`'s state (not yet synced); returns a ticket for `journal.sync`."""
        if service not in SERVICES:
            raise ValueError(f"localaws does not persist service {service!r}")
        backends = self._backend_dict(service)
        if backends is None:
            return None
        self._register_all_loaded()
        # A patch may make two names share one BackendDict: save it once, under the first.
        for other in SERVICES:
            if other == service:
                break
            if self._backend_dict(other) is backends:
                service = other
                break
        spec = SERVICES[service]
        wanted = None if parts is None else dict(parts) if isinstance(parts, dict) else set(parts)
        with self._locks[service]:
            records: list = []
            for account, regional in list(backends.items()):
                for region, backend in list(regional.items()):
                    records += self._backend_records(
                        service, spec, account, region, backend, wanted
                    )
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

    def _backend_records(self, service, spec, account, region, backend, wanted) -> list:
        base = f"data/{service}/{account}"
        state = dict(backend.__dict__)
        records: list = []
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
                    records += self._record(rel, self._dumps(entry))
        records += self._record(f"{base}/{region}.pkl", self._dumps(state))
        return records

    def _s3_bucket_records(self, rel: str, bucket, keys: set[str] | None) -> list:
        """A bucket without its objects, plus one file per object name (all its versions).

        `keys`: the object names a request touched; None saves (and prunes) all of them.
        """
        keys_dir = rel[: -len(".pkl")] + ".keys"
        records: list = []
        if bucket is None:
            if self._exists(rel):
                records += self._record(rel, None)
            for stale in self._stored_files(keys_dir):
                records += self._record(f"{keys_dir}/{stale}", None)
            return records
        meta = object.__new__(type(bucket))
        meta.__dict__.update(bucket.__dict__)
        meta.keys = type(bucket.keys)()
        records += self._record(rel, self._dumps(meta))
        store = bucket.keys
        if keys is None:
            present = {_key_file(name): name for name in list(dict.keys(store))}
            for stale in self._stored_files(keys_dir) - set(present):
                records += self._record(f"{keys_dir}/{stale}", None)
            keys = set(present.values())
        for name in keys:
            path = f"{keys_dir}/{_key_file(name)}"
            versions = dict.get(store, name)
            if versions:
                records += self._record(path, self._dumps((name, list(versions))))
            elif self._exists(path):
                records += self._record(path, None)
        return records

    def _dynamodb_table_records(self, rel: str, table, keys: set | None) -> list:
        """A table without its items, plus one file per hash key (its item or items).

        `keys`: the hash keys a request touched; None saves (and prunes) all of them.
        """
        from localaws import ddb_items

        items_dir = rel[: -len(".pkl")] + ".items"
        records: list = []
        if table is None:
            if self._exists(rel):
                records += self._record(rel, None)
            for stale in self._stored_files(items_dir):
                records += self._record(f"{items_dir}/{stale}", None)
            return records
        if not ddb_items.track(table):
            keys = None
        meta = object.__new__(type(table))
        meta.__dict__.update(table.__dict__)
        meta.items = ddb_items.TrackedItems(dict)
        meta.items.table_name = table.name
        records += self._record(rel, self._dumps(meta))
        items = table.items
        if keys is None:
            present = {_item_file(k): k for k in list(dict.keys(items))}
            for stale in self._stored_files(items_dir) - set(present):
                records += self._record(f"{items_dir}/{stale}", None)
            keys = set(present.values())
        for key in keys:
            path = f"{items_dir}/{_item_file(key)}"
            value = dict.get(items, key)
            if value:
                records += self._record(path, self._dumps((key, value)))
            elif self._exists(path):
                records += self._record(path, None)
        return records

    def _stored_files(self, rel_dir: str) -> set[str]:
        folder = self.state_dir / rel_dir
        names = {p.name for p in folder.glob("*.pkl")} if folder.is_dir() else set()
        for rel, data in self.journal.pending_under(rel_dir).items():
            name = rel.rsplit("/", 1)[1]
            if data is None:
                names.discard(name)
            else:
                names.add(name)
        return names

    def _stored_parts(self, part_dir: str) -> set[str]:
        folder = self.state_dir / part_dir
        names = {p.name for p in folder.glob("*.pkl")} if folder.is_dir() else set()
        for rel, data in self.journal.pending_under(part_dir).items():
            name = rel.rsplit("/", 1)[1]
            if data is None:
                names.discard(name)
            else:
                names.add(name)
        return {urllib.parse.unquote(n[:-4]) for n in names}

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
            backends = self._backend_dict(service, load=True)
            spec = SERVICES[service]
            for account_dir in sorted(p for p in service_dir.iterdir() if p.is_dir()):
                for main in sorted(account_dir.glob("*.pkl")):
                    self._restore_backend(spec, backends, account_dir.name, main)
            restored.append(service)
        self.journal.open()
        return restored

    def _load(self, path: Path):
        try:
            with open(path, "rb") as src:
                return pickle.load(src)
        except Exception as exc:  # noqa: BLE001 - any failure means this file is unusable
            raise StateError(f"cannot read state file {path}: {exc!r}") from exc

    def _restore_backend(self, spec, backends, account: str, main: Path) -> None:
        region = main.name[:-4]
        live = backends[account][region]
        state = self._load(main)
        if not isinstance(state, dict):
            raise StateError(f"state file {main} does not hold a backend")
        if spec.partition:
            collection = type(getattr(live, spec.partition))()
            part_dir = main.with_suffix("")
            for path in sorted(part_dir.glob("*.pkl")) if part_dir.is_dir() else ():
                entry = self._load(path)
                keys_dir = path.with_suffix(".keys")
                if keys_dir.is_dir():  # S3: the bucket's objects, one file per name
                    for key_file in sorted(keys_dir.glob("*.pkl")):
                        name, versions = self._load(key_file)
                        dict.__setitem__(entry.keys, name, versions)
                items_dir = path.with_suffix(".items")
                if items_dir.is_dir():  # DynamoDB: the table's items, one file per hash key
                    for item_file in sorted(items_dir.glob("*.pkl")):
                        key, value = self._load(item_file)
                        dict.__setitem__(entry.items, key, value)
                collection[urllib.parse.unquote(path.name[:-4])] = entry
            state[spec.partition] = collection
        live.__dict__.clear()
        live.__dict__.update(state)

    def size_bytes(self) -> int:
        return _tree_size(self.root)


def _tree_size(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def referenced_blobs() -> set[str]:
    """Names of the blobs that restored S3 keys (all versions, multipart parts) use."""
    names: set[str] = set()
    module = sys.modules.get("moto.s3.models")
    if module is None:
        return names
    for _, _, backend in module.s3_backends.iter_backends():
        for bucket in backend.buckets.values():
            for key in _bucket_keys(bucket):
                if name := key.__dict__.get("_blob"):
                    names.add(name)
    return names


def _bucket_keys(bucket) -> Iterable:
    for versions in bucket.keys.lists():
        for key in versions[1]:
            if hasattr(key, "__dict__"):
                yield key
    for multipart in bucket.multiparts.values():
        yield from multipart.parts.values()


# ----- request classification

_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Query",
    "Scan",
    "BatchGet",
    "Head",
    "Search",
    "Validate",
    "Test",
    "Simulate",
    "Lookup",
    "Check",
    "Estimate",
    "Filter",
)


@dataclass
class Plan:
    """What a request may change: (service, parts or None) pairs."""

    targets: list[tuple[str, set[str] | None]]


def classify(environ: dict) -> tuple[Plan | None, bytes | None]:
    """Return what a request may change (None if it only reads) and its body if read here."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return (Plan([(s, None) for s in SERVICES]) if method == "POST" else None), None
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        signing = scope[3].lower()
    except IndexError:
        return None, None  # unsigned or presigned: refused (localaws.iam)
    services = SIGNING_NAMES.get(signing, (signing,))
    services = tuple(s for s in services if s in SERVICES)
    if not services:
        return None, None
    body = None
    if signing == "s3":
        if method in ("GET", "HEAD", "OPTIONS"):
            return None, None
        return Plan([("s3", _s3_parts(environ, path))]), None
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif signing == "sagemaker" and path.endswith("/invocations"):
        return None, None
    else:
        body = _read_body(environ)
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if action.startswith(_READ_PREFIXES) and action != "GetId":
        return None, body
    if signing == "dynamodb":
        body = body if body is not None else _read_body(environ)
        return Plan([("dynamodb", _dynamodb_parts(body))]), body
    return Plan([(s, None) for s in services]), body


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _s3_parts(environ: dict, path: str) -> set[str] | None:
    host = environ.get("HTTP_HOST", "").split(":")[0]
    # Virtual-hosted style: <bucket>.s3.<...> or <bucket>.localhost
    for suffix in (".s3.amazonaws.com", ".localhost"):
        if host.endswith(suffix):
            return {host[: -len(suffix)]}
    if ".s3." in host:
        return {host.split(".s3.", 1)[0]}
    bucket = path.lstrip("/").split("/", 1)[0]
    return {urllib.parse.unquote(bucket)} if bucket else None


def _dynamodb_parts(body: bytes) -> set[str] | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    names: set[str] = set()
    if isinstance(data.get("TableName"), str):
        names.add(data["TableName"])
    names.update(data.get("RequestItems") or {})
    for item in data.get("TransactItems") or []:
        for op in item.values():
            if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                names.add(op["TableName"])
    if not names:
        return None
    # Table names may also be ARNs; fall back to a full save for those.
    return None if any(n.startswith("arn:") for n in names) else names


# ----- WSGI middleware

HEALTH_PATH = "/_localaws/health"

SERIALIZED = ("dynamodb",)
LARGE_BODY = 8 * 1024 * 1024


S3_KEYS_ENVIRON = "localaws.s3_keys"


def _refine(service: str, parts, environ: dict, touched: dict | None = None):
    """S3: save only the objects the request named (moto's parsed key names); DynamoDB:
    only the hash keys the request touched."""
    if parts is None:
        return parts
    if service == "dynamodb":
        return {table: set((touched or {}).get(table, ())) for table in parts}
    if service != "s3":
        return parts
    keys = environ.get(S3_KEYS_ENVIRON)
    if keys:
        spec: set[str] | None = set(keys)
    elif environ.get("REQUEST_METHOD") == "POST":
        spec = None  # e.g. DeleteObjects: any object may have changed
    else:
        spec = set()  # a bucket-level change: the bucket without its objects
    return {bucket: spec for bucket in parts}


def capture_s3_key_names() -> None:
    """Record in the WSGI environ every object name moto's S3 handler parses (once)."""
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_localaws_keys", False):
        return
    original = S3Response.parse_key_name

    def parse_key_name(self) -> str:
        name = original(self)
        environ = getattr(getattr(self, "request", None), "environ", None)
        if isinstance(environ, dict):
            environ.setdefault(S3_KEYS_ENVIRON, set()).add(name)
        return name

    S3Response.parse_key_name = parse_key_name
    S3Response._localaws_keys = True


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
        if plan is None:
            return self.app(environ, start_response)
        try:
            return self._mutate(environ, start_response, plan)
        finally:
            if _content_length(environ) >= LARGE_BODY:
                _drop_body(environ)

    def _mutate(self, environ, start_response, plan: Plan):
        captured: list = []
        early: list[bytes] = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers, exc_info]
            return early.append

        # DynamoDB writes are serialized: moto's conditional writes and ADD updates read
        # then write, which concurrent requests would interleave (lost updates).
        serialize = any(service in SERIALIZED for service, _ in plan.targets)
        tickets = []
        if serialize:
            self._serial.acquire()
        try:
            with ddb_items.tracking() as touched:
                result = self.app(environ, capture)
                try:
                    chunks = list(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
            if int(captured[0].split()[0]) < 400:
                try:
                    tickets = [
                        self.store.append(svc, _refine(svc, parts, environ, touched))
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
