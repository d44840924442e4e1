"""DeleteObjects on a versioned bucket is durable for exactly the keys it names (kill -9).

Persistence saves only the object names a request names (`services.s3.multi_delete` records
DeleteObjects' keys): versions it removed stay removed, markers it added stay, and every other
object of the bucket keeps all its versions across a kill -9 and restart.
"""

from __future__ import annotations

import pytest
from compute_helpers import own_server
from server_forks import kill9

from localaws.cli import start

pytestmark = pytest.mark.slow  # a private server, killed and restarted
BUCKET = "multi-delete-durable"


def versions(s3) -> dict[str, list[str]]:
    """key -> "v" / "m" per version / delete marker, the latest first, the rest sorted."""
    page = s3.list_object_versions(Bucket=BUCKET)
    found: dict[str, list[tuple]] = {}
    for kind, entries in (("v", page.get("Versions", [])), ("m", page.get("DeleteMarkers", []))):
        for e in entries:
            found.setdefault(e["Key"], []).append((not e["IsLatest"], kind))
    return {k: [kind for _, kind in sorted(v)] for k, v in sorted(found.items())}


def test_delete_objects_survives_kill9_and_touches_only_its_keys(tmp_path):
    with own_server(tmp_path / "state") as (config, info, session):
        s3 = session.client("s3", endpoint_url=config.endpoint_url)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        ids: dict[str, list[str]] = {}
        for i in range(8):
            for body in (b"1", b"22"):
                put = s3.put_object(Bucket=BUCKET, Key=f"k{i}", Body=body)
                ids.setdefault(f"k{i}", []).append(put["VersionId"])
        named = [{"Key": k, "VersionId": v} for k in ("k0", "k1") for v in ids[k]]
        named += [{"Key": "k2", "VersionId": ids["k2"][0]}, {"Key": "k3"}]  # one version; a marker
        answer = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": named})
        assert not answer.get("Errors") and len(answer["Deleted"]) == len(named)
        expected = {
            "k2": ["v"],
            "k3": ["m", "v", "v"],
            **{f"k{i}": ["v", "v"] for i in range(4, 8)},
        }
        assert versions(s3) == expected

        kill9(info["pid"])
        start(config)
        s3 = session.client("s3", endpoint_url=config.endpoint_url)
        assert versions(s3) == expected
        assert s3.get_object(Bucket=BUCKET, Key="k2")["Body"].read() == b"22"
        assert s3.get_object(Bucket=BUCKET, Key="k7")["Body"].read() == b"22"
