"""S3 object bodies as immutable files in the state directory (`<state_dir>/blobs/`).

A `BlobStore` writes each body once, as a new file (temp + fsync + rename), or adopts a
finished file as one (a hard link, fsynced: no copy), and reads it back whole or in chunks.
Blobs are never rewritten, so copies of an object may share one; a blob no longer referenced
by any saved object is removed by `collect_garbage` at server start.
How moto's S3 objects use blobs is `localaws.services.s3.storage`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from localaws.core.files import fsync_dir
from localaws.persistence.journal import Journal

_CHUNK = 8 * 1024 * 1024
JOURNALED_MAX = 1024 * 1024  # bodies up to this size ride on the request's journal commit
_syncer = ThreadPoolExecutor(4, thread_name_prefix="localaws-blob-fsync")


class BlobRef:
    """A body already stored as a blob (e.g. a completed multipart upload), adopted as is."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size

    def __len__(self) -> int:
        return self.size


class BlobStream:
    """A response body read from a blob file chunk by chunk (for large S3 GETs)."""

    def __init__(self, store: BlobStore, name: str, size: int):
        self.store = store
        self.name = name
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.store.iter_chunks(self.name))


class BlobStore:
    """Immutable blobs under `directory` (`<journal root>/blobs` when a journal is given)."""

    def __init__(self, directory: Path, journal: Journal | None = None):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.journal = journal

    def path(self, name: str) -> Path:
        return self.directory / name[:2] / name

    def write(self, chunks: Iterable[bytes] | bytes) -> BlobRef:
        """Store the concatenation of `chunks` as a new blob.

        Large bodies are fsynced here. Small ones are appended to the journal, which the
        request's state save then syncs (one fdatasync for both)."""
        name = uuid.uuid4().hex
        final = self.path(name)
        final.parent.mkdir(exist_ok=True)
        chunks = [chunks] if isinstance(chunks, bytes) else chunks
        tmp = final.with_name(f".{name}.tmp")
        size = 0
        small: list[bytes] | None = [] if self.journal is not None else None
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
            assert self.journal is not None
            self.journal.append([(f"blobs/{name[:2]}/{name}", b"".join(small), True)])
        return BlobRef(name, size)

    def adopt(self, path: str | Path, digest: Any = None) -> BlobRef | None:
        """Make the file at `path` a new blob without copying it: a hard link, fsynced, its
        content fed to `digest` (a hashlib object) while the fsync runs.

        Only a regular file with no other name (nobody else can change it through one) on
        this store's file system, larger than JOURNALED_MAX (small bodies are cheaper through
        the journal); None otherwise: `write` it instead. Whoever owned `path` must not
        change the file afterwards (e.g. the output of a job whose process has ended)."""
        try:
            st = os.lstat(path)
        except OSError:
            return None
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_nlink != 1
            or st.st_size <= JOURNALED_MAX
            or st.st_dev != os.stat(self.directory).st_dev
        ):
            return None
        name = uuid.uuid4().hex
        final = self.path(name)
        final.parent.mkdir(exist_ok=True)
        with open(path, "rb") as source:
            synced = _syncer.submit(os.fsync, source.fileno())
            try:
                while digest is not None and (chunk := source.read(_CHUNK)):
                    digest.update(chunk)
            finally:
                synced.result()
        try:
            os.link(path, final, follow_symlinks=False)
        except OSError:  # e.g. a file system without hard links
            return None
        fsync_dir(final.parent)
        return BlobRef(name, st.st_size)

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def iter_chunks(self, name: str) -> Iterator[bytes]:
        with open(self.path(name), "rb") as src:
            while chunk := src.read(_CHUNK):
                yield chunk

    def md5_hex(self, name: str) -> str:
        digest = hashlib.md5()
        for chunk in self.iter_chunks(name):
            digest.update(chunk)
        return digest.hexdigest()

    def collect_garbage(self, referenced: set[str]) -> int:
        """Delete blobs (and stray temp files) not in `referenced`; return how many."""
        removed = 0
        for path in self.directory.glob("*/*"):
            if path.name not in referenced:
                path.unlink(missing_ok=True)
                removed += 1
        return removed
