"""core.lookup: resources found by attribute without a scan, and never a stale one."""

from __future__ import annotations

import json
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError
from races import changing

from localaws.core.lookup import Lookup
from localaws.persistence.tracking import TrackedDict, TrackedList


class CountingDict(TrackedDict):
    """Counts the scans of the collection (tracked iteration of values / items)."""

    scans = 0

    def values(self):  # type: ignore[override]
        CountingDict.scans += 1
        return super().values()


def roles(n: int) -> TrackedDict:
    return TrackedDict(
        {f"id-{i}": SimpleNamespace(name=f"r{i}", arn=f"arn:r{i}") for i in range(n)}
    )


def test_finds_in_a_dict_and_a_list():
    by_name = Lookup("name")
    found = roles(50)
    assert by_name.find(found, "r7") is found["id-7"]
    assert by_name.find(found, "nope") is None
    items = TrackedList([SimpleNamespace(name=f"e{i}") for i in range(20)])
    assert by_name.find(items, "e19") is items[19]
    assert by_name.find(list(items), "e3").name == "e3"  # plain collections too


def test_first_item_wins_as_in_a_scan():
    items = [SimpleNamespace(name="same", n=1), SimpleNamespace(name="same", n=2)]
    assert Lookup("name").find(items, "same").n == 1


def test_a_change_is_seen_and_a_removed_item_is_not_returned():
    by_name = Lookup("name")
    found = roles(5)
    assert by_name.find(found, "r1") is not None
    del found["id-1"]
    assert by_name.find(found, "r1") is None
    found["id-9"] = SimpleNamespace(name="r1", arn="arn:new")  # the same name, a new resource
    assert by_name.find(found, "r1").arn == "arn:new"
    items = TrackedList([SimpleNamespace(name=f"e{i}") for i in range(5)])
    assert by_name.find(items, "e4") is items[4]
    items.pop(0)  # positions shift: the remembered slot now holds another item
    assert by_name.find(items, "e4") is items[3]


def test_a_missing_value_scans_once_per_change():
    by_name = Lookup("name")
    found = CountingDict(roles(100))
    by_name.find(found, "r1")
    before = CountingDict.scans
    for _ in range(50):
        assert by_name.find(found, "absent") is None
        assert by_name.find(found, "r99") is not None
    assert CountingDict.scans == before  # no rescan: the dict did not change
    found["id-x"] = SimpleNamespace(name="absent", arn="")
    assert by_name.find(found, "absent") is found["id-x"]


def test_a_replaced_collection_is_indexed_afresh():
    by_name = Lookup("name")
    first = roles(3)
    assert by_name.find(first, "r2") is first["id-2"]
    second = TrackedDict({"other": SimpleNamespace(name="r2", arn="")})  # e.g. a restore
    assert by_name.find(second, "r2") is second["other"]


TRUST_ME = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def test_a_scan_while_another_thread_changes_the_collection_does_not_fail():
    """Requests run in threads: a rescan while another request adds or removes a role got
    "dictionary changed size during iteration" (a 500 for GetRole under load)."""
    by_name, found = Lookup("name"), roles(2000)
    with changing(found, lambda i: SimpleNamespace(name=f"n{i}", arn="")) as wait_for_change:
        for _ in range(600):
            wait_for_change()  # the dict changed: the next find rescans it
            assert by_name.find(found, "nope") is None
        assert by_name.find(found, "r1999") is found["id-1999"]


def test_a_recreated_role_is_the_new_one_and_old_sessions_die(localaws, clients):
    """Over HTTP: roles looked up by name and ARN, sessions by key, after delete / recreate."""
    iam, sts = clients("iam"), clients("sts")
    iam.create_role(RoleName="lookup-r", AssumeRolePolicyDocument=json.dumps(TRUST_ME))
    iam.put_role_policy(
        RoleName="lookup-r",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": "*"}],
            }
        ),
    )
    arn = iam.get_role(RoleName="lookup-r")["Role"]["Arn"]
    keys = sts.assume_role(RoleArn=arn, RoleSessionName="lookup")["Credentials"]
    as_role = boto3.client(
        "iam",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        endpoint_url=iam.meta.endpoint_url,
        region_name="us-east-1",
    )
    assert as_role.get_role(RoleName="lookup-r")["Role"]["Arn"] == arn
    bad = boto3.client(
        "iam",
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token="not-the-token",
        endpoint_url=iam.meta.endpoint_url,
        region_name="us-east-1",
    )
    with pytest.raises(ClientError) as caught:
        bad.get_role(RoleName="lookup-r")
    assert caught.value.response["Error"]["Code"] == "InvalidClientTokenId"

    iam.delete_role_policy(RoleName="lookup-r", PolicyName="p")
    iam.delete_role(RoleName="lookup-r")
    with pytest.raises(ClientError) as caught:
        iam.get_role(RoleName="lookup-r")
    assert caught.value.response["Error"]["Code"] == "NoSuchEntity"
    with pytest.raises(ClientError):  # the session of a deleted role is refused
        as_role.get_role(RoleName="lookup-r")

    again = iam.create_role(RoleName="lookup-r", AssumeRolePolicyDocument=json.dumps(TRUST_ME))
    assert iam.get_role(RoleName="lookup-r")["Role"]["RoleId"] == again["Role"]["RoleId"]
