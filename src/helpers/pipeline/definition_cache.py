"""A local cache of built pipeline definitions, keyed by `fingerprint.inputs_digest`.

Building the definition imports the SageMaker SDK and runs its step builders (seconds, most of
notebook 02 on fresh state); with the same inputs it builds the same pipeline. An entry holds
the definition JSON and every code object it names (each object under each
s3://<code bucket>/... URI in it), so that `publish.upsert` can publish a hit with boto3
alone: put back the code objects that are missing, then CreatePipeline / UpdatePipeline.

Where: $MT_PIPELINE_CACHE_DIR, else $XDG_CACHE_HOME/multitenant-sagemaker/pipeline-definitions
(XDG_CACHE_HOME defaults to ~/.cache). Never in the repository.

An entry is written into a temporary directory and renamed into place, so an interrupted
write leaves no entry. An entry that does not read back whole (a missing file, bad JSON,
another format, a body whose sha256 differs from its manifest, a definition that no longer
names the objects) is a miss: the definition is rebuilt and the entry replaced. The
MAX_ENTRIES most recently used entries are kept (each edit of the job code makes a new one).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from helpers.pipeline.fingerprint import named_prefixes
from localaws.core.files import user_cache_dir

CACHE_ENV = "MT_PIPELINE_CACHE_DIR"
FORMAT = 1
MANIFEST = "manifest.json"
MAX_ENTRIES = 16


@dataclass(frozen=True)
class Entry:
    """A built definition and the code objects it names (key in `bucket` -> body)."""

    bucket: str
    definition: str
    objects: dict[str, bytes]


def cache_dir() -> Path:
    """The cache's root directory (not created here)."""
    return user_cache_dir(CACHE_ENV, "multitenant-sagemaker", "pipeline-definitions")


def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def load(digest: str, root: Path | None = None) -> Entry | None:
    """The entry built from `digest`, or None if there is none or it is not whole."""
    folder = (root or cache_dir()) / digest
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != FORMAT or manifest.get("digest") != digest:
            return None
        definition = str(manifest["definition"])
        json.loads(definition)  # a definition the service would take
        objects: dict[str, bytes] = {}
        for key, sha in manifest["objects"].items():
            body = (folder / "objects" / sha).read_bytes()
            if _sha256(body) != sha:
                return None
            objects[key] = body
        entry = Entry(str(manifest["bucket"]), definition, objects)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if not objects or not names_objects(entry):
        return None
    try:
        os.utime(folder / MANIFEST)  # recently used: pruned last
    except OSError:
        pass
    return entry


def names_objects(entry: Entry) -> bool:
    """Whether every code URI the definition names has at least one object in the entry."""
    return all(
        any(key.startswith(prefix) for key in entry.objects)
        for prefix in named_prefixes(entry.definition, entry.bucket)
    )


def store(digest: str, entry: Entry, root: Path | None = None) -> Path | None:
    """Write `entry` under `digest` (replacing a bad one); return its folder, or None if the
    cache cannot be written (a read-only home: the next upsert builds again, nothing fails)."""
    root = root or cache_dir()
    target = root / digest
    scratch = root / f".tmp-{digest[:16]}-{uuid.uuid4().hex[:8]}"
    try:
        (scratch / "objects").mkdir(parents=True)
        shas = {}
        for key, body in entry.objects.items():
            shas[key] = _sha256(body)
            (scratch / "objects" / shas[key]).write_bytes(body)
        manifest = {
            "format": FORMAT,
            "digest": digest,
            "bucket": entry.bucket,
            "definition": entry.definition,
            "objects": shas,
        }
        (scratch / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)  # not whole (else it would have been a hit)
        os.replace(scratch, target)
        _prune(root, keep=target)
        return target
    except OSError:
        return None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the MAX_ENTRIES most recently used entries (never `keep`), and scratch
    folders a killed writer left over an hour ago."""

    def used(folder: Path) -> float:
        try:
            return (folder / MANIFEST).stat().st_mtime
        except OSError:
            return 0.0

    for scratch in root.glob(".tmp-*"):
        if scratch.stat().st_mtime < time.time() - 3600:
            shutil.rmtree(scratch, ignore_errors=True)
    entries = [f for f in root.iterdir() if f.is_dir() and not f.name.startswith(".")]
    for folder in sorted(entries, key=used, reverse=True)[MAX_ENTRIES:]:
        if folder != keep:
            shutil.rmtree(folder, ignore_errors=True)
