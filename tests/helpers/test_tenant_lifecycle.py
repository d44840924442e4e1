"""Tenant lifecycle against what really happens (issue 10): bad input, name clashes, re-runs
after a partial delete, a writer racing the delete, and a tenant with 10,000 object versions.

Interruptions by kill -9 are in test_tenant_faults.py.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from tenant_checks import add_version, new_id, nothing_left

from helpers import approval, stack, tenants
from helpers.errors import ApprovalError
from helpers.naming import TENANT_ID_PATTERN, model_package_group, tenant_bucket
from helpers.session import AwsSession, connect

# dozens of state machine runs with before/after snapshots
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
MACHINES = ROOT / "cloudformation" / "statemachines"
NAME_STATES = ("CheckInput", "CheckName", "MatchName", "NameValid", "InvalidTenantName")


def snapshot(session) -> dict:
    """What a bad request must not change: buckets, table items, roles, groups, endpoints."""
    sm, iam = session.client("sagemaker"), session.client("iam")

    def every(client, operation: str, key: str, field: str, **kw) -> list[str]:
        pages = client.get_paginator(operation).paginate(**kw)
        return sorted(entry[field] for page in pages for entry in page[key])

    items = session.client("dynamodb").scan(TableName="allTenants")["Items"]
    return {
        "buckets": sorted(b["Name"] for b in session.client("s3").list_buckets()["Buckets"]),
        "items": sorted(json.dumps(i, sort_keys=True) for i in items),
        "roles": every(iam, "list_roles", "Roles", "RoleName"),
        "groups": every(
            sm,
            "list_model_package_groups",
            "ModelPackageGroupSummaryList",
            "ModelPackageGroupName",
        ),
        "endpoints": every(sm, "list_endpoints", "Endpoints", "EndpointName"),
    }


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


# ----- one set of input rules


def test_every_state_machine_checks_names_with_the_helpers_pattern():
    template = (ROOT / "cloudformation" / "stack.yaml").read_text()
    patterns = re.findall(r"^\s*TenantIdPattern: '([^']*)'", template, re.MULTILINE)
    assert patterns == [TENANT_ID_PATTERN] * 3
    definitions = [json.loads(p.read_text()) for p in sorted(MACHINES.glob("*.asl.json"))]
    assert len(definitions) == 3 and {d["StartAt"] for d in definitions} == {"CheckInput"}
    checks = [{name: d["States"][name] for name in NAME_STATES} for d in definitions]
    for check in checks:  # identical but for where a valid name goes next
        check["NameValid"]["Choices"][0].pop("Next")
    assert checks[0] == checks[1] == checks[2]
    assert "${TenantIdPattern}" in json.dumps(checks[0])


BAD_NAMES = ["", "ab", "a" * 25, "Bad", "9lives", "-abc", "abc-", "ab--cd", "ab_c", "acme\n"]
BAD_PAYLOADS = [
    {},
    {"tenant": {}},
    {"tenant": "acme"},
    {"tenant": {"name": 42}},
    {"tenant": {"name": None}},
    {"tenant": {"name": ["acme"]}},
] + [{"tenant": {"name": name}} for name in BAD_NAMES]


@pytest.mark.parametrize("kind", ["create", "delete", "deploy"])
@pytest.mark.parametrize("payload", BAD_PAYLOADS, ids=[json.dumps(p) for p in BAD_PAYLOADS])
def test_bad_input_is_invalid_tenant_name_and_changes_nothing(session, kind, payload):
    before = snapshot(session)
    execution = tenants.run_state_machine(session, kind, payload, progress=False)
    assert (execution.status, execution.error) == ("FAILED", "InvalidTenantName")
    assert "nothing was changed" in execution.cause
    assert snapshot(session) == before


def test_longest_and_shortest_names_are_accepted(session):
    for name in ("abc", "a" + "b" * 22 + "c"):
        tenants.create_tenant(session, name, progress=False)
        tenants.delete_tenant(session, name, progress=False)
        assert nothing_left(session, name)


@pytest.mark.parametrize("kind", ["delete", "deploy"])
def test_unknown_tenant_is_tenant_not_found_and_changes_nothing(session, kind):
    before = snapshot(session)
    execution = tenants.run_state_machine(
        session, kind, {"tenant": {"name": new_id("ghost")}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "TenantNotFound")
    assert snapshot(session) == before


def test_deploy_of_a_tenant_being_created_is_tenant_not_ready(session):
    tenant = new_id("early")
    ddb = session.client("dynamodb")
    ddb.put_item(
        TableName="allTenants",
        Item={"tenant-name": {"S": tenant}, "tenant-status": {"S": "CREATING"}},
    )
    before = snapshot(session)
    execution = tenants.run_state_machine(
        session, "deploy", {"tenant": {"name": tenant}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "TenantNotReady")
    assert snapshot(session) == before
    ddb.delete_item(TableName="allTenants", Key={"tenant-name": {"S": tenant}})


@pytest.mark.parametrize("arn", [42, {"arn": "x"}, None])
def test_deploy_refuses_a_model_package_arn_that_is_not_a_string(session, arn):
    tenant = new_id("arn")
    tenants.create_tenant(session, tenant, progress=False)
    before = snapshot(session)
    payload = {"tenant": {"name": tenant}, "modelPackageArn": arn}
    execution = tenants.run_state_machine(session, "deploy", payload, progress=False)
    assert (execution.status, execution.error) == ("FAILED", "InvalidModelPackageArn")
    assert snapshot(session) == before
    tenants.delete_tenant(session, tenant, progress=False)


def test_deploy_without_an_approved_version_is_no_approved_version(session):
    tenant = new_id("none")
    tenants.create_tenant(session, tenant, progress=False)
    add_version(session, tenant)  # pending, not approved
    before = snapshot(session)
    execution = tenants.run_state_machine(
        session, "deploy", {"tenant": {"name": tenant}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "NoApprovedVersion")
    assert snapshot(session) == before
    tenants.delete_tenant(session, tenant, progress=False)


def test_approve_takes_an_existing_number_or_arn_of_the_tenant_only(session):
    tenant, other = new_id("appr"), new_id("appr-o")
    for t in (tenant, other):
        tenants.create_tenant(session, t, progress=False)
    add_version(session, tenant)
    theirs = add_version(session, other)
    sm = session.client("sagemaker")

    def state() -> list[tuple]:
        listed = sm.list_model_packages(ModelPackageGroupName=model_package_group(tenant))
        return [
            (p["ModelPackageArn"], p["ModelApprovalStatus"])
            for p in listed["ModelPackageSummaryList"]
        ]

    before = state()
    for bad in (1.5, True, "1", 0, -1, 2, None, theirs, "arn:aws:sagemaker:nowhere"):
        with pytest.raises(ApprovalError):
            approval.approve(session, tenant, bad, "must not land")
        assert state() == before
    assert approval.approve(session, tenant, 1, "fine").status == "Approved"
    for t in (tenant, other):
        tenants.delete_tenant(session, t, progress=False)


# ----- ownership: what a create did not make, it does not remove


def test_preexisting_bucket_survives_a_failed_create(session):
    tenant = new_id("squat")
    bucket = tenant_bucket(tenant, session.account_id, session.region)
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket)  # empty, untagged: CreateBucket would "succeed" on it
    before = snapshot(session)
    execution = tenants.run_state_machine(
        session, "create", {"tenant": {"name": tenant}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "BucketNameTaken")
    assert "UndoBucket" not in execution.states
    assert snapshot(session) == before
    s3.put_object(Bucket=bucket, Key="still-mine", Body=b"1")
    s3.delete_object(Bucket=bucket, Key="still-mine")
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)  # not adopted either
    # another tenant's bucket under this name (tagged for someone else) is refused too
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "tenant-id", "Value": "x"}]})
    execution = tenants.run_state_machine(
        session, "create", {"tenant": {"name": tenant}}, progress=False
    )
    assert execution.error == "BucketNameTaken"
    s3.head_bucket(Bucket=bucket)
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    tenants.create_tenant(session, tenant, progress=False)  # the name works once it is free
    tenants.delete_tenant(session, tenant, progress=False)


@pytest.mark.parametrize("tags", [[{"Key": "tenant-id", "Value": "x"}], []], ids=["other", "none"])
def test_delete_leaves_a_bucket_it_cannot_prove_the_tenants_and_says_so(session, tags):
    """A bucket of the tenant's name without its tenant-id tag (e.g. someone else's, found by a
    create that was cut off) is not emptied or deleted; the rest of the tenant goes, and the
    output names what was left and why."""
    tenant = new_id("foreign")
    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    add_version(session, tenant)
    s3 = session.client("s3")
    if tags:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    else:
        s3.delete_bucket_tagging(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="not-yours", Body=b"1")
    execution = tenants.delete_tenant(session, tenant, progress=False)
    assert "ListObjectVersions" not in execution.states
    left = execution.output["leftAlone"]
    assert set(left) == {"bucket"} and left["bucket"]["name"] == bucket
    assert left["bucket"]["reason"].startswith("BucketNotOwned: ")
    assert s3.get_object(Bucket=bucket, Key="not-yours")["Body"].read() == b"1"
    leftovers = tenants.tenant_leftovers(session, tenant)
    assert leftovers.pop("bucket") == [bucket]
    assert not any(leftovers.values())
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])
    s3.delete_bucket(Bucket=bucket)
    assert nothing_left(session, tenant)


def test_delete_of_an_owned_tenant_leaves_nothing_alone(session):
    tenant = new_id("owned")
    tenants.create_tenant(session, tenant, progress=False)
    execution = tenants.delete_tenant(session, tenant, progress=False)
    assert execution.output == {"tenant": tenant, "status": "DELETED", "leftAlone": {}}
    assert nothing_left(session, tenant)


# ----- delete: resumable, races, size


def test_delete_finishes_what_an_earlier_delete_started_and_frees_the_name(session):
    tenant = new_id("again")
    tenants.create_tenant(session, tenant, progress=False)
    tenants.upload_tenant_data(session, tenant, rows=200)  # the data rules need 100
    add_version(session, tenant)
    sm, ddb = session.client("sagemaker"), session.client("dynamodb")
    # As an earlier, interrupted delete leaves it: DELETING, versions and group already gone.
    for p in sm.list_model_packages(ModelPackageGroupName=model_package_group(tenant))[
        "ModelPackageSummaryList"
    ]:
        sm.delete_model_package(ModelPackageName=p["ModelPackageArn"])
    sm.delete_model_package_group(ModelPackageGroupName=model_package_group(tenant))
    ddb.update_item(
        TableName="allTenants",
        Key={"tenant-name": {"S": tenant}},
        UpdateExpression="SET #s = :d",
        ExpressionAttributeNames={"#s": "tenant-status"},
        ExpressionAttributeValues={":d": {"S": "DELETING"}},
    )
    tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)
    tenants.create_tenant(session, tenant, progress=False)
    tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)


def test_delete_wins_against_a_pipeline_still_writing(session):
    tenant = new_id("race")
    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    s3 = session.client("s3")
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                s3.put_object(Bucket=bucket, Key=f"pipeline/run/evaluation-{n}.json", Body=b"{}")
            except ClientError:
                return  # the bucket is gone
            written.append(str(n))
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        tenants.delete_tenant(session, tenant, progress=False)
    finally:
        stop.set()
        thread.join()
    assert written and nothing_left(session, tenant)


THREADS = 32


def put_versions(session, bucket: str, keys: int, versions: int, markers: int) -> int:
    """keys x versions object versions (written by many threads: the server's work, not the
    round trips, is the cost) plus a delete marker on the first `markers` keys (one
    DeleteObjects per 1,000 keys: without version ids it adds markers)."""
    s3 = session.boto_session.client("s3", config=BotoConfig(max_pool_connections=THREADS))
    names = [f"pipeline/exec-{i // 7:05d}/step-{i % 7}/output-{i:06d}.csv" for i in range(keys)]

    def write(key: str) -> None:
        for _ in range(versions):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(write, names))
    for start in range(0, markers, 1000):
        batch = [{"Key": key} for key in names[start : min(start + 1000, markers)]]
        answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": False})
        assert all(d["DeleteMarker"] for d in answer["Deleted"]) and not answer.get("Errors")
    return keys * versions + markers


@pytest.mark.slow
def test_delete_of_a_tenant_with_10000_object_versions(session):
    tenant = new_id("big")
    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    assert put_versions(session, bucket, keys=4750, versions=2, markers=500) == 10_000
    for _ in range(5):
        add_version(session, tenant)
    execution = tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)
    # 100 versions or markers per page, one DeleteObjects each: no per-version states.
    pages = execution.states.count("ListObjectVersions")
    assert 100 <= pages <= 101
    deletes = execution.states.count("DeleteVersions") + execution.states.count("DeleteMarkers")
    assert deletes <= 2 * pages
    assert len(execution.states) < 1_200  # about 11 a page (one spends the event budget)
    assert execution.output["status"] == "DELETED"  # within the default budget: no continuation


def test_versions_table_of_a_tenant_without_versions_has_its_columns(session):
    tenant = new_id("empty")
    tenants.create_tenant(session, tenant, progress=False)
    table = approval.versions_table(session, tenant)
    assert table.empty and table.index.name == "version"
    assert list(table.drop(columns=["arn"]).columns) == ["status", "created", "accuracy", "comment"]
    tenants.delete_tenant(session, tenant, progress=False)


def test_admin_principal_of_an_assumed_role_keeps_the_role_path(session):
    iam = session.client("iam")
    name = new_id("studio")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}],
    }
    role = iam.create_role(
        RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    assert ":role/service-role/" in role["Arn"]
    get_role = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iam:GetRole", "Resource": role["Arn"]}],
    }  # what admin_principal needs to find the path
    iam.put_role_policy(RoleName=name, PolicyName="get-role", PolicyDocument=json.dumps(get_role))
    creds = session.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="admin")
    keys = creds["Credentials"]
    assumed = AwsSession(
        backend="local",
        region=session.region,
        boto_session=boto3.Session(
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys["SessionToken"],
            region_name=session.region,
        ),
    )
    assert stack.admin_principal(assumed) == role["Arn"]
    iam.delete_role_policy(RoleName=name, PolicyName="get-role")
    iam.delete_role(RoleName=name)


def assumed_session(session, role_arn: str, boto_session=None) -> boto3.Session:
    sts = (boto_session or session.boto_session).client("sts")
    keys = sts.assume_role(RoleArn=role_arn, RoleSessionName="session")["Credentials"]
    return boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=session.region,
    )


@pytest.mark.parametrize("path", ["/service-role/", "/aws-reserved/sso.amazonaws.com/eu-west-1/"])
def test_role_paths_in_trust_policies_and_principal_arn(session, path):
    """A role with a path is named by its full ARN in a trust policy and in aws:PrincipalArn."""
    iam, s3 = session.client("iam"), session.client("s3")
    allow_all = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole", "s3:*"], "Resource": "*"}],
    }
    name = new_id("pathed")
    trust_any = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}}],
    }
    pathed = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(trust_any)
    )["Role"]["Arn"]
    assert f":role{path}{name}" in pathed
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(allow_all))
    trust_pathed = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": pathed}}
        ],
    }
    target = iam.create_role(
        RoleName=f"{name}-t", AssumeRolePolicyDocument=json.dumps(trust_pathed)
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=f"{name}-t", PolicyName="all", PolicyDocument=json.dumps(allow_all)
    )
    as_pathed = assumed_session(session, pathed)
    as_target = assumed_session(session, target, as_pathed)  # the trust policy names the path
    with pytest.raises(ClientError):  # ... and nobody else
        assumed_session(session, target)
    bucket = f"{name}-b"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    only_pathed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
                "Condition": {"StringNotEquals": {"aws:PrincipalArn": pathed}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(only_pathed))
    assert as_pathed.client("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"1"
    with pytest.raises(ClientError):
        as_target.client("s3").get_object(Bucket=bucket, Key="k")
    s3.delete_bucket_policy(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)
    for role in (name, f"{name}-t"):
        iam.delete_role_policy(RoleName=role, PolicyName="all")
        iam.delete_role(RoleName=role)
