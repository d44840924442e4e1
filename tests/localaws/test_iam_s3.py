"""IAM in localaws: valid credentials everywhere, S3 policies enforced (identity and bucket)."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

NO_RETRY = BotoConfig(retries={"max_attempts": 1})


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def setup(localaws):
    """Two buckets and a role that may use only the first; the role's temporary keys."""
    session = boto3.Session(region_name="us-east-1")
    s3, iam, sts = (session.client(n, config=NO_RETRY) for n in ("s3", "iam", "sts"))
    suffix = uuid.uuid4().hex[:8]
    mine, other = f"iam-mine-{suffix}", f"iam-other-{suffix}"
    for bucket in (mine, other):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="seed.txt", Body=b"seed")
    admin_arn = sts.get_caller_identity()["Arn"]
    role_name = f"iam-one-bucket-{suffix}"
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="one-bucket",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{mine}"},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{mine}/*",
            },
        ),
    )
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="test")["Credentials"]
    role_session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    return {
        "mine": mine,
        "other": other,
        "admin_s3": s3,
        "role_arn": role["Arn"],
        "role": lambda name: role_session.client(name, config=NO_RETRY),
    }


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_assumed_role_reaches_only_its_bucket(setup):
    s3 = setup["role"]("s3")
    s3.put_object(Bucket=setup["mine"], Key="data.csv", Body=b"a,b\n")
    assert s3.get_object(Bucket=setup["mine"], Key="data.csv")["Body"].read() == b"a,b\n"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=setup["mine"])["Contents"]] == [
        "data.csv",
        "seed.txt",
    ]
    for call in (
        lambda: s3.get_object(Bucket=setup["other"], Key="seed.txt"),
        lambda: s3.put_object(Bucket=setup["other"], Key="x", Body=b"x"),
        lambda: s3.list_objects_v2(Bucket=setup["other"]),
        lambda: s3.list_buckets(),
        lambda: s3.delete_object(Bucket=setup["mine"], Key="seed.txt"),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDenied"
    # Nothing was written to the other bucket.
    keys = setup["admin_s3"].list_objects_v2(Bucket=setup["other"])["Contents"]
    assert [o["Key"] for o in keys] == ["seed.txt"]


def test_bucket_policy_allows_and_denies(setup):
    admin, s3 = setup["admin_s3"], setup["role"]("s3")
    admin.put_bucket_policy(
        Bucket=setup["other"],
        Policy=_doc(
            {
                "Effect": "Allow",
                "Principal": {"AWS": setup["role_arn"]},
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{setup['other']}/*",
            }
        ),
    )
    try:
        assert s3.get_object(Bucket=setup["other"], Key="seed.txt")["Body"].read() == b"seed"
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=setup["other"], Key="x", Body=b"x")
        assert _code(exc) == "AccessDenied"
    finally:
        admin.delete_bucket_policy(Bucket=setup["other"])

    admin.put_bucket_policy(
        Bucket=setup["mine"],
        Policy=_doc(
            {
                "Effect": "Deny",
                "Principal": {"AWS": setup["role_arn"]},
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{setup['mine']}/locked/*",
            }
        ),
    )
    try:
        with pytest.raises(ClientError) as exc:
            s3.put_object(Bucket=setup["mine"], Key="locked/x", Body=b"x")
        assert _code(exc) == "AccessDenied"
        s3.put_object(Bucket=setup["mine"], Key="open/x", Body=b"x")
    finally:
        admin.delete_bucket_policy(Bucket=setup["mine"])


def test_other_services_enforce_policies_too(setup, localaws):
    """DynamoDB is authorized like S3 now: the one-bucket role may not create a table (the
    admin may), and GetCallerIdentity stays allowed for everyone, as on AWS."""
    table = f"iam-table-{uuid.uuid4().hex[:8]}"
    spec = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    ddb = setup["role"]("dynamodb")
    with pytest.raises(ClientError) as exc:
        ddb.create_table(**spec)
    assert _code(exc) == "AccessDeniedException"
    assert f"table/{table}" in exc.value.response["Error"]["Message"]
    admin = boto3.Session(region_name="us-east-1").client("dynamodb", config=NO_RETRY)
    admin.create_table(**spec)
    admin.put_item(TableName=table, Item={"k": {"S": "v"}})
    with pytest.raises(ClientError) as exc:
        ddb.put_item(TableName=table, Item={"k": {"S": "w"}})
    assert _code(exc) == "AccessDeniedException"
    identity = setup["role"]("sts").get_caller_identity()
    assert identity["Arn"].endswith(f":assumed-role/{setup['role_arn'].rsplit('/', 1)[1]}/test")


@pytest.mark.parametrize("service", ["s3", "dynamodb", "sts"])
def test_unknown_or_forged_credentials_are_refused(localaws, service):
    forged = boto3.Session(
        aws_access_key_id="AKIAFORGED0000000000",
        aws_secret_access_key="nope",
        region_name="us-east-1",
    )
    client = forged.client(service, config=NO_RETRY)
    call = {
        "s3": client.list_buckets if service == "s3" else None,
        "dynamodb": getattr(client, "list_tables", None),
        "sts": getattr(client, "get_caller_identity", None),
    }[service]
    with pytest.raises(ClientError) as exc:
        call()
    assert _code(exc) in (
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    )


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("s3", "list_buckets", "SignatureDoesNotMatch"),
        ("dynamodb", "list_tables", "InvalidSignatureException"),
        ("iam", "list_roles", "SignatureDoesNotMatch"),
    ],
)
def test_wrong_secret_is_refused(localaws, service, call, code):
    session = boto3.Session(region_name="us-east-1")
    key = session.get_credentials().access_key
    bad = boto3.Session(
        aws_access_key_id=key, aws_secret_access_key="wrong-secret", region_name="us-east-1"
    )
    with pytest.raises(ClientError) as exc:
        getattr(bad.client(service, config=NO_RETRY), call)()
    assert _code(exc) == code


def test_a_signed_header_changed_after_signing_is_refused(setup, localaws):
    """Every header the signature names is part of the check: a metadata header or the date
    altered on the way (after botocore signed) fails it; the same request untouched passes."""
    admin = boto3.Session(region_name="us-east-1").client("s3", config=NO_RETRY)
    admin.put_object(Bucket=setup["mine"], Key="signed", Body=b"x", Metadata={"owner": "a"})

    def tamper(header: str, value: str):
        def handler(request, **_):
            request.headers[header] = value

        return handler

    for header, value in (("x-amz-meta-owner", "b"), ("X-Amz-Date", "20200101T000000Z")):
        handler = tamper(header, value)
        admin.meta.events.register_first("before-send.s3.PutObject", handler)
        try:
            with pytest.raises(ClientError) as exc:
                admin.put_object(
                    Bucket=setup["mine"], Key="signed", Body=b"y", Metadata={"owner": "a"}
                )
        finally:
            admin.meta.events.unregister("before-send.s3.PutObject", handler)
        assert _code(exc) == "SignatureDoesNotMatch", header
    head = admin.head_object(Bucket=setup["mine"], Key="signed")
    assert head["Metadata"] == {"owner": "a"} and head["ContentLength"] == 1


@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_presigned_and_unsigned_requests_are_refused(setup, localaws, signature_version):
    import urllib.error
    import urllib.request

    admin = boto3.Session(region_name="us-east-1").client(
        "s3", config=BotoConfig(signature_version=signature_version)
    )
    url = admin.generate_presigned_url(
        "put_object", Params={"Bucket": setup["mine"], "Key": "presigned"}
    )
    for target in (url, url.split("?", 1)[0]):  # presigned, then unsigned
        request = urllib.request.Request(target, data=b"x", method="PUT")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(request, timeout=30)
        assert exc.value.code == 403
    keys = [o["Key"] for o in setup["admin_s3"].list_objects_v2(Bucket=setup["mine"])["Contents"]]
    assert "presigned" not in keys


def test_delete_objects_in_quiet_mode_lists_only_the_errors(setup):
    """AWS: "In quiet mode, the response includes only keys for which the delete operation
    encountered an error" (Amazon S3 User Guide, Deleting multiple objects)."""
    admin, mine = setup["admin_s3"], setup["mine"]
    for key in ("quiet/a", "quiet/b"):
        admin.put_object(Bucket=mine, Key=key, Body=b"x")
    answer = admin.delete_objects(
        Bucket=mine, Delete={"Objects": [{"Key": "quiet/a"}], "Quiet": True}
    )
    assert "Deleted" not in answer and not answer.get("Errors")
    refused = setup["role"]("s3").delete_objects(  # the role may not s3:DeleteObject
        Bucket=mine, Delete={"Objects": [{"Key": "quiet/b"}], "Quiet": True}
    )
    assert "Deleted" not in refused
    assert [(e["Key"], e["Code"]) for e in refused["Errors"]] == [("quiet/b", "AccessDenied")]
    listed = admin.list_objects_v2(Bucket=mine, Prefix="quiet/").get("Contents", [])
    assert [o["Key"] for o in listed] == ["quiet/b"]
    verbose = admin.delete_objects(
        Bucket=mine, Delete={"Objects": [{"Key": "quiet/b"}], "Quiet": False}
    )
    assert [d["Key"] for d in verbose["Deleted"]] == ["quiet/b"]
