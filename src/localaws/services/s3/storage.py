"""S3 object bodies in the blob store, and what a request changed: patch group `s3.storage`.

With a `BlobStore` attached (`attach`, at server start when state persists), moto's `FakeKey`
keeps a blob name instead of an in-memory/temp-file buffer: setting a key's value writes a
new blob, reading opens it, pickling stores only the name. Plain GetObjects of large bodies
answer with a `BlobStream`; multipart uploads complete by streaming the part blobs into a
new blob (never the whole object in memory). Every object name moto parses from a request
is recorded in the request's scope (`core.request_scope`), so that persistence saves only
those objects. With no store attached, keys behave exactly as moto's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from moto.s3 import models
from moto.s3.responses import S3Response

from localaws.core import request_scope
from localaws.core.patching import Patches
from localaws.persistence.blobs import BlobRef, BlobStore, BlobStream
from localaws.services.s3.storage_checksum import StreamingChecksum

patches = Patches("s3.storage")

STREAM_MIN = 8 * 1024 * 1024  # GETs of bodies this large are streamed from the blob file
_moto_value: Any = models.FakeKey.value  # the properties themselves, for fget / fset
_moto_etag: Any = models.FakeKey.etag
_blobs: BlobStore | None = None


def attach(store: BlobStore | None) -> None:
    """Keep S3 object bodies in `store` from now on (None: in memory, as moto does)."""
    global _blobs
    _blobs = store


def _blob(key: Any) -> str | None:
    return key.__dict__.get("_blob")


def blob_store() -> BlobStore | None:
    """The store S3 bodies live in (None: in memory, as moto keeps them)."""
    return _blobs


def blob_name(key: Any) -> str | None:
    """The blob holding a `FakeKey`'s body (None: in memory)."""
    return _blob(key)


def _get_value(self: Any) -> Any:
    name = _blob(self)
    if not name or _blobs is None:
        return _moto_value.fget(self)
    scope = request_scope.current()
    if scope is not None and scope.stream_bodies and self.contentsize >= STREAM_MIN:
        return BlobStream(_blobs, name, self.contentsize)
    return _blobs.read(name)


def _set_value(self: Any, new_value: Any) -> None:
    if _blobs is None:
        _moto_value.fset(self, new_value)
        return
    if isinstance(new_value, str):
        new_value = new_value.encode("utf-8")
    ref = new_value if isinstance(new_value, BlobRef) else _blobs.write(bytes(new_value))
    self._blob = ref.name
    self.contentsize = ref.size
    # Drop the buffer moto created in __init__: the blob is the only copy.
    buffer = self.__dict__.get("_value_buffer")
    if buffer is not None:
        buffer.close()
    self._value_buffer = None


def _get_etag(self: Any) -> str:
    name = _blob(self)
    if name and self._etag is None and _blobs is not None:
        self._etag = _blobs.md5_hex(name)
    return _moto_etag.fget(self)


patches.set(models.FakeKey, "value", property(_get_value, _set_value))
patches.set(models.FakeKey, "etag", property(_get_etag))


@patches.wrap(models.FakeKey, "__getstate__")
def _getstate(original: Any, self: Any) -> dict:
    if _blobs is None:
        return original(self)
    state = self.__dict__.copy()
    if not state.get("_blob") and state.get("_value_buffer") is not None:
        try:
            state["value"] = _moto_value.fget(self)
        except ValueError:  # buffer closed: the key was deleted
            state["value"] = b""
    state.pop("_value_buffer", None)
    state.pop("lock", None)
    return state


@patches.wrap(models.FakeKey, "__setstate__")
def _setstate(original: Any, self: Any, state: dict) -> None:
    if _blobs is None:
        original(self, state)
        return
    value = state.pop("value", None)
    self.__dict__.update(state)
    self.lock = threading.Lock()
    self._value_buffer = None
    if value is not None:
        _set_value(self, value)


@patches.wrap(models.FakeKey, "dispose")
def _dispose(original: Any, self: Any, garbage: bool = False) -> None:
    if _blobs is None:
        original(self, garbage)
        return
    # The blob stays until garbage collection: a stored snapshot may still name it.
    buffer = self.__dict__.get("_value_buffer")
    if buffer is not None:
        try:
            buffer.close()
        except Exception:  # noqa: BLE001 - disposal must not raise
            pass
    self.disposed = True


@patches.wrap(S3Response, "get_object")
def _get_object(original: Any, self: S3Response) -> Any:
    """Plain GETs (no Range, no partNumber) of large objects stream from the blob file."""
    scope = request_scope.current()
    if scope is None:
        return original(self)
    scope.stream_bodies = (
        self.method == "GET" and not self.headers.get("range") and not self._get_param("partNumber")
    )
    try:
        return original(self)
    finally:
        scope.stream_bodies = False


@patches.wrap(S3Response, "parse_key_name")
def _parse_key_name(original: Any, self: S3Response) -> str:
    """Record every object name the request names: the objects it may change."""
    name = original(self)
    scope = request_scope.current()
    if scope is not None:
        scope.s3_keys.add(name)
    return name


@patches.wrap(models.FakeMultipart, "complete")
def _complete(original: Any, self: Any, body: Iterable) -> Any:
    """Complete multipart uploads by streaming part blobs into a new blob (no 1 GiB bytes)."""
    body = list(body)
    parts: list[Any] = [self.parts.get(pn) for pn, _ in body]
    if _blobs is None or not all(p is not None and _blob(p) for p in parts):
        return original(self, iter(body))
    # Validate exactly as moto does, without concatenating the bodies in memory.
    last = None
    md5s = bytearray()
    for (_, etag), part in zip(body, parts, strict=True):
        if part.etag.replace('"', "") != etag.replace('"', ""):
            raise models.InvalidPart()
        if last is not None and last.contentsize < models.S3_UPLOAD_PART_MIN_SIZE:
            raise models.EntityTooSmall()
        md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
        last = part
    if not parts:
        raise models.MalformedXML
    checksum = StreamingChecksum(
        self.metadata.get("x-amz-checksum-algorithm"), self.metadata.get("x-amz-checksum-type")
    )
    store = _blobs

    def chunks() -> Iterator[bytes]:
        for part in parts:
            checksum.start_part(part)
            for chunk in store.iter_chunks(part._blob):
                checksum.update(chunk)
                yield chunk

    ref = store.write(chunks())
    etag = f"{hashlib.md5(bytes(md5s)).hexdigest()}-{len(parts)}"
    return ref, etag, checksum.build()


def referenced_blobs() -> set[str]:
    """Names of the blobs that the S3 keys in moto (all versions, multipart parts) use."""
    names: set[str] = set()
    backend: Any
    for _, _, backend in models.s3_backends.iter_backends():
        for bucket in backend.buckets.values():
            for key in _bucket_keys(bucket):
                if name := _blob(key):
                    names.add(name)
    return names


def _bucket_keys(bucket: Any) -> Iterator[Any]:
    for versions in bucket.keys.lists():
        for key in versions[1]:
            if hasattr(key, "__dict__"):
                yield key
    for multipart in bucket.multiparts.values():
        yield from multipart.parts.values()
