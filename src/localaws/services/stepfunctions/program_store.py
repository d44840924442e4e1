"""Parsed state machine programs kept on disk, so a new server process need not parse again.

`program_cache` parses a definition once per process (the ANTLR parser is pure Python: 58 % of
CreateStack's server CPU for the platform's three machines) and keeps its pickle. This module
keeps that pickle across processes: every server, test server and `make install`'s prebuild
that meets the same definition under the same code reads it back instead of parsing.

Key: sha256 of the definition text, moto's version, Python's version and the source of this
package (`localaws.services.stepfunctions`, whose patches shape the parse), so a change in any
of them is a miss. Only programs that parsed are stored, so validation is unchanged: an invalid
definition is parsed (and rejected) every time.

Where: $LOCALAWS_CACHE_DIR, else $XDG_CACHE_HOME/localaws/sfn-programs (XDG_CACHE_HOME defaults
to ~/.cache); never the repository or a state directory. An entry is a header, the sha256 of
the pickle and the pickle, written to a temporary file and renamed into place, so concurrent
writers and a kill -9 leave no torn entry; one that does not read back whole is a miss (parsed
again and rewritten), never an error, as is a directory that cannot be read or written. The
MAX_ENTRIES most recently used entries are kept. Entries are pickles: the directory must be as
trusted as the user's own code (it is the user's own cache).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import time
import uuid
from pathlib import Path

import moto

from localaws.core.files import user_cache_dir

LOG = logging.getLogger(__name__)
CACHE_ENV = "LOCALAWS_CACHE_DIR"
MAGIC = b"localaws-sfn-program 1\n"
SUFFIX = ".program"
MAX_ENTRIES = 64
_DIGEST = 32  # bytes of a sha256


def cache_dir() -> Path:
    """The cache's directory (not created here)."""
    return user_cache_dir(CACHE_ENV, "localaws", "sfn-programs")


@functools.cache
def code_digest() -> str:
    """sha256 of what a parse depends on besides the text: moto, Python, this package's source."""
    return source_digest(Path(__file__).parent)


def source_digest(package: Path) -> str:
    """sha256 of moto's and Python's versions and of every .py file under `package`."""
    digest = hashlib.sha256(f"{moto.__version__}\0{sys.version}\0".encode())
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key(definition: str) -> str:
    """The entry name of `definition` under this code."""
    return hashlib.sha256(f"{code_digest()}\0{definition}".encode()).hexdigest()


def load(definition: str, root: Path | None = None) -> bytes | None:
    """The stored pickle of `definition`'s program, or None (no entry, or not whole)."""
    path = (root or cache_dir()) / f"{key(definition)}{SUFFIX}"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = len(MAGIC) + _DIGEST
    blob = data[header:]
    if not data.startswith(MAGIC) or hashlib.sha256(blob).digest() != data[len(MAGIC) : header]:
        LOG.debug("ignoring a damaged state machine program entry %s", path.name)
        return None
    try:
        os.utime(path)  # recently used: pruned last
    except OSError:
        pass
    return blob


def store(definition: str, blob: bytes, root: Path | None = None) -> Path | None:
    """Write `blob` as `definition`'s entry; its path, or None if the cache cannot be written
    (a read-only home: the next process parses again, nothing fails)."""
    root = root or cache_dir()
    target = root / f"{key(definition)}{SUFFIX}"
    scratch = root / f".tmp-{target.stem[:16]}-{uuid.uuid4().hex[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        scratch.write_bytes(MAGIC + hashlib.sha256(blob).digest() + blob)
        os.replace(scratch, target)
    except OSError as exc:
        LOG.debug("cannot store a state machine program in %s: %r", root, exc)
        try:
            scratch.unlink(missing_ok=True)
        except OSError:  # e.g. the directory is not one
            pass
        return None
    _prune(root, keep=target)
    return target


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the MAX_ENTRIES most recently used entries (never `keep`), and temporary
    files a killed writer left over an hour ago."""

    def used(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except OSError:  # removed meanwhile by another server's prune
            return 0.0

    try:
        for scratch in root.glob(".tmp-*"):
            if used(scratch) < time.time() - 3600:
                scratch.unlink(missing_ok=True)
        entries = sorted(root.glob(f"*{SUFFIX}"), key=used, reverse=True)
        for path in entries[MAX_ENTRIES:]:
            if path != keep:
                path.unlink(missing_ok=True)
    except OSError as exc:
        LOG.debug("cannot prune %s: %r", root, exc)
