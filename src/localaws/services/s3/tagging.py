"""S3 object tags without an entry per untagged object version: patch group `s3.tagging`.

moto 5.2.5 keeps object tags in the backend's `tagger` under a per-version ARN
(`arn:aws:s3:::bucket/key/versionId`), and its PutObject handler tags every new version, with
no tags too: the tagger gets an empty entry per version, never removed, not even when the
version or its bucket is deleted. The tagger lives in the backend remainder that persistence
pickles on every S3 write, so each write cost grew with every object ever written. Here:

- an object without tags has no entry (an empty entry and no entry answer alike: moto's
  `has_tags` only guards reads, and `copy_tags` copies nothing from either);
- deleting a version (DeleteObject, DeleteObjects) drops its entry, deleting a bucket drops
  the bucket's own tags and any object entry left under it (AWS: a deleted bucket's
  configuration, tags included, goes with it; a bucket created again under the name starts
  without tags);
- at restart, entries saved before this (empty ones, those of versions or buckets that no
  longer exist) are pruned and the remainder saved once.

The entries of tagged objects stay in the remainder: a tag is rare, and moving them to the
key's own file would mean replacing every moto path that reads them.
"""

from __future__ import annotations

from typing import Any

from moto.s3 import models

from localaws.core import hooks
from localaws.core.patching import Patches

patches = Patches("s3.tagging")


def _drop_empty(tagger: Any, arn: str) -> None:
    if arn in tagger.tags and not tagger.tags[arn]:
        tagger.tags.pop(arn, None)


@patches.wrap(models.S3Backend, "put_object_tagging")
def _put_object_tagging(original: Any, self: Any, key: Any, tags: Any) -> Any:
    try:
        return original(self, key, tags)
    finally:
        _drop_empty(self.tagger, key.arn)


@patches.wrap(models.S3Backend, "delete_object")
def _delete_object(original: Any, self: Any, bucket_name: str, key_name: str, *args, **kwargs):
    bucket = self.buckets.get(bucket_name)
    before = list(bucket.keys.getlist(key_name) or ()) if bucket is not None else []
    try:
        return original(self, bucket_name, key_name, *args, **kwargs)
    finally:
        if before:
            kept = {v.arn for v in bucket.keys.getlist(key_name) or () if _is_key(v)}
            for version in before:
                if _is_key(version) and version.arn not in kept:
                    self.tagger.tags.pop(version.arn, None)


@patches.wrap(models.S3Backend, "delete_bucket")
def _delete_bucket(original: Any, self: Any, bucket_name: str) -> Any:
    deleted = original(self, bucket_name)
    if deleted is not None:
        under = deleted.arn + "/"
        for arn in [a for a in list(self.tagger.tags) if a == deleted.arn or a.startswith(under)]:
            self.tagger.tags.pop(arn, None)
    return deleted


def _is_key(version: Any) -> bool:
    return isinstance(version, models.FakeKey)


def _exists(backend: Any, arn: str) -> bool:
    """Whether the bucket or object version `arn` (`arn:<partition>:s3:::bucket[/key/id]`)
    is still there; an ARN of another form counts as present (not ours to judge)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "s3":
        return True
    bucket_name, _, rest = parts[5].partition("/")
    bucket = backend.buckets.get(bucket_name)
    if bucket is None or not rest:
        return bucket is not None
    name = rest.rpartition("/")[0]
    return any(_is_key(v) and v.arn == arn for v in bucket.keys.getlist(name) or ())


def prune(backend: Any) -> int:
    """Drop `backend`'s empty tag entries and those of what no longer exists; how many."""
    tags = backend.tagger.tags
    gone = [arn for arn, entry in list(tags.items()) if not entry or not _exists(backend, arn)]
    for arn in gone:
        tags.pop(arn, None)
    return len(gone)


@hooks.on_restore
def _prune_restored() -> None:
    if not patches.applied:
        return
    pruned = sum(prune(backend) for _, _, backend in models.s3_backends.iter_backends())
    if pruned:
        hooks.changed("s3", parts={})  # the remainder only: no bucket or object changed
