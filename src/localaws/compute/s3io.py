"""S3 transfers of a job, made with the job role's credentials.

Listings and object bodies go without HTTP when the server installed `direct`
(`localaws.services.s3.direct`: the key index read, blob files copied, IAM checked for the
same credentials), else, and for what that path does not model, over HTTP.
"""

from __future__ import annotations

import os
import posixpath
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from localaws.core import loopback


class Direct(Protocol):
    """Object bodies between files and S3 without HTTP; False: use HTTP for this one."""

    def get(self, credentials: dict[str, str], bucket: str, key: str, target: str) -> bool: ...

    def put(
        self, credentials: dict[str, str], path: str, bucket: str, key: str, link: bool = True
    ) -> bool:
        """`link`: a large file may become the stored body itself (nothing changes it later)."""
        ...

    def list(self, credentials: dict[str, str], bucket: str, prefix: str) -> list[str] | None:
        """The object names under `prefix`, in order; None: use HTTP."""
        ...

    def read(self, credentials: dict[str, str], bucket: str, key: str) -> bytes | None: ...


# Installed by the server (patch group `s3.direct`); None in any other process.
direct: Direct | None = None


def server_url() -> str:
    return f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"


_session: boto3.session.Session | None = None
_clients: OrderedDict[tuple, object] = OrderedDict()
_credentials: dict[int, dict[str, str]] = {}  # id(client) -> the keys it signs with
_lock = threading.Lock()
_MAX_CLIENTS = 256
_pool = ThreadPoolExecutor(8, thread_name_prefix="localaws-s3io")


class _Lazy:
    """A boto3 client made on its first use: with `direct`, a job's transfers need none."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._make: Callable[[], object] | None = make
        self._client: object | None = None
        self._lock = threading.Lock()

    def made(self) -> object:
        """The boto3 client, made now if it was not yet."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    assert self._make is not None
                    self._client, self._make = self._make(), None
        return self._client

    def __getattr__(self, name: str):
        return getattr(self.made(), name)


def client(service: str, credentials: dict[str, str], region: str):
    """A boto3 client of this server signed with `credentials` (AccessKeyId, ...).

    Clients are cached per (service, keys, region) and made on first use: building one costs
    ~0.2 s, using one is thread-safe.
    """
    key = (
        service,
        credentials["AccessKeyId"],
        credentials.get("SessionToken"),
        region,
        server_url(),
    )
    with _lock:
        if key in _clients:
            _clients.move_to_end(key)
            return _clients[key]
        made = _Lazy(lambda: _make(service, credentials, region))
        _clients[key] = made
        _credentials[id(made)] = dict(credentials)
        while len(_clients) > _MAX_CLIENTS:
            _credentials.pop(id(_clients.popitem(last=False)[1]), None)
        return made


def _make(service: str, credentials: dict[str, str], region: str):
    global _session
    with _lock:  # one client at a time: a boto3 session is not thread-safe
        if _session is None:
            _session = boto3.session.Session()
        return loopback.attach(
            _session.client(
                service,
                endpoint_url=server_url(),
                region_name=region,
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials.get("SessionToken") or None,
                config=BotoConfig(
                    retries={"max_attempts": 2},
                    connect_timeout=10,
                    read_timeout=120,
                    max_pool_connections=32,
                ),
            )
        )


def split(uri: str) -> tuple[str, str]:
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def _direct_for(s3) -> tuple[Direct, dict[str, str]] | None:
    credentials = _credentials.get(id(s3))
    return (direct, credentials) if direct is not None and credentials else None


def fetch(s3, bucket: str, key: str, target: str) -> None:
    """Copy one object's body to the file `target` (ClientError as GetObject raises it): from
    the blob store, IAM checked, when `s3` is a client of `client`, else by GetObject."""
    if (found := _direct_for(s3)) and found[0].get(found[1], bucket, key, target):
        return
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    with open(target, "wb") as fh:
        for chunk in iter(lambda: body.read(1 << 20), b""):
            fh.write(chunk)


class TransferError(RuntimeError):
    """An S3 transfer failed; str() is a SageMaker-style ClientError reason."""


def _reason(action: str, uri: str, exc: ClientError) -> TransferError:
    err = exc.response.get("Error", {})
    return TransferError(
        f"ClientError: {action} {uri} failed: {err.get('Code', 'Error')}: "
        f"{err.get('Message', str(exc))}"
    )


def _names(s3, bucket: str, prefix: str) -> list[str]:
    """The names under `prefix` (every page of ListObjectsV2) with the client's keys."""
    if (found := _direct_for(s3)) and (
        names := found[0].list(found[1], bucket, prefix)
    ) is not None:
        return names
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def read(s3, bucket: str, key: str) -> bytes:
    """The body of one object (ClientError as GetObject raises it)."""
    if (found := _direct_for(s3)) and (body := found[0].read(found[1], bucket, key)) is not None:
        return body
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def download(s3, uri: str, dest: str, data_type: str = "S3Prefix") -> int:
    """Copy the object or prefix `uri` into directory `dest` as SageMaker does; count files."""
    bucket, prefix = split(uri)
    os.makedirs(dest, exist_ok=True)
    if data_type not in ("S3Prefix", None):
        raise TransferError(
            f"ClientError: S3DataType '{data_type}' is not supported by localaws (S3Prefix only)"
        )
    transfers: list[tuple[str, str]] = []
    try:
        for key in _names(s3, bucket, prefix):
            if key.endswith("/"):
                continue
            if key == prefix:
                rel = posixpath.basename(key)
            elif prefix.endswith("/") or key[len(prefix)] == "/":
                rel = key[len(prefix) :].lstrip("/")
            else:
                rel = key[len(posixpath.dirname(prefix)) :].lstrip("/")
            target = os.path.join(dest, *rel.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            transfers.append((key, target))
        # Many small files (code, drivers): fetch them concurrently.
        list(_pool.map(lambda t: fetch(s3, bucket, t[0], t[1]), transfers))
    except ClientError as exc:
        raise _reason("Data download from", uri, exc) from None
    count = len(transfers)
    if count == 0:
        raise TransferError(
            f'ClientError: No S3 objects found under S3 URL "{uri}" given in '
            "input data source. Please ensure that the bucket exists in the "
            "selected region, that objects exist under that S3 prefix, and that "
            "the role has access to them."
        )
    return count


def download_file(s3, uri: str, target: str) -> None:
    bucket, key = split(uri)
    try:
        fetch(s3, bucket, key, target)
    except ClientError as exc:
        raise _reason("Download of", uri, exc) from None


def upload_dir(s3, src: str, uri: str) -> int:
    """Upload every file under `src` below `uri` (concurrently); return the file count."""
    bucket, prefix = split(uri)
    prefix = prefix.rstrip("/")
    transfers = []
    for root, _, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            transfers.append(
                (path, f"s3://{bucket}/{prefix}/{rel}" if prefix else f"s3://{bucket}/{rel}")
            )
    list(_pool.map(lambda t: upload_file(s3, *t), transfers))
    return len(transfers)


def upload_file(s3, path: str, uri: str) -> None:
    bucket, key = split(uri)
    try:
        # Job folders kept for inspection (LOCALAWS_KEEP_JOB_DIRS=1) keep files of their own.
        link = os.environ.get("LOCALAWS_KEEP_JOB_DIRS") != "1"
        if (found := _direct_for(s3)) and found[0].put(found[1], path, bucket, key, link):
            return
        with open(path, "rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    except ClientError as exc:
        raise _reason("Upload to", uri, exc) from None
