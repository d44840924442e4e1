"""IAM in localaws beyond S3: trust policies, conditions, every service, AWS's error order.

(Over 400 lines: one test per documented enforcement behaviour, sharing the role helpers.)
"""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

NO_RETRY = BotoConfig(retries={"max_attempts": 1})
ACCOUNT = "123456789012"


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def _uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def admin(localaws):
    session = boto3.Session(region_name="us-east-1")
    return lambda service: session.client(service, config=NO_RETRY)


@pytest.fixture(scope="module")
def admin_arn(admin) -> str:
    return admin("sts").get_caller_identity()["Arn"]


def make_role(admin, admin_arn, *statements, trust=None, tags=None) -> str:
    """A role the admin may assume (unless `trust` says otherwise) with one inline policy."""
    name = _uid("enf")
    trust = trust or _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": admin_arn},
            "Action": ["sts:AssumeRole", "sts:TagSession"],
        }
    )
    kwargs = {"Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}
    arn = admin("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust, **kwargs)
    if statements:
        admin("iam").put_role_policy(
            RoleName=name, PolicyName="p", PolicyDocument=_doc(*statements)
        )
    return arn["Role"]["Arn"]


def as_role(admin, role_arn: str, **kwargs) -> boto3.Session:
    creds = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="enf", **kwargs)
    creds = creds["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


# --- STS: trust policies ------------------------------------------------------------------


def test_role_trusting_only_sagemaker_cannot_be_assumed_by_the_admin(admin):
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    arn = admin("iam").create_role(RoleName=_uid("sm-only"), AssumeRolePolicyDocument=trust)
    with pytest.raises(ClientError) as exc:
        admin("sts").assume_role(RoleArn=arn["Role"]["Arn"], RoleSessionName="xx")
    assert _code(exc) == "AccessDenied"
    assert "sts:AssumeRole" in exc.value.response["Error"]["Message"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_trust_policy_naming_the_account_delegates_to_identity_policies(admin, admin_arn):
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    )
    target = make_role(admin, admin_arn, trust=trust)
    as_role(admin, target)  # the admin's identity policy (`*`) allows sts:AssumeRole
    # A role without sts:AssumeRole in its identity policy may not, though the account is named.
    hop = make_role(admin, admin_arn, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        as_role(admin, hop).client("sts", config=NO_RETRY).assume_role(
            RoleArn=target, RoleSessionName="hop"
        )
    assert _code(exc) == "AccessDenied"


def test_trust_policy_conditions_are_honoured(admin, admin_arn):
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"AWS": admin_arn},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "tenant-secret"}},
        }
    )
    arn = make_role(admin, admin_arn, trust=trust)
    for kwargs in ({}, {"ExternalId": "wrong"}):
        with pytest.raises(ClientError) as exc:
            as_role(admin, arn, **kwargs)
        assert _code(exc) == "AccessDenied"
    as_role(admin, arn, ExternalId="tenant-secret")


