"""Multi-model endpoints: target models loaded on demand, kept in an LRU within a memory budget.

A variant whose model has `PrimaryContainer.Mode: MultiModel` serves every artifact under its
`ModelDataUrl` prefix; each InvokeEndpoint names one by `TargetModel`, a key relative to that
prefix ("Invoke a Multi-Model Endpoint", SageMaker developer guide). The first call for a
target downloads it from S3 with the model's execution role (so IAM decides) and loads it; the
loaded models of a variant stay in memory up to `LOCALAWS_MME_MEMORY_MB` (default 1024, per
variant, as an instance's memory is on AWS), least recently used unloaded first; a model's
size is the bytes of its unpacked artifact. `MultiModelConfig.ModelCacheSetting: Disabled`
loads on every call.

Stricter than AWS: AWS warns that overwriting an artifact in place may keep the old model
served for a while and asks for a new TargetModel name instead ("Add or Remove Models",
https://docs.aws.amazon.com/sagemaker/latest/dg/add-models-to-endpoint.html). Here every
invocation compares the S3 object's current version and ETag (an in-process lookup, no
request) with the loaded one's and reloads on a change, so a replaced artifact is never served.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localaws.compute.endpoint_handlers import DownloadError
from localaws.compute.endpoint_models import Variant, load_into


class RequestError(Exception):
    """A request the runtime API itself refuses (HTTP 400 `code`), before any model runs."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def memory_budget() -> int:
    """Bytes of loaded models one multi-model variant may hold: `LOCALAWS_MME_MEMORY_MB`."""
    try:
        megabytes = float(os.environ.get("LOCALAWS_MME_MEMORY_MB", "1024"))
    except ValueError:
        megabytes = 1024.0
    return max(0, int(megabytes * 1024 * 1024))


def target_url(prefix: str, target: str) -> str:
    """The artifact's S3 URL: the model's prefix joined with the relative TargetModel."""
    return prefix + target if prefix.endswith("/") else f"{prefix}/{target}"


def check_request(variant: Variant, endpoint_name: str, target: str | None) -> None:
    """Refuse a TargetModel on a single-model endpoint, and its absence on a multi-model one,
    with the messages AWS answers (ValidationError; seen in aws/amazon-sagemaker-examples#1026
    and aws/sagemaker-tensorflow-serving-container#166)."""
    if target and not variant.multi_model:
        raise RequestError(
            "ValidationError",
            f"Endpoint {endpoint_name} is not a multi-model endpoint and does not support "
            "target model header.",
        )
    if variant.multi_model and not target:
        raise RequestError(
            "ValidationError", f"Request {uuid.uuid4()} is missing a target model header."
        )
    if target and (len(target) > 1024 or target[0].isspace() or not target.isprintable()):
        # API_runtime_InvokeEndpoint: TargetModel, length 1-1024, pattern \A\S[\p{Print}]*\z
        raise RequestError(
            "ValidationError",
            "1 validation error detected: Value at 'targetModel' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z",
        )


def _download_failed(url: str) -> RequestError:
    # What SageMaker answers for a TargetModel it cannot fetch (no object, or the role may not
    # read it): a ValidationError naming the bucket and key, not a ModelError.
    bucket, key = url[5:].split("/", 1)
    return RequestError(
        "ValidationError",
        f"Failed to download model data(bucket: {bucket}, key: {key}). Please ensure that "
        "there is an object located at the URL and that the role passed to CreateModel has "
        "permissions to download the model.",
    )


def artifact_identity(account: str, url: str) -> str | None:
    """The current version id and ETag of the object at `url` (in this process's S3), "" if
    there is no such object, None if its bucket is not in `account` (then: not cached)."""
    from moto.s3.models import FakeKey, s3_backends

    if not url.startswith("s3://") or "/" not in url[5:]:
        return ""
    bucket_name, key = url[5:].split("/", 1)
    bucket = s3_backends[account]["aws"].buckets.get(bucket_name)
    if bucket is None:
        return None
    found = bucket.keys.get(key)
    if not isinstance(found, FakeKey):  # absent, or a delete marker
        return ""
    return f"{found.version_id}:{found.etag}"


def _bytes_in(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@dataclass
class _Loaded:
    handler: Any
    workdir: Path
    identity: str | None
    nbytes: int


class ModelPool:
    """The loaded target models of one multi-model variant of one endpoint."""

    def __init__(self, variant: Variant, root: Path, log: Callable[[str], None]):
        self.variant = variant
        self.budget = memory_budget()
        self._root = root
        self._log = log
        self._models: OrderedDict[str, _Loaded] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._target_locks: dict[str, threading.Lock] = {}

    def handler(self, target: str, account: str, region: str) -> Any:
        """The handler of `target`, loading (or reloading a replaced artifact) if needed."""
        url = target_url(self.variant.model_data_url or "", target)
        identity = artifact_identity(account, url)
        if identity == "":
            raise _download_failed(url)
        with self._lock:
            loaded = self._models.get(target)
            if loaded is not None and identity is not None and loaded.identity == identity:
                self._models.move_to_end(target)
                return loaded.handler
            target_lock = self._target_locks.setdefault(target, threading.Lock())
        with target_lock:  # one load per target, however many requests wait for it
            with self._lock:
                loaded = self._models.get(target)
                if loaded is not None and identity is not None and loaded.identity == identity:
                    return loaded.handler
            fresh = self._load(target, url, identity, region)
            if self.variant.cache_models and identity is not None:
                self._keep(target, fresh)
            else:
                shutil.rmtree(fresh.workdir, ignore_errors=True)
            return fresh.handler

    def _load(self, target: str, url: str, identity: str | None, region: str) -> _Loaded:
        workdir = Path(tempfile.mkdtemp(prefix="target-", dir=self._root))
        started = time.monotonic()
        single = dataclasses.replace(self.variant, model_data_url=url, multi_model=False)
        try:
            handler = load_into(single, region, workdir)
        except DownloadError:
            raise _download_failed(url) from None
        nbytes = _bytes_in(workdir)
        self._log(
            f"target model {target} ({url}, {nbytes} bytes) loaded in "
            f"{time.monotonic() - started:.3f}s"
        )
        return _Loaded(handler, workdir, identity, nbytes)

    def _keep(self, target: str, fresh: _Loaded) -> None:
        unloaded: list[tuple[str, _Loaded]] = []
        with self._lock:
            if (stale := self._models.pop(target, None)) is not None:
                self._bytes -= stale.nbytes
                unloaded.append((target, stale))
            self._models[target] = fresh
            self._bytes += fresh.nbytes
            while self._bytes > self.budget and len(self._models) > 1:
                name, evicted = self._models.popitem(last=False)
                self._bytes -= evicted.nbytes
                unloaded.append((name, evicted))
        for name, gone in unloaded:
            shutil.rmtree(gone.workdir, ignore_errors=True)
            reason = "replaced artifact" if gone is stale else "memory pressure"
            self._log(f"target model {name} unloaded ({reason})")

    def loaded(self) -> list[str]:
        """The loaded targets, least recently used first."""
        with self._lock:
            return list(self._models)

    def close(self) -> None:
        with self._lock:
            models, self._models, self._bytes = self._models, OrderedDict(), 0
        for loaded in models.values():
            shutil.rmtree(loaded.workdir, ignore_errors=True)
