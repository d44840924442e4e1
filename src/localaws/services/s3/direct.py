"""Job I/O without HTTP: object bodies copied between job folders and the blob store.

A job's inputs and outputs are S3 objects that live as blob files on this machine
(`services.s3.storage`); sending them through the HTTP server costs a request, a signature,
an MD5 and a copy through a socket per object. `DirectS3` (patch group `s3.direct`, set as
`compute.s3io.direct`) moves them without that, and keeps what the HTTP path guarantees:

- IAM: each object is authorized for the job's own credentials with the evaluator every
  request uses (`iam.policy.evaluate`; the bucket policy as resource policy), so a denied
  read or write fails the job with AccessDenied, as the HTTP path does; a missing bucket is
  NoSuchBucket first, as there (see `services.s3.authorization`).
- Objects: writes go through moto's `put_object` (versioning, bucket default encryption)
  with the body as a new blob: a large output file is hard-linked into the blob store, not
  copied (`BlobStore.adopt`: the job's process has ended, nothing changes it any more),
  else copied; the ETag is the body's MD5, computed while the body is stored (read once);
  the blob is fsynced and the key saved (`hooks.changed` with the one key) before the job
  continues, so a restart loses no acknowledged output.
- Reads copy the blob file (immutable) into the job folder: the job may change its copy.
- Listings (a job's input prefix) read the bucket's sorted name index
  (`services.s3.key_index`), after the s3:ListBucket check with its `s3:prefix` key, and
  name the current objects under the prefix, as every page of ListObjectsV2 would.

Anything the direct path does not model (no blob store, SSE-KMS objects whose reads need
kms:Decrypt, keys not in the backend, credentials it cannot map) answers None/False and
the caller falls back to HTTP.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from moto.iam.access_control import AssumedRoleAccessKey, CreateAccessKeyFailure
from moto.s3 import models
from moto.s3.exceptions import MissingBucket
from moto.sts.models import sts_backends

from localaws.compute import s3io
from localaws.core import hooks
from localaws.core.patching import Patches
from localaws.persistence.blobs import BlobStore
from localaws.services.iam.policy import Caller, evaluate
from localaws.services.iam.principals import PrincipalGone, caller_for_key
from localaws.services.s3 import key_index, storage
from localaws.services.s3.authorization import bucket_check

patches = Patches("s3.direct", after=("s3.storage",))


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


_keys: dict[tuple[str, str], AssumedRoleAccessKey] = {}
_keys_lock = threading.Lock()


def _access_key(key_id: str, token: str) -> AssumedRoleAccessKey | None:
    """moto's view of STS session keys (found by a scan of the sessions: remembered)."""
    with _keys_lock:
        if (key_id, token) in _keys:
            return _keys[(key_id, token)]
    for account in list(sts_backends.keys()):
        try:
            key = AssumedRoleAccessKey(account, "aws", key_id, {"X-Amz-Security-Token": token})
        except CreateAccessKeyFailure:
            continue
        with _keys_lock:
            if len(_keys) > 4096:
                _keys.clear()
            _keys[(key_id, token)] = key
        return key
    return None


def _caller(credentials: dict[str, str]) -> Caller | None:
    """The assumed-role caller behind job credentials (None: not an STS session here).

    Its policies are read at each call, so a policy changed mid-job applies at once."""
    token = credentials.get("SessionToken")
    key = _access_key(credentials.get("AccessKeyId", ""), token) if token else None
    if key is None:
        return None
    try:
        return caller_for_key(key)
    except PrincipalGone:  # the role is gone: no policies, so every check is denied
        return Caller(key.arn, key.arn, key.account_id, [])


