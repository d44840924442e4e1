"""S3 object tags: AWS's semantics over HTTP, no tag entry per untagged object version, entries
leave with their version or bucket, and state saved before that loads and keeps real tags."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from compute_helpers import admin_session
from moto.s3 import models

from localaws.cli import start, stop
from localaws.core.config import Config
from localaws.ephemeral import free_port
from localaws.persistence import pickling
from localaws.persistence.journal import Journal
from localaws.services.s3 import tagging


def _tags(s3, bucket: str, key: str, **version: str) -> dict:
    tag_set = s3.get_object_tagging(Bucket=bucket, Key=key, **version)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def test_object_tags_over_http(clients):
    s3 = clients("s3")
    s3.create_bucket(Bucket="tags-plain")
    s3.put_object(Bucket="tags-plain", Key="a/b.csv", Body=b"1", Tagging="team=ml&tier=gold")
    assert _tags(s3, "tags-plain", "a/b.csv") == {"team": "ml", "tier": "gold"}
    assert s3.get_object(Bucket="tags-plain", Key="a/b.csv")["TagCount"] == 2
    s3.put_object(Bucket="tags-plain", Key="untagged", Body=b"2")
    assert _tags(s3, "tags-plain", "untagged") == {}
    assert "TagCount" not in s3.get_object(Bucket="tags-plain", Key="untagged")

    source = {"Bucket": "tags-plain", "Key": "a/b.csv"}
    s3.copy_object(Bucket="tags-plain", Key="copy", CopySource=source)
    assert _tags(s3, "tags-plain", "copy") == {"team": "ml", "tier": "gold"}
    s3.copy_object(
        Bucket="tags-plain",
        Key="replaced",
        CopySource=source,
        TaggingDirective="REPLACE",
        Tagging="team=ops",
    )
    assert _tags(s3, "tags-plain", "replaced") == {"team": "ops"}
    s3.copy_object(Bucket="tags-plain", Key="copy-of-untagged", CopySource="tags-plain/untagged")
    assert _tags(s3, "tags-plain", "copy-of-untagged") == {}

    # An overwrite without tags leaves the object without tags (unversioned bucket).
    s3.put_object(Bucket="tags-plain", Key="a/b.csv", Body=b"3")
    assert _tags(s3, "tags-plain", "a/b.csv") == {}
    s3.put_object_tagging(
        Bucket="tags-plain", Key="untagged", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert _tags(s3, "tags-plain", "untagged") == {"k": "v"}
    s3.delete_object_tagging(Bucket="tags-plain", Key="untagged")
    assert _tags(s3, "tags-plain", "untagged") == {}
    with pytest.raises(ClientError) as bad:
        reserved = {"TagSet": [{"Key": "aws:x", "Value": "v"}]}
        s3.put_object_tagging(Bucket="tags-plain", Key="untagged", Tagging=reserved)
    assert bad.value.response["Error"]["Code"] == "InvalidTag"


def test_version_tags_and_a_bucket_created_again_starts_without_tags(clients):
    s3 = clients("s3")
    s3.create_bucket(Bucket="tags-versioned")
    s3.put_bucket_versioning(Bucket="tags-versioned", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(
        Bucket="tags-versioned", Tagging={"TagSet": [{"Key": "tenant", "Value": "acme"}]}
    )
    old = s3.put_object(Bucket="tags-versioned", Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    new = s3.put_object(Bucket="tags-versioned", Key="k", Body=b"2")["VersionId"]
    assert _tags(s3, "tags-versioned", "k") == {}
    assert _tags(s3, "tags-versioned", "k", VersionId=old) == {"v": "1"}
    s3.delete_object(Bucket="tags-versioned", Key="k")  # a delete marker: versions stay
    assert _tags(s3, "tags-versioned", "k", VersionId=old) == {"v": "1"}
    listing = s3.list_object_versions(Bucket="tags-versioned")
    for entry in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        s3.delete_object(Bucket="tags-versioned", Key="k", VersionId=entry["VersionId"])
    assert new in {v["VersionId"] for v in listing["Versions"]}
    s3.delete_bucket(Bucket="tags-versioned")
    # AWS: a bucket's tags go with it; one created again under the name has none.
    s3.create_bucket(Bucket="tags-versioned")
    with pytest.raises(ClientError) as none:
        s3.get_bucket_tagging(Bucket="tags-versioned")
    assert none.value.response["Error"]["Code"] == "NoSuchTagSet"


@pytest.fixture
def tagging_applied() -> Iterator[Any]:
    """An in-process S3 backend with `s3.tagging` applied (undone afterwards)."""
    applied = not tagging.patches.applied
    tagging.patches.apply()
    try:
        yield models.S3Backend("us-east-1", "123456789012")
    finally:
        if applied:
            tagging.patches.undo()


def test_entries_only_for_tagged_versions_and_gone_with_them(tagging_applied):
    backend = tagging_applied
    backend.create_bucket("entries", "us-east-1")
    backend.put_bucket_versioning("entries", "Enabled")
    for i in range(50):  # what moto's PutObject handler does: tag every new version
        backend.put_object_tagging(backend.put_object("entries", f"k/{i}", b"x"), {})
    tagged = backend.put_object("entries", "k/0", b"y")
    backend.put_object_tagging(tagged, {"a": "1"})
    assert backend.tagger.tags == {tagged.arn: {"a": "1"}}
    backend.delete_object("entries", "k/0")  # a delete marker
    assert backend.tagger.tags == {tagged.arn: {"a": "1"}}
    backend.delete_object("entries", "k/0", version_id=tagged.version_id)
    assert backend.tagger.tags == {}

    backend.put_bucket_tagging("entries", {"owner": "me"})
    kept = backend.put_object("entries", "last", b"z")
    backend.put_object_tagging(kept, {"b": "2"})
    for name, versions in list(backend.get_bucket("entries").keys.lists()):
        for version in versions:
            backend.delete_object("entries", name, version_id=version.version_id)
    backend.delete_bucket("entries")
    assert backend.tagger.tags == {}


def test_prune_keeps_real_tags_and_drops_what_earlier_state_left(tagging_applied):
    backend = tagging_applied
    backend.create_bucket("pruned", "us-east-1")
    backend.put_bucket_versioning("pruned", "Enabled")
    backend.put_bucket_tagging("pruned", {"tenant": "acme"})
    real = backend.put_object("pruned", "dir/with/slashes.csv", b"x")
    untagged = backend.put_object("pruned", "dir/with/slashes.csv", b"y")
    backend.put_object_tagging(real, {"a": "1"})
    bucket_arn = backend.get_bucket("pruned").arn
    left = {
        untagged.arn: {},  # what moto's PUT left for every version
        f"{bucket_arn}/dir/with/slashes.csv/deleted-version": {"a": "2"},
        "arn:aws:s3:::deleted-bucket": {"t": "x"},
        "arn:aws:s3:::deleted-bucket/k/v1": {"t": "x"},
        "arn:aws:s3:::pruned/no-such-key/null": {},
        "arn:aws:sqs:us-east-1:123456789012:not-s3": {"kept": "yes"},  # not ours to judge
    }
    backend.tagger.tags.update(left)
    assert tagging.prune(backend) == 5
    assert backend.tagger.tags == {
        bucket_arn: {"tenant": "acme"},
        real.arn: {"a": "1"},
        "arn:aws:sqs:us-east-1:123456789012:not-s3": {"kept": "yes"},
    }
    assert tagging.prune(backend) == 0


def _remainder(state_dir: Path) -> tuple[Path, dict]:
    Journal(state_dir).replay()
    (path,) = (state_dir / "data" / "s3").glob("*/aws.pkl")
    with open(path, "rb") as src:
        return path, pickling.load(src)


@pytest.mark.slow
def test_state_saved_before_loads_with_its_real_tags_and_without_the_rest(tmp_path):
    """A state directory as localaws wrote it before (an empty tag entry per version, entries
    of deleted versions and buckets) loads; real tags survive, the rest is pruned and saved."""
    config = Config(state_dir=tmp_path / "state", port=free_port())
    start(config)

    def client() -> Any:
        return admin_session(config).client("s3", endpoint_url=config.endpoint_url)

    s3 = client()
    s3.create_bucket(Bucket="old-state")
    s3.put_bucket_versioning(Bucket="old-state", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_tagging(Bucket="old-state", Tagging={"TagSet": [{"Key": "t", "Value": "1"}]})
    tagged = s3.put_object(Bucket="old-state", Key="a/b", Body=b"1", Tagging="x=1")["VersionId"]
    plain = s3.put_object(Bucket="old-state", Key="a/b", Body=b"2")["VersionId"]
    stop(config)

    path, state = _remainder(config.state_dir)
    real = dict(state["tagger"].tags)
    assert real == {
        "arn:aws:s3:::old-state": {"t": "1"},
        f"arn:aws:s3:::old-state/a/b/{tagged}": {"x": "1"},
    }
    stale = {
        f"arn:aws:s3:::old-state/a/b/{plain}": {},
        "arn:aws:s3:::old-state/a/b/deleted": {"x": "2"},
        "arn:aws:s3:::gone": {"t": "2"},
    }
    state["tagger"].tags.update(stale)
    saver = pickling.BackendPickler()
    saver.backends("s3", load=True)
    path.write_bytes(saver.dumps(state))

    start(config)
    try:
        s3 = client()
        assert _tags(s3, "old-state", "a/b", VersionId=tagged) == {"x": "1"}
        assert _tags(s3, "old-state", "a/b") == {}
        assert s3.get_bucket_tagging(Bucket="old-state")["TagSet"] == [{"Key": "t", "Value": "1"}]
        s3.create_bucket(Bucket="gone")
        with pytest.raises(ClientError):
            s3.get_bucket_tagging(Bucket="gone")
        s3.delete_bucket(Bucket="gone")
    finally:
        stop(config)
    assert _remainder(config.state_dir)[1]["tagger"].tags == real
