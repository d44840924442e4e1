"""The tenant isolation matrix: tenant A's role against tenant B's resources, every action class.

Both tenants are onboarded by the create state machine (so their role, bucket and bucket
policy are the product's own); each gets data, a registered model version and a dedicated
endpoint serving a tiny XGBoost model. For every row, A's role (STS AssumeRole by the admin)
is refused on B's resource by localaws AND by SimulatePrincipalPolicy, and allowed on its
own resource exactly where the product needs it (`own` column). docs/tenants.md shows the
same table. (Over 400 lines: the matrix is one table of rows, kept in one place.)
"""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from helpers import stack, tenants
from helpers.naming import endpoint_name, model_package_group
from helpers.session import connect

# two tenants trained and deployed, then every action class twice
pytestmark = pytest.mark.slow

NO_RETRY = BotoConfig(retries={"max_attempts": 1})
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
DENIED = {"AccessDenied", "AccessDeniedException"}
DEPLOYMENT_SUFFIX = "-v1-20260101000000"
ARTIFACT_KEY = "pipeline/model/model.tar.gz"


def _model_artifact() -> bytes:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(100, 4))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)),
        4,
    )
    data = bytes(booster.save_raw(raw_format="ubj"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _onboard(session, tenant: str, artifact: bytes) -> dict[str, Any]:
    """Create the tenant, then (as the admin, as the product does) data, a model version, an
    endpoint with its deployment model/config tagged `tenant-id`, and its endpoint log."""
    item = tenants.create_tenant(session, tenant, progress=False)["item"]
    tenants.upload_tenant_data(session, tenant, rows=200)
    bucket, role = item["tenant-bucket"], item["tenant-role"]
    s3, sm, logs = (session.client(n) for n in ("s3", "sagemaker", "logs"))
    s3.put_object(Bucket=bucket, Key=ARTIFACT_KEY, Body=artifact)
    artifact_url = f"s3://{bucket}/{ARTIFACT_KEY}"
    package = sm.create_model_package(
        ModelPackageGroupName=model_package_group(tenant),
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": artifact_url}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    endpoint = endpoint_name(tenant)
    deployment = endpoint + DEPLOYMENT_SUFFIX
    tags = [{"Key": "tenant-id", "Value": tenant}]
    sm.create_model(
        ModelName=deployment,
        ExecutionRoleArn=role,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": artifact_url},
        Tags=tags,
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": deployment,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sm.create_endpoint_config(
        EndpointConfigName=deployment, ProductionVariants=[variant], Tags=tags
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=deployment, Tags=tags)
    log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
    for call in (
        lambda: logs.create_log_group(logGroupName=log_group),
        lambda: logs.create_log_stream(logGroupName=log_group, logStreamName="AllTraffic/i-1"),
    ):
        try:
            call()
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ResourceAlreadyExistsException"
    return {
        "tenant": tenant,
        "item": item,
        "bucket": bucket,
        "role": role,
        "group": model_package_group(tenant),
        "package": package,
        "endpoint": endpoint,
        "deployment": deployment,
        "log_group": log_group,
    }


def _wait_in_service(sm, name: str) -> None:
    deadline = time.monotonic() + 60
    while (status := sm.describe_endpoint(EndpointName=name)["EndpointStatus"]) != "InService":
        assert status in ("Creating", "Updating") and time.monotonic() < deadline, status
        time.sleep(0.05)


@pytest.fixture(scope="module")
def world(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    outputs = stack.stack_outputs(session)
    artifact = _model_artifact()
    suffix = uuid.uuid4().hex[:6]
    a = _onboard(session, f"iso-a-{suffix}", artifact)
    b = _onboard(session, f"iso-b-{suffix}", artifact)
    for tenant in (a, b):
        _wait_in_service(session.client("sagemaker"), tenant["endpoint"])
    creds = session.client("sts").assume_role(RoleArn=a["role"], RoleSessionName="matrix")
    creds = creds["Credentials"]
    as_a = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=session.region,
    )
    yield {
        "session": session,
        "outputs": outputs,
        "a": a,
        "b": b,
        "client": lambda name: as_a.client(name, config=NO_RETRY),
    }
    for tenant in (a, b):
        tenants.delete_tenant(session, tenant["tenant"], progress=False)


def _arn(world, service: str, resource: str) -> str:
    session = world["session"]
    region = "" if service in ("s3", "iam") else session.region
    account = "" if service == "s3" else session.account_id
    return f"arn:aws:{service}:{region}:{account}:{resource}"


@dataclass(frozen=True)
class Row:
    """One action class: the call A makes on tenant `t`, the IAM action and resource it needs,
    the condition keys the simulator is given, and whether A may do it on its own resource."""

    kind: str
    action: str
    call: Callable[[Any, dict], Any]
    resource: Callable[[Any, dict], str]
    own: bool
    context: Callable[[dict], dict[str, list[str]]] = lambda t: {}


def _table(world) -> str:
    return world["outputs"]["TenantTableName"]


def _key(t: dict) -> dict:
    return {"tenant-name": {"S": t["tenant"]}}


ROWS = [
    Row(
        "data read",
        "s3:GetObject",
        lambda w, t: w["client"]("s3").get_object(Bucket=t["bucket"], Key="data/raw/churn.csv"),
        lambda w, t: f"arn:aws:s3:::{t['bucket']}/data/raw/churn.csv",
        own=True,
    ),
    Row(
        "data write",
        "s3:PutObject",
        lambda w, t: w["client"]("s3").put_object(Bucket=t["bucket"], Key="data/x.csv", Body=b"1"),
        lambda w, t: f"arn:aws:s3:::{t['bucket']}/data/x.csv",
        own=True,
    ),
    Row(
        "data list",
        "s3:ListBucket",
        lambda w, t: w["client"]("s3").list_objects_v2(Bucket=t["bucket"], Prefix="data/"),
        lambda w, t: f"arn:aws:s3:::{t['bucket']}",
        own=True,
        context=lambda t: {"s3:prefix": ["data/"]},
    ),
    Row(
        "data delete",
        "s3:DeleteObject",
        lambda w, t: w["client"]("s3").delete_object(Bucket=t["bucket"], Key="data/x.csv"),
        lambda w, t: f"arn:aws:s3:::{t['bucket']}/data/x.csv",
        own=True,
    ),
    Row(
        "model artifact read",
        "s3:GetObject",
        lambda w, t: w["client"]("s3").get_object(Bucket=t["bucket"], Key=ARTIFACT_KEY),
        lambda w, t: f"arn:aws:s3:::{t['bucket']}/{ARTIFACT_KEY}",
        own=True,
    ),
    Row(
        "registry read (group)",
        "sagemaker:DescribeModelPackageGroup",
        lambda w, t: w["client"]("sagemaker").describe_model_package_group(
            ModelPackageGroupName=t["group"]
        ),
        lambda w, t: _arn(w, "sagemaker", f"model-package-group/{t['group']}"),
        own=True,
    ),
    Row(
        "registry read (version)",
        "sagemaker:DescribeModelPackage",
        lambda w, t: w["client"]("sagemaker").describe_model_package(ModelPackageName=t["package"]),
        lambda w, t: t["package"],
        own=True,
    ),
    Row(
        "registry approval",
        "sagemaker:UpdateModelPackage",
        lambda w, t: w["client"]("sagemaker").update_model_package(
            ModelPackageArn=t["package"],
            ModelApprovalStatus="Rejected",
            ApprovalDescription="set by another tenant",
        ),
        lambda w, t: t["package"],
        own=False,  # approval is the platform admins' decision, not the tenant workload's
    ),
    Row(
        "endpoint describe",
        "sagemaker:DescribeEndpoint",
        lambda w, t: w["client"]("sagemaker").describe_endpoint(EndpointName=t["endpoint"]),
        lambda w, t: _arn(w, "sagemaker", f"endpoint/{t['endpoint']}"),
        own=True,
    ),
    Row(
        "endpoint invoke",
        "sagemaker:InvokeEndpoint",
        lambda w, t: w["client"]("sagemaker-runtime").invoke_endpoint(
            EndpointName=t["endpoint"], Body=b"1,1,0,0", ContentType="text/csv"
        ),
        lambda w, t: _arn(w, "sagemaker", f"endpoint/{t['endpoint']}"),
        own=True,
    ),
    Row(
        "endpoint update",
        "sagemaker:UpdateEndpoint",
        lambda w, t: w["client"]("sagemaker").update_endpoint(
            EndpointName=t["endpoint"], EndpointConfigName=t["deployment"]
        ),
        lambda w, t: _arn(w, "sagemaker", f"endpoint/{t['endpoint']}"),
        own=False,  # deployments go through the deploy state machine
    ),
    Row(
        "deployment model describe",
        "sagemaker:DescribeModel",
        lambda w, t: w["client"]("sagemaker").describe_model(ModelName=t["deployment"]),
        lambda w, t: _arn(w, "sagemaker", f"model/{t['deployment']}"),
        own=True,
        context=lambda t: {"aws:ResourceTag/tenant-id": [t["tenant"]]},
    ),
    Row(
        "table item read",
        "dynamodb:GetItem",
        lambda w, t: w["client"]("dynamodb").get_item(TableName=_table(w), Key=_key(t)),
        lambda w, t: _arn(w, "dynamodb", f"table/{_table(w)}"),
        own=False,  # the platform (state machines, admins) reads the tenant table
        context=lambda t: {"dynamodb:LeadingKeys": [t["tenant"]]},
    ),
    Row(
        "table item write",
        "dynamodb:UpdateItem",
        lambda w, t: w["client"]("dynamodb").update_item(
            TableName=_table(w),
            Key=_key(t),
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "tenant-status"},
            ExpressionAttributeValues={":s": {"S": "HIJACKED"}},
        ),
        lambda w, t: _arn(w, "dynamodb", f"table/{_table(w)}"),
        own=False,
        context=lambda t: {"dynamodb:LeadingKeys": [t["tenant"]]},
    ),
    Row(
        "table scan",
        "dynamodb:Scan",
        lambda w, t: w["client"]("dynamodb").scan(TableName=_table(w)),
        lambda w, t: _arn(w, "dynamodb", f"table/{_table(w)}"),
        own=False,
    ),
    Row(
        "state machine start (deploy)",
        "states:StartExecution",
        lambda w, t: w["client"]("stepfunctions").start_execution(
            stateMachineArn=w["outputs"]["DeployTenantStateMachineArn"],
            input=f'{{"tenant": {{"name": "{t["tenant"]}"}}}}',
        ),
        lambda w, t: w["outputs"]["DeployTenantStateMachineArn"],
        own=False,  # platform admins start the tenant state machines
    ),
    Row(
        "pipeline start",
        "sagemaker:StartPipelineExecution",
        lambda w, t: w["client"]("sagemaker").start_pipeline_execution(
            PipelineName="sm-multitenant-model-build-pipeline",
            PipelineParameters=[{"Name": "TenantId", "Value": t["tenant"]}],
        ),
        lambda w, t: _arn(w, "sagemaker", "pipeline/sm-multitenant-model-build-pipeline"),
        own=False,  # see docs/tenants.md, "Pipeline trust boundary"
    ),
    Row(
        "logs write (endpoint log)",
        "logs:PutLogEvents",
        lambda w, t: w["client"]("logs").put_log_events(
            logGroupName=t["log_group"],
            logStreamName="AllTraffic/i-1",
            logEvents=[{"timestamp": int(time.time() * 1000), "message": "from A"}],
        ),
        lambda w, t: _arn(w, "logs", f"log-group:{t['log_group']}:log-stream:AllTraffic/i-1"),
        own=True,
    ),
    Row(
        "logs read (endpoint log)",
        "logs:GetLogEvents",
        lambda w, t: w["client"]("logs").get_log_events(
            logGroupName=t["log_group"], logStreamName="AllTraffic/i-1"
        ),
        lambda w, t: _arn(w, "logs", f"log-group:{t['log_group']}:log-stream:AllTraffic/i-1"),
        own=False,  # admins read logs
    ),
]


def _simulate(world, row: Row, target: dict) -> str:
    context = [
        {
            "ContextKeyName": key,
            "ContextKeyValues": values,
            "ContextKeyType": "stringList" if len(values) > 1 or key.endswith("Keys") else "string",
        }
        for key, values in row.context(target).items()
    ]
    result = (
        world["session"]
        .client("iam")
        .simulate_principal_policy(
            PolicySourceArn=world["a"]["role"],
            ActionNames=[row.action],
            ResourceArns=[row.resource(world, target)],
            ContextEntries=context,
        )
    )
    return result["EvaluationResults"][0]["EvalDecision"]


def _attempt(world, row: Row, target: dict) -> str | None:
    """None if the call went through, else its error code."""
    try:
        row.call(world, target)
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return None


@pytest.mark.parametrize("row", ROWS, ids=[r.kind for r in ROWS])
def test_a_is_denied_on_b(world, row):
    assert _attempt(world, row, world["b"]) in DENIED
    assert _simulate(world, row, world["b"]) != "allowed"


@pytest.mark.parametrize("row", ROWS, ids=[r.kind for r in ROWS])
def test_a_on_its_own_resources(world, row):
    code = _attempt(world, row, world["a"])
    decision = _simulate(world, row, world["a"])
    if row.own:
        assert code is None, f"{row.kind}: {code}"
        assert decision == "allowed"
    else:
        assert code in DENIED
        assert decision != "allowed"


def test_b_is_unchanged_after_the_attempts(world):
    session, b = world["session"], world["b"]
    package = session.client("sagemaker").describe_model_package(ModelPackageName=b["package"])
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert "ApprovalDescription" not in package
    item = session.client("dynamodb").get_item(TableName=_table(world), Key=_key(b))["Item"]
    assert item["tenant-status"]["S"] == "ACTIVE"
    s3 = session.client("s3")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=b["bucket"], Key="data/x.csv")
    assert s3.get_object(Bucket=b["bucket"], Key="data/raw/churn.csv")["Body"].read()


def test_a_deployment_name_prefix_does_not_reach_another_tenant(world):
    """`mt-acme-v*` also matches tenant `acme-v2`'s models: the tenant-id tag condition is
    what keeps tenant A off a tenant whose id extends A's with `-v...`."""
    session, a = world["session"], world["a"]
    lookalike = f"{a['endpoint']}-vx{DEPLOYMENT_SUFFIX}"  # a model of tenant "<a>-vx"
    session.client("sagemaker").create_model(
        ModelName=lookalike,
        ExecutionRoleArn=world["b"]["role"],
        PrimaryContainer={"Image": XGB_IMAGE},
        Tags=[{"Key": "tenant-id", "Value": f"{a['tenant']}-vx"}],
    )
    try:
        with pytest.raises(ClientError) as exc:
            world["client"]("sagemaker").describe_model(ModelName=lookalike)
        assert exc.value.response["Error"]["Code"] in DENIED
    finally:
        session.client("sagemaker").delete_model(ModelName=lookalike)


def test_empty_invocation_reaches_the_model(world):
    runtime = world["client"]("sagemaker-runtime")
    try:
        runtime.invoke_endpoint(
            EndpointName=world["a"]["endpoint"], Body=b"", ContentType="text/csv"
        )
    except ClientError as exc:  # the model may refuse an empty body; the signature is fine
        assert exc.response["Error"]["Code"] == "ModelError"
