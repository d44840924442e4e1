"""Tenant lifecycle on localaws: the stack and the create / delete state machines for real."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from tenant_checks import new_id, nothing_left

from helpers import stack, tenants
from helpers.naming import (
    InvalidTenantId,
    model_package_group,
    tenant_bucket,
    tenant_role_name,
)
from helpers.session import connect

NO_RETRY = BotoConfig(retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


def test_deploy_is_idempotent(session):
    outputs = stack.deploy_stack(session)
    assert outputs == stack.stack_outputs(session)
    assert outputs["TenantTableName"] == "allTenants"
    assert outputs["CreateTenantStateMachineArn"].endswith(
        ":stateMachine:sm-multitenant-create-tenant-statemachine"
    )


@pytest.mark.slow
def test_create_describe_delete(session):
    tenant = new_id("life")
    description = tenants.create_tenant(session, tenant, progress=False)
    item, bucket = description["item"], description["bucket"]
    assert bucket["name"] == tenant_bucket(tenant, session.account_id, session.region)
    assert item["tenant-status"] == "ACTIVE" and item["tenant-bucket"] == bucket["name"]
    assert item["tenant-modelregistry"] == model_package_group(tenant)
    assert item["tenant-role"].endswith(f":role/{tenant_role_name(tenant)}")
    assert item["tenant-created"].startswith("20")
    assert bucket["encryption"] == "AES256" and bucket["public_access_blocked"]
    assert bucket["versioning"] == "Enabled" and bucket["tags"] == {"tenant-id": tenant}
    assert description["model_package_group"]["name"] == model_package_group(tenant)

    iam, sm, s3 = (session.client(n) for n in ("iam", "sagemaker", "s3"))
    role = iam.get_role(RoleName=tenant_role_name(tenant))["Role"]
    assert {"Key": "tenant-id", "Value": tenant} in role["Tags"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert {"Service": "sagemaker.amazonaws.com"} in [s["Principal"] for s in trust["Statement"]]
    group_arn = description["model_package_group"]["arn"]
    assert {"Key": "tenant-id", "Value": tenant} in sm.list_tags(ResourceArn=group_arn)["Tags"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket["name"])["Policy"])
    admitted = policy["Statement"][0]["Condition"]["StringNotLike"]["aws:PrincipalArn"]
    assert item["tenant-role"] in admitted

    # Data, with several versions and a delete marker: delete must remove them all.
    tenants.upload_tenant_data(session, tenant, rows=300)
    tenants.upload_tenant_data(session, tenant, rows=320)
    s3.put_object(Bucket=bucket["name"], Key="pipeline/x/out.csv", Body=b"1")
    s3.delete_object(Bucket=bucket["name"], Key="pipeline/x/out.csv")
    execution = tenants.delete_tenant(session, tenant, progress=False)
    assert execution.status == "SUCCEEDED" and "DeleteBucket" in execution.states
    assert nothing_left(session, tenant)


@pytest.mark.slow
def test_duplicate_create_fails_and_changes_nothing(session):
    tenant = new_id("dup")
    first = tenants.create_tenant(session, tenant, progress=False)["item"]
    with pytest.raises(tenants.TenantExists, match="already exists"):
        tenants.create_tenant(session, tenant, progress=False)
    # The state machine refuses on its own too (atomically, through a conditional put).
    execution = tenants.run_state_machine(
        session, "create", {"tenant": {"name": tenant}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "TenantAlreadyExists")
    assert tenants.get_tenant_item(session, tenant) == first
    tenants.describe_tenant(session, tenant)  # bucket, group still there
    tenants.delete_tenant(session, tenant, progress=False)


@pytest.mark.parametrize("name", ["9lives", "-abc", "abc-", "ab--cd", "Abc", "ab_c", "a.bc", ""])
def test_state_machine_rejects_invalid_names(session, name):
    with pytest.raises(InvalidTenantId):
        tenants.create_tenant(session, name, progress=False)
    execution = tenants.run_state_machine(
        session, "create", {"tenant": {"name": name}}, progress=False
    )
    assert (execution.status, execution.error) == ("FAILED", "InvalidTenantName")
    assert "ReserveTenant" not in execution.states
    assert tenants.get_tenant_item(session, name or "none") is None


@pytest.mark.parametrize("payload", [{}, {"tenant": {}}, {"tenant": {"name": 42}}])
def test_state_machines_reject_malformed_input(session, payload):
    for kind in ("create", "delete"):
        execution = tenants.run_state_machine(session, kind, payload, progress=False)
        assert (execution.status, execution.error) == ("FAILED", "InvalidTenantName")


def test_helpers_check_the_length_the_state_machine_cannot(session):
    for name in ("ab", "a" * 25):
        with pytest.raises(InvalidTenantId, match="3-24 characters"):
            tenants.create_tenant(session, name, progress=False)


@pytest.mark.slow
def test_unknown_tenant_delete_fails_clearly_and_changes_nothing(session):
    other = new_id("keep")
    tenants.create_tenant(session, other, progress=False)
    before = tenants.list_tenants(session)
    with pytest.raises(tenants.TenantNotFound, match="TenantNotFound"):
        tenants.delete_tenant(session, new_id("ghost"), progress=False)
    assert tenants.list_tenants(session).equals(before)
    tenants.describe_tenant(session, other)
    tenants.delete_tenant(session, other, progress=False)


def _role_session(session, role_arn: str) -> boto3.Session:
    creds = session.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="isolation-test")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region,
    )


@pytest.mark.slow
def test_tenant_role_reaches_only_its_own_bucket(session):
    a, b = new_id("iso-a"), new_id("iso-b")
    item_a = tenants.create_tenant(session, a, progress=False)["item"]
    item_b = tenants.create_tenant(session, b, progress=False)["item"]
    tenants.upload_tenant_data(session, b, rows=300)
    s3 = _role_session(session, item_a["tenant-role"]).client("s3", config=NO_RETRY)
    own, other = item_a["tenant-bucket"], item_b["tenant-bucket"]

    s3.put_object(Bucket=own, Key="data/raw/churn.csv", Body=b"mine")
    assert s3.get_object(Bucket=own, Key="data/raw/churn.csv")["Body"].read() == b"mine"
    assert s3.list_objects_v2(Bucket=own)["KeyCount"] == 1
    for call in (
        lambda: s3.get_object(Bucket=other, Key="data/raw/churn.csv"),
        lambda: s3.put_object(Bucket=other, Key="data/raw/churn.csv", Body=b"x"),
        lambda: s3.list_objects_v2(Bucket=other),
        lambda: s3.delete_object(Bucket=other, Key="data/raw/churn.csv"),
    ):
        with pytest.raises(ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "AccessDenied"
    body = session.client("s3").get_object(Bucket=other, Key="data/raw/churn.csv")["Body"].read()
    assert body.startswith(b"State,")
    for tenant in (a, b):
        tenants.delete_tenant(session, tenant, progress=False)


@pytest.mark.slow
def test_create_failing_midway_leaves_nothing(session):
    """An orphan model package group of the same name makes the create fail late."""
    tenant = new_id("half")
    sm = session.client("sagemaker")
    sm.create_model_package_group(
        ModelPackageGroupName=model_package_group(tenant),
        Tags=[{"Key": "owner", "Value": "someone-else"}],
    )
    execution = tenants.run_state_machine(
        session, "create", {"tenant": {"name": tenant}}, progress=False
    )
    assert execution.status == "FAILED"
    assert {"CreateRole", "PutBucketPolicy", "UndoRole", "UndoBucket", "UndoItem"} <= set(
        execution.states
    )
    left = tenants.tenant_leftovers(session, tenant)
    assert left.pop("model package group") == [model_package_group(tenant)]  # not ours: kept
    assert not any(left.values()), left
    sm.delete_model_package_group(ModelPackageGroupName=model_package_group(tenant))


@pytest.mark.slow
def test_create_failing_at_the_role_keeps_the_foreign_role(session):
    tenant = new_id("orphan")
    iam = session.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
            }
        ],
    }
    iam.create_role(RoleName=tenant_role_name(tenant), AssumeRolePolicyDocument=json.dumps(trust))
    with pytest.raises(tenants.TenantError) as err:
        tenants.create_tenant(session, tenant, progress=False)
    assert "EntityAlreadyExists" in err.value.error + err.value.cause
    left = tenants.tenant_leftovers(session, tenant)
    assert left.pop("role") == [tenant_role_name(tenant)]
    assert not any(left.values()), left
    iam.delete_role(RoleName=tenant_role_name(tenant))


@pytest.mark.slow
def test_delete_removes_deployments_by_name_and_tag_only(session):
    """Tenant x and x-2 side by side: deleting x leaves every resource of x-2 alone."""
    x = new_id("look")
    x2 = f"{x}-2"
    for tenant in (x, x2):
        tenants.create_tenant(session, tenant, progress=False)
    sm = session.client("sagemaker")
    role = tenants.get_tenant_item(session, x)["tenant-role"]
    container = {
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "ModelDataUrl": f"s3://{tenant_bucket(x, session.account_id, session.region)}/model.tar.gz",
    }

    def model(name: str, owner: str) -> None:
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            PrimaryContainer=container,
            Tags=[{"Key": "tenant-id", "Value": owner}],
        )
        sm.create_endpoint_config(
            EndpointConfigName=name,
            Tags=[{"Key": "tenant-id", "Value": owner}],
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": name,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
        )

    model(f"mt-{x}-v1-20260101000000", x)
    model(f"mt-{x}-v2-20260102000000", x)
    model(f"mt-{x2}-v1-20260101000000", x2)
    model(f"mt-{x}-v9-20260109000000", x2)  # looks like x's, but tenant x-2 owns it
    for tenant in (x, x2):  # endpoints whose model cannot load: they fail, and must still go
        sm.create_endpoint(
            EndpointName=f"mt-{tenant}",
            EndpointConfigName=f"mt-{tenant}-v1-20260101000000",
            Tags=[{"Key": "tenant-id", "Value": tenant}],
        )
    for tenant in (x, x2):
        sm.create_model_package(
            ModelPackageGroupName=model_package_group(tenant),
            InferenceSpecification={
                "Containers": [container],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )
    tenants.delete_tenant(session, x, progress=False)

    assert nothing_left(session, x)
    assert [e["EndpointName"] for e in sm.list_endpoints(NameContains=f"mt-{x}")["Endpoints"]] == [
        f"mt-{x2}"
    ]
    survivors = {m["ModelName"] for m in sm.list_models(NameContains=f"mt-{x}")["Models"]}
    assert survivors == {f"mt-{x2}-v1-20260101000000", f"mt-{x}-v9-20260109000000"}
    configs = {
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs(NameContains=f"mt-{x}")["EndpointConfigs"]
    }
    assert configs == survivors
    left = tenants.tenant_leftovers(session, x2)
    assert len(left["model packages"]) == 1 and left["bucket"] and left["role"]
    tenants.delete_tenant(session, x2, progress=False)
    assert nothing_left(session, x2)
    # x-2's look-alike named after x is found by neither name pattern: removed by hand.
    lookalike = f"mt-{x}-v9-20260109000000"
    remaining = {m["ModelName"] for m in sm.list_models(NameContains=f"mt-{x}")["Models"]}
    assert remaining == {lookalike}
    sm.delete_endpoint_config(EndpointConfigName=lookalike)
    sm.delete_model(ModelName=lookalike)


@pytest.fixture
def private_localaws(tmp_path):
    """A localaws of its own (stack deletion must not disturb the shared server's stack)."""
    from localaws.ephemeral import running

    with running(tmp_path / "state") as config:
        yield config


@pytest.mark.slow
def test_stack_delete_refuses_while_tenants_remain(private_localaws):
    session = connect("local")
    outputs = stack.deploy_stack(session)
    tenant = new_id("stk")
    tenants.create_tenant(session, tenant, progress=False)
    with pytest.raises(stack.StackError, match=f"still has 1 tenant.*{tenant}"):
        stack.delete_stack(session)
    assert stack.stack_outputs(session) == outputs
    tenants.delete_tenant(session, tenant, progress=False)
    assert stack.delete_stack(session) is True
    assert stack.delete_stack(session) is False
    sfn = session.client("stepfunctions")
    assert not [
        m
        for m in sfn.list_state_machines()["stateMachines"]
        if m["name"].startswith("sm-multitenant-")
    ]
    with pytest.raises(ClientError):
        session.client("dynamodb").describe_table(TableName="allTenants")
    with pytest.raises(stack.StackError, match="not found"):
        stack.stack_outputs(session)
    assert stack.deploy_stack(session).keys() == outputs.keys()  # and back again


@pytest.mark.slow
def test_extra_input_fields_are_accepted(session):
    tenant = new_id("extra")
    payload = {
        "tenant": {"name": tenant, "tags": [{"Key": "tier", "Value": "gold"}]},
        "requestedBy": "test",
    }
    execution = tenants.run_state_machine(session, "create", payload, progress=False)
    assert execution.status == "SUCCEEDED", execution
    assert execution.output["tenant"] == tenant and execution.output["status"] == "ACTIVE"
    item = tenants.get_tenant_item(session, tenant)
    assert {
        "tenant-name",
        "tenant-bucket",
        "tenant-modelregistry",
        "tenant-role",
        "tenant-status",
        "tenant-created",
    } <= set(item)
    execution = tenants.run_state_machine(session, "delete", payload, progress=False)
    assert execution.status == "SUCCEEDED" and nothing_left(session, tenant)
