"""Pickling moto backends: other backends by reference, locks as fresh locks, threads as None.

References between backends are pickled by name (module, BackendDict, account, region) and
re-bound to the live backends on load (`load`, which also finds the helpers under the names
that state written before the persistence package used). A snapshot taken while a concurrent
request changes a dict or set is retried (RuntimeError "changed size"); the racing writer
saves again after its own change.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import tempfile
import threading
import time
from typing import IO, Any

from localaws.persistence.catalog import SERVICES, ServiceSpec, backend_dict, resolve_backend


def _versioned_store(raw: dict) -> Any:
    from moto.s3.utils import _VersionedKeyStore

    store = _VersionedKeyStore()
    dict.update(store, raw)
    return store


def _checked_dict(raw: dict) -> Any:
    """A DynamoDB item's attributes, without re-checking the item size at each attribute:
    moto's LimitedSizeDict sums the whole item per insert (quadratic in attributes), and a
    saved item passed that check when it was written."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict

    attrs = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(attrs, raw)
    return attrs


def _fresh_lock(kind: str) -> Any:
    return threading.RLock() if kind == "rlock" else threading.Lock()


def _none() -> None:
    return None


def _base_dispatch() -> dict:
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
            tempfile.SpooledTemporaryFile: lambda _: (_none, ()),
        }
    )
    return table


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, dispatch: dict):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.dispatch_table = dispatch


class BackendPickler:
    """Pickles moto state, knowing every backend class loaded so far."""

    def __init__(self) -> None:
        self._dispatch = _base_dispatch()
        self._registered: set[str] = set()

    def backends(self, service: str, load: bool = False) -> Any:
        """`catalog.backend_dict`, registering its backend class for by-reference pickling."""
        backends = backend_dict(service, load)
        if backends is not None and service not in self._registered:
            self._register(backends, SERVICES[service])
            self._registered.add(service)
        return backends

    def _register(self, backends: Any, spec: ServiceSpec) -> None:
        def reduce(obj: Any, spec: ServiceSpec = spec) -> tuple:
            return resolve_backend, (spec.module, spec.backends, obj.account_id, obj.region_name)

        self._dispatch[backends.backend] = reduce
        if spec.module == "moto.s3.models":
            from moto.s3.utils import _VersionedKeyStore

            # Its items() yields only each key's newest version: pickle the raw lists.
            self._dispatch[_VersionedKeyStore] = lambda o: (_versioned_store, (dict.copy(o),))
        if spec.module == "moto.dynamodb.models":
            from moto.dynamodb.models.dynamo_type import LimitedSizeDict

            self._dispatch[LimitedSizeDict] = lambda o: (_checked_dict, (dict.copy(o),))

    def register_all_loaded(self) -> None:
        for service in SERVICES:
            self.backends(service)

    def dumps(self, obj: Any) -> bytes:
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


# Names older state files refer to (before persistence and the moto changes were reshaped
# into packages) -> today's.
_RENAMED = {
    ("localaws.persistence", "_resolve_backend"): (
        "localaws.persistence.catalog",
        "resolve_backend",
    ),
    ("localaws.persistence", "_versioned_store"): (__name__, "_versioned_store"),
    ("localaws.persistence", "_fresh_lock"): (__name__, "_fresh_lock"),
    ("localaws.persistence", "_none"): (__name__, "_none"),
    ("localaws.ddb_items", "_rebuild"): ("localaws.services.dynamodb.items", "_rebuild"),
    ("localaws.ddb_items", "TrackedItems"): ("localaws.services.dynamodb.items", "TrackedItems"),
    ("localaws.patches.stepfunctions", "_restore_execution"): (
        "localaws.services.stepfunctions.execution",
        "_restore_execution",
    ),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module, name = _RENAMED.get((module, name), (module, name))
        return super().find_class(module, name)


def load(file: IO[bytes]) -> Any:
    """Unpickle what `BackendPickler.dumps` wrote, by this or an earlier localaws."""
    return _Unpickler(file).load()