def test_session_tags_need_tag_session_and_become_principal_tags(admin, admin_arn):
    bucket = _uid("enf-tags")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="acme/data.csv", Body=b"a")
    admin("s3").put_object(Bucket=bucket, Key="other/data.csv", Body=b"b")
    statement = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/${{aws:PrincipalTag/tenant-id}}/*",
    }
    arn = make_role(admin, admin_arn, statement)
    s3 = as_role(admin, arn, Tags=[{"Key": "tenant-id", "Value": "acme"}]).client(
        "s3", config=NO_RETRY
    )
    assert s3.get_object(Bucket=bucket, Key="acme/data.csv")["Body"].read() == b"a"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="other/data.csv")
    assert _code(exc) == "AccessDenied"
    no_tag_session = _doc(
        {"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}
    )
    strict = make_role(admin, admin_arn, statement, trust=no_tag_session)
    with pytest.raises(ClientError) as exc:
        as_role(admin, strict, Tags=[{"Key": "tenant-id", "Value": "acme"}])
    assert _code(exc) == "AccessDenied"


def test_unknown_role_cannot_be_assumed(admin):
    with pytest.raises(ClientError) as exc:
        admin("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/nope", RoleSessionName="xx")
    assert _code(exc) == "AccessDenied"


# --- S3: bucket policy conditions, existence before authorization, deleted principals --------


@pytest.mark.slow
def test_bucket_policy_conditions_are_evaluated(admin, admin_arn):
    bucket = _uid("enf-cond")
    admin("s3").create_bucket(Bucket=bucket)
    admin("s3").put_object(Bucket=bucket, Key="k", Body=b"v")
    everything = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    admitted = make_role(admin, admin_arn, everything)
    outsider = make_role(admin, admin_arn, everything)
    admin("s3").put_bucket_policy(
        Bucket=bucket,
        Policy=_doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"StringNotLike": {"aws:PrincipalArn": [admitted, admin_arn]}},
            }
        ),
    )
    assert as_role(admin, admitted).client("s3").get_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as exc:
        as_role(admin, outsider).client("s3", config=NO_RETRY).get_object(Bucket=bucket, Key="k")
    assert _code(exc) == "AccessDenied"
    assert admin("s3").get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_s3_prefix_condition_limits_listing(admin, admin_arn):
    bucket = _uid("enf-prefix")
    admin("s3").create_bucket(Bucket=bucket)
    arn = make_role(
        admin,
        admin_arn,
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringLike": {"s3:prefix": "mine/*"}},
        },
    )
    s3 = as_role(admin, arn).client("s3", config=NO_RETRY)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="mine/x")["KeyCount"] == 0
    for prefix in ("theirs/", ""):
        with pytest.raises(ClientError) as exc:
            s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        assert _code(exc) == "AccessDenied"


def test_missing_bucket_is_no_such_bucket_before_authorization(admin, admin_arn):
    arn = make_role(admin, admin_arn)  # no rights at all
    s3 = as_role(admin, arn).client("s3", config=NO_RETRY)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=_uid("enf-missing"), Key="k")
    assert _code(exc) == "NoSuchBucket"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_step_functions_task_names_a_missing_bucket_like_aws(admin, admin_arn):
    trust = _doc(
        {
            "Effect": "Allow",
            "Principal": {"Service": "states.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    role = admin("iam").create_role(RoleName=_uid("enf-sfn"), AssumeRolePolicyDocument=trust)
    definition = {
        "StartAt": "Get",
        "States": {
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": _uid("enf-missing"), "Key": "k"},
                "End": True,
            }
        },
    }
    sfn = admin("stepfunctions")
    machine = sfn.create_state_machine(
        name=_uid("enf-sm"), definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 30
    while (desc := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert desc["status"] == "FAILED"
    assert desc["error"] == "S3.NoSuchBucketException"


@pytest.mark.parametrize("service", ["s3", "dynamodb", "sagemaker"])
def test_credentials_of_a_deleted_role_are_403_not_500(admin, admin_arn, service):
    bucket = _uid("enf-gone")
    admin("s3").create_bucket(Bucket=bucket)
    arn = make_role(admin, admin_arn, {"Effect": "Allow", "Action": "*", "Resource": "*"})
    session = as_role(admin, arn)
    name = arn.rsplit("/", 1)[1]
    admin("iam").delete_role_policy(RoleName=name, PolicyName="p")
    admin("iam").delete_role(RoleName=name)
    client = session.client(service, config=NO_RETRY)
    call = {
        "s3": lambda: client.get_object(Bucket=bucket, Key="k"),
        "dynamodb": lambda: client.list_tables(),
        "sagemaker": lambda: client.list_endpoints(),
    }[service]
    with pytest.raises(ClientError) as exc:
        call()
    assert _code(exc) in ("AccessDenied", "AccessDeniedException")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)


# --- DynamoDB, SageMaker, unmapped services: condition keys and resources -----------------


def test_dynamodb_leading_keys_limit_items_to_the_principal_tag(admin, admin_arn):
    table = _uid("enf-table")
    admin("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "tenant-name", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "tenant-name", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for tenant in ("acme", "globex"):
        admin("dynamodb").put_item(TableName=table, Item={"tenant-name": {"S": tenant}})
    arn = make_role(
        admin,
        admin_arn,
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}",
            "Condition": {
                "ForAllValues:StringEquals": {
                    "dynamodb:LeadingKeys": ["${aws:PrincipalTag/tenant-id}"]
                }
            },
        },
        tags={"tenant-id": "acme"},
    )
    ddb = as_role(admin, arn).client("dynamodb", config=NO_RETRY)
    assert ddb.get_item(TableName=table, Key={"tenant-name": {"S": "acme"}})["Item"]
    query = {
        "TableName": table,
        "KeyConditionExpression": "#n = :v",
        "ExpressionAttributeNames": {"#n": "tenant-name"},
    }
    assert ddb.query(**query, ExpressionAttributeValues={":v": {"S": "acme"}})["Count"] == 1
    for call in (
        lambda: ddb.get_item(TableName=table, Key={"tenant-name": {"S": "globex"}}),
        lambda: ddb.query(**query, ExpressionAttributeValues={":v": {"S": "globex"}}),
        lambda: ddb.update_item(
            TableName=table,
            Key={"tenant-name": {"S": "globex"}},
            UpdateExpression="SET x = :x",
            ExpressionAttributeValues={":x": {"S": "y"}},
        ),
        lambda: ddb.scan(TableName=table),  # not granted at all
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDeniedException"


@pytest.mark.slow
def test_sagemaker_resource_tags_and_target_model(admin, admin_arn):
    group = _uid("enf-group")
    admin("sagemaker").create_model_package_group(
        ModelPackageGroupName=group, Tags=[{"Key": "tenant-id", "Value": "acme"}]
    )
    other = _uid("enf-group")
    admin("sagemaker").create_model_package_group(
        ModelPackageGroupName=other, Tags=[{"Key": "tenant-id", "Value": "globex"}]
    )
    arn = make_role(
        admin,
        admin_arn,
        {
            "Effect": "Allow",
            "Action": "sagemaker:DescribeModelPackageGroup",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:ResourceTag/tenant-id": "${aws:PrincipalTag/tenant-id}"}
            },
        },
        {
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": "*",
            "Condition": {"StringLike": {"sagemaker:TargetModel": "acme/*"}},
        },
        tags={"tenant-id": "acme"},
    )
    session = as_role(admin, arn)
    sm = session.client("sagemaker", config=NO_RETRY)
    assert sm.describe_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError) as exc:
        sm.describe_model_package_group(ModelPackageGroupName=other)
    assert _code(exc) == "AccessDeniedException"
    runtime = session.client("sagemaker-runtime", config=NO_RETRY)
    invoke = {"EndpointName": _uid("enf-pool"), "Body": b"1,2", "ContentType": "text/csv"}
    with pytest.raises(ClientError) as exc:
        runtime.invoke_endpoint(**invoke, TargetModel="globex/model.tar.gz")
    assert _code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:  # authorized: the endpoint's absence is next
        runtime.invoke_endpoint(**invoke, TargetModel="acme/model.tar.gz")
    assert _code(exc) == "ValidationError"


def test_pass_role_is_checked_for_jobs_and_models(admin, admin_arn):
    target = make_role(admin, admin_arn)
    arn = make_role(
        admin, admin_arn, {"Effect": "Allow", "Action": "sagemaker:CreateModel", "Resource": "*"}
    )
    sm = as_role(admin, arn).client("sagemaker", config=NO_RETRY)
    with pytest.raises(ClientError) as exc:
        sm.create_model(
            ModelName=_uid("enf-model"),
            ExecutionRoleArn=target,
            PrimaryContainer={"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        )
    assert _code(exc) == "AccessDeniedException"
    assert "iam:PassRole" in exc.value.response["Error"]["Message"]


def test_unmapped_service_actions_need_a_grant_on_every_resource(admin, admin_arn):
    arn = make_role(admin, admin_arn, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    sqs = as_role(admin, arn).client("sqs", config=NO_RETRY)
    with pytest.raises(ClientError) as exc:
        sqs.list_queues()
    assert "AccessDenied" in _code(exc)
    admin("sqs").list_queues()


def test_explicit_deny_beats_allow_across_services(admin, admin_arn):
    arn = make_role(
        admin,
        admin_arn,
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["logs:*", "states:*"], "Resource": "*"},
    )
    session = as_role(admin, arn)
    session.client("sagemaker", config=NO_RETRY).list_endpoints()
    for call in (
        lambda: session.client("logs", config=NO_RETRY).describe_log_groups(),
        lambda: session.client("stepfunctions", config=NO_RETRY).list_state_machines(),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDeniedException"
        assert "explicit deny" in exc.value.response["Error"]["Message"]


# --- sagemaker-runtime: the payload contract ---------------------------------------------


def test_invoke_endpoint_body_limit_and_empty_body(admin):
    runtime = admin("sagemaker-runtime")
    name = _uid("enf-none")
    with pytest.raises(ClientError) as exc:
        runtime.invoke_endpoint(EndpointName=name, Body=b"x" * (7 * 1024 * 1024))
    assert _code(exc) == "ValidationError"
    assert "6291456" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:  # signed correctly: reaches the endpoint look-up
        runtime.invoke_endpoint(EndpointName=name, Body=b"")
    assert _code(exc) == "ValidationError"
    assert "not found" in exc.value.response["Error"]["Message"]
