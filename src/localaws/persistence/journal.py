"""A write-ahead journal: many small durable file writes for the price of one fsync.

`commit(records)` appends a batch of `(relative path, content or None)` records to the
current journal segment and returns once the batch is on disk (fdatasync). Concurrent
commits share one fdatasync (group commit). The files themselves are written later by a
background checkpoint (each fsynced), after which the segment is deleted. At start,
`replay()` writes what the journal holds into the files before anything reads them.
`pending()` answers for a record until its file is written, including while a checkpoint
is writing it (callers decide from it whether a file exists, e.g. whether to journal a
delete).

Records marked `direct=True` name files the caller already wrote (without fsync): replay
rewrites them from the journal, checkpoint only fsyncs them.

Segment format: batches of `b"LAJ1" | u64 payload length | u32 crc32 | payload`, payload a
pickled list of records. A torn or corrupt batch ends a segment (it was never acknowledged).
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import threading
import zlib
from pathlib import Path

from localaws.core.files import fsync_dir, fsync_path, write_file

log = logging.getLogger("localaws.journal")

MAGIC = b"LAJ1"
HEADER = struct.Struct("<4sQI")
CHECKPOINT_BYTES = 64 * 1024 * 1024
CHECKPOINT_SECONDS = 2.0

Record = tuple[str, bytes | None, bool]  # path relative to root, content (None: delete), direct


class _Segment:
    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.written = 0
        self.synced = 0
        self.closed = False


class Journal:
    """Group-committed journal of file writes under `root` (segments in `root/journal/`)."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "journal"
        self._append_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._pending: dict[str, tuple[bytes | None, bool]] = {}
        # Records a running checkpoint took from `_pending` and has not written yet.
        self._writing: dict[str, tuple[bytes | None, bool]] = {}
        # Segments of failed checkpoints: their records went back to `_pending`.
        self._retried: list[_Segment] = []
        self._segment: _Segment | None = None
        self._seq = 0
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ----- start-up
    def replay(self) -> int:
        """Write every journaled record into its file (fsynced), delete the segments."""
        self.dir.mkdir(parents=True, exist_ok=True)
        latest: dict[str, bytes | None] = {}
        segments = sorted(self.dir.glob("*.journal"))
        for segment in segments:
            for records in _read_batches(segment):
                for path, data, _ in records:
                    latest[path] = data
        for rel, data in latest.items():
            target = self.root / rel
            if data is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                write_file(target, data)
        for folder in {(self.root / rel).parent for rel in latest}:
            if folder.is_dir():
                fsync_dir(folder)
        for segment in segments:
            segment.unlink()
        if segments:
            fsync_dir(self.dir)
        self._seq = max((int(s.stem) for s in segments), default=0)
        return len(latest)

    def open(self) -> None:
        """Start a fresh segment and the background checkpointer."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._segment = self._new_segment()
        self._thread = threading.Thread(
            target=self._checkpointer, daemon=True, name="localaws-checkpoint"
        )
        self._thread.start()

    def _new_segment(self) -> _Segment:
        self._seq += 1
        segment = _Segment(self.dir / f"{self._seq:012d}.journal")
        fsync_dir(self.dir)  # the segment's name must be durable before it holds acks
        return segment

    # ----- writes
    def pending(self, rel: str) -> tuple[bool, bytes | None]:
        """(known, content) of `rel` if a record for it awaits checkpointing."""
        with self._append_lock:
            for records in (self._pending, self._writing):
                if rel in records:
                    return True, records[rel][0]
        return False, None

    def pending_under(self, rel_dir: str) -> dict[str, bytes | None]:
        """Records awaiting their file directly under `rel_dir`. Read this before listing
        the folder: a record answered here may be written meanwhile, never the reverse."""
        prefix = rel_dir.rstrip("/") + "/"
        with self._append_lock:
            return {
                p: d
                for p, (d, _) in {**self._writing, **self._pending}.items()
                if p.startswith(prefix) and "/" not in p[len(prefix) :]
            }

    def append(self, records: list[Record]) -> tuple[_Segment, int]:
        """Append a batch (not yet durable); `sync(ticket)` makes it so. Keep call order."""
        payload = pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)
        batch = HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload
        with self._append_lock:
            segment = self._segment
            assert segment is not None, "journal not open"
            view = memoryview(batch)
            while view:
                view = view[os.write(segment.fd, view) :]
            segment.written += len(batch)
            for path, data, direct in records:
                self._pending[path] = (data, direct)
            ticket = (segment, segment.written)
            if segment.written >= CHECKPOINT_BYTES:
                self._wake.set()
        return ticket

    def sync(self, ticket: tuple[_Segment, int]) -> None:
        segment, upto = ticket
        with self._sync_lock:
            if segment.synced >= upto or segment.closed:
                return
            end = segment.written  # everything appended so far rides on this fdatasync
            os.fdatasync(segment.fd)
            segment.synced = max(segment.synced, end)

    def commit(self, records: list[Record]) -> None:
        if records:
            self.sync(self.append(records))

    # ----- checkpoints
    def _checkpointer(self) -> None:
        while not self._stopped:
            self._wake.wait(CHECKPOINT_SECONDS)
            self._wake.clear()
            try:
                self.checkpoint()
            except Exception:  # noqa: BLE001 - retried next round; the journal still holds it
                log.exception("checkpoint failed")

    def checkpoint(self) -> None:
        """Write pending records to their files, then drop the journal segment they were in."""
        with self._checkpoint_lock:
            with self._append_lock:
                if not self._pending:
                    return
                old, pending = self._segment, self._pending
                self._segment, self._pending = self._new_segment(), {}
                # Until its file is written a record must still answer `pending()`: a writer
                # that found neither record nor file would take a put for never saved and
                # skip journaling its delete (the acknowledged delete undone by this write).
                self._writing = pending
            try:
                with self._sync_lock:
                    os.fdatasync(old.fd)
                    old.synced = old.written
                    old.closed = True
                    os.close(old.fd)
                self._write_files(pending)
            except BaseException:
                # Newer records win; the rest are written next round. The segment stays until
                # then: unlinking later segments alone would let a replay of it undo them.
                with self._append_lock:
                    self._pending = {**pending, **self._pending}
                    self._writing = {}
                self._retried.append(old)
                raise
            with self._append_lock:
                self._writing = {}
            for done in (*self._retried, old):
                done.path.unlink(missing_ok=True)
            self._retried = []

    def _write_files(self, records: dict[str, tuple[bytes | None, bool]]) -> None:
        # Plain strings, not Path: a checkpoint writes thousands of files, and pathlib's
        # joins, hashes and str() were most of its CPU.
        root = os.fspath(self.root)
        folders: set[str] = set()
        made: set[str] = set()
        for rel, (data, direct) in records.items():
            target = os.path.join(root, rel)
            folder = os.path.dirname(target)
            folders.add(folder)
            if data is None:
                try:
                    os.unlink(target)
                except FileNotFoundError:
                    pass
            elif direct:
                fsync_path(target)
            else:
                if folder not in made:
                    os.makedirs(folder, exist_ok=True)
                    made.add(folder)
                try:
                    write_file(target, data)
                except FileNotFoundError:  # its folder removed since (a bucket deleted, say)
                    os.makedirs(folder, exist_ok=True)
                    write_file(target, data)
        for folder in folders:
            if os.path.isdir(folder):
                fsync_dir(folder)

    def close(self) -> None:
        """Checkpoint everything and stop the background thread."""
        self._stopped = True
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=30)
        self.checkpoint()
        with self._append_lock, self._sync_lock:
            segment = self._segment
            if segment is not None and not segment.closed and segment.written == 0:
                segment.closed = True
                os.close(segment.fd)
                segment.path.unlink()
                self._segment = None


def _read_batches(path: Path):
    with open(path, "rb") as src:
        data = src.read()
    offset = 0
    while offset + HEADER.size <= len(data):
        magic, length, crc = HEADER.unpack_from(data, offset)
        start, end = offset + HEADER.size, offset + HEADER.size + length
        if magic != MAGIC or end > len(data) or zlib.crc32(data[start:end]) != crc:
            log.warning("journal %s: torn or corrupt batch at byte %d ignored", path, offset)
            return
        yield pickle.loads(data[start:end])
        offset = end
