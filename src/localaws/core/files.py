"""Crash-safe file writes and sizes: the file helpers every localaws layer may use."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def fsync_dir(path: str | Path) -> None:
    """Make the entries of directory `path` (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_path(path: str | Path) -> None:
    """fsync the file at `path`; a file deleted meanwhile is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # deleted since (e.g. garbage-collected blob)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Replace `path` by `data` atomically (temp + rename), fsynced if `sync`."""
    folder, name = os.path.split(os.fspath(path))
    # A thread id is unique within one process only; the pid keeps two processes apart.
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a crash leaves either the old or the new content."""
    write_file(path, data)
    fsync_dir(path.parent)


def tree_size(root: Path) -> int:
    """Bytes of every file under `root` (files vanishing meanwhile count as 0)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def files_named(folder: Path, suffix: str) -> list[str]:
    """Paths of the files in `folder` whose names end with `suffix`, in no set order; none if
    `folder` does not exist. os.scandir, not a sorted Path.glob: a restore reads thousands."""
    try:
        with os.scandir(folder) as found:
            return [entry.path for entry in found if entry.name.endswith(suffix)]
    except FileNotFoundError:
        return []


def user_cache_dir(env: str, *parts: str) -> Path:
    """A cache folder outside any repository or state directory: $`env` if set, else
    $XDG_CACHE_HOME/`parts` (XDG_CACHE_HOME defaults to ~/.cache). Not created here."""
    explicit = os.environ.get(env)
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", *parts)
