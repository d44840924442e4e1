"""IAM SimulatePrincipalPolicy in localaws: identity policies evaluated as AWS's simulator does."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

NO_RETRY = BotoConfig(retries={"max_attempts": 1})
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


@pytest.fixture(scope="module")
def principal(localaws):
    """A role with an inline and an attached managed policy; a user with a group policy."""
    import boto3

    iam = boto3.Session(region_name="us-east-1").client("iam", config=NO_RETRY)
    suffix = uuid.uuid4().hex[:8]
    bucket = f"sim-{suffix}"
    role = iam.create_role(RoleName=f"sim-role-{suffix}", AssumeRolePolicyDocument=TRUST)["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="data",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"},
            {
                "Effect": "Deny",
                "Action": "s3:DeleteObject",
                "Resource": f"arn:aws:s3:::{bucket}/locked/*",
            },
            {
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}},
            },
        ),
    )
    managed = iam.create_policy(
        PolicyName=f"sim-logs-{suffix}",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": ["logs:Put*", "logs:CreateLogStream"], "Resource": "*"}
        ),
    )["Policy"]
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=managed["Arn"])
    user = iam.create_user(UserName=f"sim-user-{suffix}")["User"]
    iam.create_group(GroupName=f"sim-group-{suffix}")
    iam.add_user_to_group(GroupName=f"sim-group-{suffix}", UserName=user["UserName"])
    iam.put_group_policy(
        GroupName=f"sim-group-{suffix}",
        PolicyName="read",
        PolicyDocument=_doc({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}),
    )
    return {"iam": iam, "role": role, "user": user, "bucket": bucket, "managed": managed}


def _simulate(principal, arn: str, actions: list[str], resources: list[str] | None = None):
    params = {"PolicySourceArn": arn, "ActionNames": actions}
    if resources:
        params["ResourceArns"] = resources
    return principal["iam"].simulate_principal_policy(**params)["EvaluationResults"]


def test_allowed_by_inline_wildcard_action_with_statement_position(principal):
    key = f"arn:aws:s3:::{principal['bucket']}/data/raw/churn.csv"
    [result] = _simulate(principal, principal["role"]["Arn"], ["s3:PutObject"], [key])
    assert result["EvalActionName"] == "s3:PutObject"
    assert result["EvalResourceName"] == key
    assert result["EvalDecision"] == "allowed"
    [matched] = result["MatchedStatements"]
    assert matched["SourcePolicyId"] == "data"
    assert matched["SourcePolicyType"] == "role"
    # _doc indents: the first statement opens on line 4, column 5 of the document.
    assert matched["StartPosition"] == {"Line": 4, "Column": 5}
    assert matched["EndPosition"]["Line"] > 4


def test_implicit_deny_outside_the_resource_and_for_unlisted_actions(principal):
    other = "arn:aws:s3:::someone-elses-bucket/x"
    results = _simulate(
        principal, principal["role"]["Arn"], ["s3:GetObject", "sagemaker:CreateEndpoint"], [other]
    )
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in results] == [
        ("s3:GetObject", "implicitDeny"),
        ("sagemaker:CreateEndpoint", "implicitDeny"),
    ]
    assert all(r["MatchedStatements"] == [] for r in results)


def test_explicit_deny_wins_over_allow(principal):
    bucket = principal["bucket"]
    results = _simulate(
        principal,
        principal["role"]["Arn"],
        ["s3:DeleteObject"],
        [f"arn:aws:s3:::{bucket}/locked/a.csv", f"arn:aws:s3:::{bucket}/open/a.csv"],
    )
    assert [r["EvalDecision"] for r in results] == ["explicitDeny", "allowed"]
    assert results[0]["MatchedStatements"][0]["StartPosition"]["Line"] > 4


def test_attached_managed_policy_wildcards_and_default_resource(principal):
    results = _simulate(
        principal,
        principal["role"]["Arn"],
        ["logs:PutLogEvents", "LOGS:createlogstream", "logs:DeleteLogGroup"],
    )
    assert [r["EvalResourceName"] for r in results] == ["*"] * 3
    assert [r["EvalDecision"] for r in results] == ["allowed", "allowed", "implicitDeny"]
    matched = results[0]["MatchedStatements"][0]
    assert (matched["SourcePolicyId"], matched["SourcePolicyType"]) == (
        principal["managed"]["PolicyName"],
        "user-managed",
    )


def test_condition_statements_are_reported_missing_not_granted(principal):
    [result] = _simulate(principal, principal["role"]["Arn"], ["dynamodb:GetItem"])
    assert result["EvalDecision"] == "implicitDeny"
    assert result["MissingContextValues"] == ["aws:RequestedRegion"]


def test_user_gets_group_policy_with_not_action(principal):
    results = _simulate(principal, principal["user"]["Arn"], ["s3:GetObject", "iam:PassRole"])
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    assert results[0]["MatchedStatements"][0]["SourcePolicyType"] == "group"


def test_paginator_and_policy_input_list(principal):
    iam = principal["iam"]
    extra = _doc({"Effect": "Deny", "Action": "logs:*", "Resource": "*"})
    pages = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=principal["role"]["Arn"],
        PolicyInputList=[extra],
        ActionNames=["logs:PutLogEvents", "s3:GetObject", "logs:CreateLogStream"],
        PaginationConfig={"PageSize": 2},
    )
    results = [r for page in pages for r in page["EvaluationResults"]]
    assert [r["EvalDecision"] for r in results] == ["explicitDeny", "implicitDeny", "explicitDeny"]
    assert results[0]["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"


@pytest.mark.parametrize("kind", ["role", "user"])
def test_unknown_principal_is_no_such_entity(principal, kind):
    arn = f"arn:aws:iam::{principal['role']['Arn'].split(':')[4]}:{kind}/nobody-{kind}"
    with pytest.raises(ClientError) as error:
        _simulate(principal, arn, ["s3:GetObject"])
    assert error.value.response["Error"]["Code"] == "NoSuchEntity"
    assert f"nobody-{kind}" in error.value.response["Error"]["Message"]
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_not_an_iam_principal_arn_is_invalid_input(principal):
    with pytest.raises(ClientError) as error:
        _simulate(principal, "arn:aws:s3:::a-bucket", ["s3:GetObject"])
    assert error.value.response["Error"]["Code"] == "InvalidInput"
