"""S3 object bodies as immutable files in the state directory (`<state_dir>/blobs/`).

With blobs enabled, moto's `FakeKey` keeps a blob name instead of an in-memory/temp-file
buffer: setting a key's value writes a new blob (temp + fsync + rename), reading opens it.
Blobs are never rewritten, so keys copied by moto (deepcopy) may share one. Pickling a key
stores only its name; unreferenced blobs are removed by `collect_garbage` at server start.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path

from localaws.journal import fsync_dir

_dir: Path | None = None
_journal = None  # localaws.journal.Journal: small blobs are made durable through it
_CHUNK = 8 * 1024 * 1024
STREAM_MIN = 8 * 1024 * 1024  # GETs of bodies this large are streamed from the blob file
_local = threading.local()
JOURNALED_MAX = 1024 * 1024  # bodies up to this size ride on the request's journal commit


class BlobStream:
    """A response body read from a blob file chunk by chunk (for large S3 GETs)."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(iter_chunks(self.name))


class BlobRef:
    """A value already stored as a blob (e.g. a completed multipart upload), adopted as is."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size

    def __len__(self) -> int:
        return self.size


def enabled() -> bool:
    return _dir is not None


def blob_path(name: str) -> Path:
    assert _dir is not None, "blobs not enabled"
    return _dir / name[:2] / name


def _new_name() -> str:
    return uuid.uuid4().hex


def write(chunks: Iterable[bytes]) -> BlobRef:
    """Store the concatenation of `chunks` as a new blob.

    Large bodies are fsynced here. Small ones are appended to the journal, which the
    request's state save then syncs (one fdatasync for both)."""
    name = _new_name()
    final = blob_path(name)
    final.parent.mkdir(exist_ok=True)
    chunks = [chunks] if isinstance(chunks, bytes) else chunks
    tmp = final.with_name(f".{name}.tmp")
    size = 0
    small: list[bytes] | None = [] if _journal is not None else None
    with open(tmp, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            size += len(chunk)
            if small is not None:
                small.append(chunk)
                if size > JOURNALED_MAX:
                    small = None
        out.flush()
        if small is None:
            os.fsync(out.fileno())
    os.replace(tmp, final)
    if small is None:
        fsync_dir(final.parent)
    else:
        _journal.append([(f"blobs/{name[:2]}/{name}", b"".join(small), True)])
    return BlobRef(name, size)


def read(name: str) -> bytes:
    return blob_path(name).read_bytes()


def iter_chunks(name: str) -> Iterable[bytes]:
    with open(blob_path(name), "rb") as src:
        while chunk := src.read(_CHUNK):
            yield chunk


def md5_hex(name: str) -> str:
    digest = hashlib.md5()
    for chunk in iter_chunks(name):
        digest.update(chunk)
    return digest.hexdigest()


def collect_garbage(referenced: set[str]) -> int:
    """Delete blobs (and stray temp files) not in `referenced`; return how many."""
    if _dir is None:
        return 0
    removed = 0
    for path in _dir.glob("*/*"):
        if path.name not in referenced:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def enable(directory: Path, journal=None) -> None:
    """Keep S3 object bodies in `directory` from now on (patches moto's FakeKey once).

    `directory` must be `<journal root>/blobs` when a journal is given."""
    global _dir, _journal
    directory.mkdir(parents=True, exist_ok=True)
    _dir = directory
    _journal = journal
    _patch_fakekey()


_patched = False


def _patch_fakekey() -> None:
    global _patched
    if _patched:
        return
    from moto.s3 import models

    key_cls = models.FakeKey
    original_value = key_cls.value
    original_etag = key_cls.etag

    def get_value(self) -> bytes:
        name = self.__dict__.get("_blob")
        if name and getattr(_local, "stream", False) and self.contentsize >= STREAM_MIN:
            return BlobStream(name, self.contentsize)
        return read(name) if name else original_value.fget(self)

    def set_value(self, new_value) -> None:
        if isinstance(new_value, str):
            new_value = new_value.encode("utf-8")
        ref = new_value if isinstance(new_value, BlobRef) else write(bytes(new_value))
        self._blob = ref.name
        self.contentsize = ref.size
        # Drop the buffer moto created in __init__: the blob is the only copy.
        buffer = self.__dict__.get("_value_buffer")
        if buffer is not None:
            buffer.close()
        self._value_buffer = None

    def get_etag(self) -> str:
        name = self.__dict__.get("_blob")
        if name and self._etag is None:
            self._etag = md5_hex(name)
        return original_etag.fget(self)

    def getstate(self) -> dict:
        state = self.__dict__.copy()
        if not state.get("_blob") and state.get("_value_buffer") is not None:
            try:
                state["value"] = original_value.fget(self)
            except ValueError:  # buffer closed: the key was deleted
                state["value"] = b""
        state.pop("_value_buffer", None)
        state.pop("lock", None)
        return state

    def setstate(self, state: dict) -> None:
        value = state.pop("value", None)
        self.__dict__.update(state)
        self.lock = threading.Lock()
        self._value_buffer = None
        if value is not None:
            set_value(self, value)

    def dispose(self, garbage: bool = False) -> None:
        # The blob stays until garbage collection: a stored snapshot may still name it.
        buffer = self.__dict__.get("_value_buffer")
        if buffer is not None:
            try:
                buffer.close()
            except Exception:  # noqa: BLE001 - disposal must not raise
                pass
        self.disposed = True

    key_cls.value = property(get_value, set_value)
    key_cls.etag = property(get_etag)
    key_cls.__getstate__ = getstate
    key_cls.__setstate__ = setstate
    key_cls.dispose = dispose
    _patch_multipart(models)
    _patch_get_object()
    _patched = True


def _patch_get_object() -> None:
    """Plain GETs (no Range, no partNumber) of large objects stream from the blob file."""
    from moto.s3.responses import S3Response

    original = S3Response.get_object

    def get_object(self):
        plain = (
            self.method == "GET"
            and not self.headers.get("range")
            and not self._get_param("partNumber")
        )
        _local.stream = plain
        try:
            return original(self)
        finally:
            _local.stream = False

    S3Response.get_object = get_object


def _patch_multipart(models) -> None:
    """Complete multipart uploads by streaming part blobs into a new blob (no 1 GiB bytes)."""
    original = models.FakeMultipart.complete

    def complete(self, body):
        body = list(body)
        parts = [self.parts.get(pn) for pn, _ in body]
        if not all(p is not None and p.__dict__.get("_blob") for p in parts):
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
        checksum = _StreamingChecksum(
            self.metadata.get("x-amz-checksum-algorithm"), self.metadata.get("x-amz-checksum-type")
        )

        def chunks():
            for part in parts:
                checksum.start_part(part)
                for chunk in iter_chunks(part._blob):
                    checksum.update(chunk)
                    yield chunk

        ref = write(chunks())
        etag = f"{hashlib.md5(bytes(md5s)).hexdigest()}-{len(parts)}"
        return ref, etag, checksum.build()

    models.FakeMultipart.complete = complete


class _StreamingChecksum:
    """moto's MultipartChecksumBuilder, fed chunk by chunk instead of with whole objects."""

    def __init__(self, algorithm: str | None, checksum_type: str | None):
        self.algorithm = algorithm or "CRC64NVME"
        self.type = checksum_type or (
            "FULL_OBJECT" if self.algorithm == "CRC64NVME" else "COMPOSITE"
        )
        self.parts = bytearray()
        self.count = 0
        self._crc = 0
        self._hash = None
        if self.algorithm in ("SHA1", "SHA256") or self.algorithm not in (
            "CRC32",
            "CRC32C",
            "CRC64NVME",
        ):
            self._hash = hashlib.sha1() if self.algorithm == "SHA1" else hashlib.sha256()

    def start_part(self, part) -> None:
        from moto.s3.utils import compute_checksum

        self.count += 1
        if self.type == "COMPOSITE":  # per-part checksums: one part in memory at a time
            self.parts.extend(compute_checksum(part.value, self.algorithm, encode_base64=False))

    def update(self, chunk: bytes) -> None:
        if self.type == "COMPOSITE":
            return
        if self._hash is not None:
            self._hash.update(chunk)
        else:
            self._crc = _crc_update(self.algorithm, chunk, self._crc)

    def build(self) -> tuple[str, str, int]:
        import base64

        from moto.s3.utils import compute_checksum

        if self.type == "COMPOSITE":
            value = compute_checksum(bytes(self.parts), self.algorithm).decode()
        elif self._hash is not None:
            value = base64.b64encode(self._hash.digest()).decode()
        else:
            width = 8 if self.algorithm == "CRC64NVME" and _crt_checksums() else 4
            value = base64.b64encode(self._crc.to_bytes(width, "big")).decode()
        return self.type, value, self.count if self.type == "COMPOSITE" else 1


def _crt_checksums():
    try:
        from awscrt import checksums
    except ImportError:
        return None
    return checksums


def _crc_update(algorithm: str, chunk: bytes, crc: int) -> int:
    import binascii

    # The same fallbacks as moto's compute_checksum when optional libraries are missing.
    if algorithm == "CRC32C":
        try:
            import crc32c

            return crc32c.crc32c(chunk, crc)
        except ImportError:
            pass
    if algorithm == "CRC64NVME" and (checksums := _crt_checksums()) is not None:
        return checksums.crc64nvme(chunk, crc)
    return binascii.crc32(chunk, crc)
