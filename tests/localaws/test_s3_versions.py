"""ListObjectVersions pages stay fast and correct on a bucket with many versions."""

from __future__ import annotations

import inspect
import time

from moto.s3 import models


def test_moto_deep_copies_only_in_list_object_versions():
    source = inspect.getsource(models)
    assert source.count("copy.deepcopy(") == 1
    assert "copy.deepcopy(" in inspect.getsource(models.S3Backend.list_object_versions)


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
    started = time.monotonic()
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
    assert time.monotonic() - started < 10
    # the stored keys were not touched by the listing
    body = s3.get_object(Bucket="versions-listing", Key="k005")["Body"].read()
    assert body == b"22"
