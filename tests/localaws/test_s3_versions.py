"""ListObjectVersions: localaws's paged walk (`services.s3.versions`) answers exactly as moto's
whole-bucket walk, on generated buckets, page by page; and over HTTP."""

from __future__ import annotations

import copy
import datetime
import random
from collections.abc import Iterator
from typing import Any

import pytest
from moto.s3 import models

from localaws.services.s3 import key_index, versions

ALPHABET = "ab/-é"  # "/" and "a" serve as delimiters too; "é" sorts after ASCII
BASE = datetime.datetime(2026, 1, 1)


class _ShallowCopies:
    """moto's walk deep-copies every version per call (~150 us each); a shallow copy gives the
    same answers and keeps this test fast. Stands in for `copy` inside moto.s3.models."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(items: list, memo: Any = None) -> list:
        return [copy.copy(item) for item in items]


@pytest.fixture(scope="module")
def backend() -> Iterator[Any]:
    """An in-process S3 backend with the sorted-name index kept (moto's listing unpatched)."""
    assert not versions.patches.applied, "moto's own list_object_versions is the reference"
    applied = not key_index.patches.applied
    key_index.patches.apply()
    saved = models.copy
    models.copy = _ShallowCopies()  # type: ignore[assignment]
    try:
        yield models.S3Backend("us-east-1", "123456789012")
    finally:
        models.copy = saved  # type: ignore[assignment]
        if applied:
            key_index.patches.undo()


def _name(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5)))


def _fill(backend: Any, rng: random.Random, bucket: str, versioned: bool = True) -> list[str]:
    """A bucket of random names, each with 1-4 versions and some delete markers, some versions
    deleted again; last-modified times drawn from a few milliseconds (ties included)."""
    backend.create_bucket(bucket, "us-east-1")
    if versioned:
        backend.put_bucket_versioning(bucket, "Enabled")
    names = sorted({_name(rng) for _ in range(rng.randint(0, 25))})
    for name in names:
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.2 and versioned:
                backend.delete_object(bucket, name)  # a delete marker
            else:
                backend.put_object(bucket, name, b"x")
        stored = backend.get_bucket(bucket).keys.getlist(name) or []
        for version in stored:
            version.last_modified = BASE + datetime.timedelta(microseconds=rng.randrange(4) * 500)
        if versioned and len(stored) > 1 and rng.random() < 0.3:
            backend.delete_object(bucket, name, version_id=rng.choice(stored).version_id)
    return names


def _page(answer: tuple) -> tuple:
    found, prefixes, markers, next_key, next_version = answer
    described = [
        (v.name, v.version_id, v.is_latest, type(v).__name__, v.last_modified)
        for v in found + markers
    ]
    return described, prefixes, len(found), next_key, next_version


def _both(backend: Any, bucket: str, **query: Any) -> tuple:
    ours = _page(versions.list_object_versions(backend, bucket, **query))
    assert ours == _page(models.S3Backend.list_object_versions(backend, bucket, **query)), query
    return ours


def _walk(backend: Any, bucket: str, change=None, **query: Any) -> int:
    """Every page, following NextKeyMarker / NextVersionIdMarker as a client does."""
    pages = 0
    markers: dict[str, Any] = {}
    while pages < 400:
        *_, next_key, next_version = _both(backend, bucket, **query, **markers)
        pages += 1
        if next_key is None:
            return pages
        markers = {"key_marker": next_key, "version_id_marker": next_version}
        if change is not None:
            change()
    raise AssertionError(f"no last page after {pages} pages: {query}")


@pytest.mark.slow
def test_pages_match_moto_on_generated_buckets(backend):
    rng = random.Random(20261130)
    walks = 0
    for number in range(40):
        bucket = f"gen-{number}"
        names = _fill(backend, rng, bucket, versioned=number % 8 != 7)
        prefixes = ["", rng.choice(names)[:2] if names else "a", _name(rng)]
        for prefix in prefixes:
            for delimiter in (None, "/", "a", "ab"):
                max_keys = rng.choice([0, 1, 2, 3, 5, 1000])
                if max_keys == 0:
                    _both(backend, bucket, prefix=prefix, delimiter=delimiter, max_keys=0)
                    continue
                _walk(backend, bucket, prefix=prefix, delimiter=delimiter, max_keys=max_keys)
                walks += 1
    assert walks > 300


def test_arbitrary_markers_match_moto(backend):
    rng = random.Random(7)
    for number in range(20):
        bucket = f"markers-{number}"
        names = _fill(backend, rng, bucket)
        stored = backend.get_bucket(bucket).keys
        ids = [v.version_id for name in names for v in stored.getlist(name) or ()]
        for _ in range(30):
            key_marker = rng.choice(names + [_name(rng), ""]) if names else _name(rng)
            version_marker = rng.choice(ids + ["no-such-version", "", None]) if ids else None
            _both(
                backend,
                bucket,
                key_marker=key_marker,
                version_id_marker=version_marker,
                prefix=rng.choice(["", "a", "b/"]),
                delimiter=rng.choice([None, "/"]),
                max_keys=rng.choice([1, 3, 1000]),
            )


def test_pages_match_moto_while_the_bucket_changes_between_them(backend):
    """The delete state machine deletes each page before listing the next; writers add names
    meanwhile: the sorted-name index follows every change."""
    rng = random.Random(99)
    bucket = "changing"
    _fill(backend, rng, bucket)

    def change() -> None:
        stored = backend.get_bucket(bucket).keys
        for _ in range(3):
            names = key_index.sorted_names(stored)
            if names and rng.random() < 0.6:
                name = rng.choice(names)
                version = rng.choice(stored.getlist(name))
                backend.delete_object(bucket, name, version_id=version.version_id)
            else:
                backend.put_object(bucket, _name(rng), b"y")

    for max_keys in (1, 2, 4):
        _walk(backend, bucket, change=change, max_keys=max_keys)
    stored = backend.get_bucket(bucket).keys
    assert key_index.sorted_names(stored) == sorted(stored)


def test_versions_list_with_latest_flags_and_pages(clients):
    s3 = clients("s3")
    s3.create_bucket(Bucket="versions-listing")
    s3.put_bucket_versioning(
        Bucket="versions-listing", VersioningConfiguration={"Status": "Enabled"}
    )
    for i in range(30):
        for body in (b"1", b"22"):
            s3.put_object(Bucket="versions-listing", Key=f"k{i:03d}", Body=body)
    s3.delete_object(Bucket="versions-listing", Key="k000")
    seen, markers, pages = [], [], 0
    kwargs: dict = {}
    while True:
        page = s3.list_object_versions(Bucket="versions-listing", MaxKeys=7, **kwargs)
        pages += 1
        seen += [(v["Key"], v["Size"], v["IsLatest"]) for v in page.get("Versions", [])]
        markers += [(m["Key"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        if not page["IsTruncated"]:
            break
        kwargs = {
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert markers == [("k000", True)]
    assert len(seen) == 60 and pages == 9
    assert ("k001", 2, True) in seen and ("k001", 1, False) in seen
    assert ("k000", 2, False) in seen  # the marker is the latest
    # the stored keys were not touched by the listing
    body = s3.get_object(Bucket="versions-listing", Key="k005")["Body"].read()
    assert body == b"22"
    common = s3.list_object_versions(Bucket="versions-listing", Prefix="k00", Delimiter="1")
    assert [p["Prefix"] for p in common["CommonPrefixes"]] == ["k001"]
    assert {v["Key"] for v in common["Versions"]} == {f"k00{i}" for i in range(10)} - {"k001"}