class DirectS3:
    """`get` / `put` of one object for a job's credentials, without the HTTP server."""

    def _authorize(
        self,
        credentials: dict[str, str],
        action: str,
        bucket: str,
        key: str | None,
        context: dict[str, str] | None = None,
    ) -> tuple[BlobStore, Any] | None:
        """(blob store, S3 backend) once `action` on the object (`key` None: the bucket) is
        allowed for `credentials` (NoSuchBucket first, as S3 answers); None if the direct
        path cannot serve them."""
        store = storage.blob_store()
        caller = _caller(credentials) if store is not None else None
        if caller is None or store is None:
            return None
        operation = action.removeprefix("s3:")
        resource = f"arn:aws:s3:::{bucket}" if key is None else f"arn:aws:s3:::{bucket}/{key}"
        try:
            check = bucket_check(caller.account, action, resource)
        except MissingBucket:
            raise _error("NoSuchBucket", "The specified bucket does not exist", operation) from None
        check.context.update(context or {})
        if not evaluate(caller, check).allowed:
            raise _error("AccessDenied", "Access Denied", operation)
        return store, models.s3_backends[caller.account]["aws"]

    def list(self, credentials: dict[str, str], bucket: str, prefix: str) -> list[str] | None:
        """Names of the objects under `prefix` in name order (every page of ListObjectsV2
        without a delimiter); None if the HTTP path must answer."""
        allowed = self._authorize(credentials, "s3:ListBucket", bucket, None, {"s3:prefix": prefix})
        if allowed is None:
            return None
        found_bucket = allowed[1].get_bucket(bucket)
        if isinstance(found_bucket, models.FakeTableStorageBucket):
            return None
        keys = found_bucket.keys
        names = key_index.sorted_names(keys)
        found = []
        for name in names[bisect_left(names, prefix) :]:
            if not name.startswith(prefix):
                break
            if isinstance(keys.get(name), models.FakeKey):  # not a delete marker
                found.append(name)
        return found

    def _blob_path(self, credentials: dict[str, str], bucket: str, key: str) -> str | None:
        """The blob file of the object once s3:GetObject is allowed; None: use HTTP."""
        allowed = self._authorize(credentials, "s3:GetObject", bucket, key)
        if allowed is None:
            return None
        store, backend = allowed
        found = backend.get_bucket(bucket).keys.get(key)
        if not isinstance(found, models.FakeKey):
            if found is None:
                raise _error("NoSuchKey", "The specified key does not exist.", "GetObject")
            return None  # a delete marker: the HTTP path answers it exactly
        blob = storage.blob_name(found)
        if blob is None or found.encryption == "aws:kms":
            return None
        return store.path(blob)

    def get(self, credentials: dict[str, str], bucket: str, key: str, target: str) -> bool:
        """Copy the object's body to `target`; False if the HTTP path must do it."""
        path = self._blob_path(credentials, bucket, key)
        if path is not None:
            shutil.copyfile(path, target)
        return path is not None

    def read(self, credentials: dict[str, str], bucket: str, key: str) -> bytes | None:
        """The object's body; None if the HTTP path must read it."""
        path = self._blob_path(credentials, bucket, key)
        if path is None:
            return None
        with open(path, "rb") as fh:
            return fh.read()

    def put(
        self, credentials: dict[str, str], path: str, bucket: str, key: str, link: bool = True
    ) -> bool:
        """Store the file at `path` as the object (with `link`, a large file by a hard link:
        nothing may change it afterwards); False if the HTTP path must do it."""
        allowed = self._authorize(credentials, "s3:PutObject", bucket, key)
        if allowed is None:
            return False
        store, backend = allowed
        # The ETag (the body's MD5) is computed as the body is stored, not read again later.
        digest = hashlib.md5()
        ref = store.adopt(path, digest) if link else None
        if ref is None:
            digest = hashlib.md5()
            with open(path, "rb") as source:
                ref = store.write(_hashed(iter(lambda: source.read(8 << 20), b""), digest))
        backend.put_object(bucket, key, ref, etag=digest.hexdigest())
        hooks.changed("s3", parts={bucket: {key}})
        return True


def _hashed(chunks: Iterator[bytes], digest: Any) -> Iterator[bytes]:
    for chunk in chunks:
        digest.update(chunk)
        yield chunk


patches.set(s3io, "direct", DirectS3())
