"""Approval and the deploy state machine on localaws, with real registered model versions.

Each version is built as the pipeline builds it (preprocess -> train with the project's job code
on the tenant's generated data, model.tar.gz with code/inference.py, test split and evaluation
report under pipeline/{execution}/ in the tenant bucket) and registered in the tenant's group.
The module runs its own localaws whose endpoints take a second to create, update and delete, so
every deploy here goes through AWS's asynchronous endpoint states.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from tenant_checks import after_second, slow_endpoints

from helpers import approval, deploy, executions, registry
from helpers.data import generate_churn
from helpers.naming import arn, is_deployment_of, model_package_group, tenant_bucket
from helpers.session import AwsSession, connect
from helpers.stack import deploy_stack
from pipeline_steps import preprocess, train
from pipeline_steps.churn_schema import INPUT_COLUMNS

# real pipelines, deploys with asynchronous endpoints
pytestmark = pytest.mark.slow

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def run_state_machine(session: AwsSession, kind: str, payload: dict, timeout: float = 60) -> dict:
    """Run the `kind` state machine to its end; its DescribeExecution answer."""
    sfn = session.client("stepfunctions")
    arn = executions.state_machine_arn(session, kind)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + timeout
    while (desc := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return desc


def create_tenant(session, name: str) -> None:
    desc = run_state_machine(session, "create", {"tenant": {"name": name}})
    assert desc["status"] == "SUCCEEDED", desc.get("cause")


def tar_dir(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(folder)))
    return buf.getvalue()


def register_version(
    session, tenant: str, workdir: Path, num_round: int = 10, broken: bool = False
) -> tuple[str, xgb.Booster]:
    """Build and register one model version as the pipeline does; returns (ARN, booster)."""
    execution = uuid.uuid4().hex[:12]
    run_dir = workdir / execution
    (run_dir / "input").mkdir(parents=True)
    generate_churn(tenant, rows=600).to_csv(run_dir / "input" / "churn.csv", index=False)
    preprocess.run(run_dir / "input", run_dir / "out")
    booster = train.train(run_dir / "out" / "train", run_dir / "model", {"num_round": num_round})
    bucket = tenant_bucket(tenant, session.account_id, session.region)
    s3 = session.client("s3")
    prefix = f"pipeline/{execution}"
    model_key = f"{prefix}/model/mt-train-{execution}/output/model.tar.gz"
    s3.put_object(
        Bucket=bucket, Key=model_key, Body=b"corrupt" if broken else tar_dir(run_dir / "model")
    )
    for name in ("test/test.csv", "test/sample.json", "train/preprocessing.json"):
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}/{name}", Body=(run_dir / "out" / name).read_bytes()
        )
    report = {"binary_classification_metrics": {"accuracy": {"value": 0.9}, "auc": {"value": 0.8}}}
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}/evaluation/evaluation.json", Body=json.dumps(report).encode()
    )
    arn = session.client("sagemaker").create_model_package(
        ModelPackageGroupName=model_package_group(tenant),
        InferenceSpecification={
            "Containers": [
                {
                    "Image": XGB_IMAGE,
                    "ModelDataUrl": f"s3://{bucket}/{model_key}",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["text/csv", "application/json"],
        },
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{bucket}/{prefix}/evaluation/evaluation.json",
                }
            }
        },
        CustomerMetadataProperties={
            "tenant-id": tenant,
            "input-schema": f"s3://{bucket}/{prefix}/train/preprocessing.json",
        },
    )["ModelPackageArn"]
    return arn, booster


def preprocessed(session, tenant: str, n: int) -> np.ndarray:
    """The first `n` feature vectors of the deployed version's preprocessed test split: what the
    raw records of `deploy.sample_rows` become (Preprocess keeps them in the same order)."""
    item = deploy.tenant_item(session, tenant)
    package = session.client("sagemaker").describe_model_package(
        ModelPackageName=item["tenant-deployed-version"]
    )
    execution = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].split("/")[-3]
    body = session.client("s3").get_object(
        Bucket=item["tenant-bucket"], Key=f"pipeline/{execution}/test/test.csv"
    )["Body"]
    frame = pd.read_csv(io.BytesIO(body.read()), header=None, nrows=n)
    return frame.iloc[:, 1:].to_numpy(dtype=np.float32)


@pytest.fixture(scope="module")
def localaws(tmp_path_factory):
    """This module's own localaws, endpoints asynchronous for 1 s (overrides conftest's)."""
    with slow_endpoints(tmp_path_factory.mktemp("deploy-localaws")) as config:
        yield config


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    deploy_stack(session)
    return session


@pytest.fixture(scope="module")
def deployed(session, tmp_path_factory):
    """A tenant with version 1 approved and deployed."""
    name = f"dep-{uuid.uuid4().hex[:6]}"
    create_tenant(session, name)
    arn, booster = register_version(session, name, tmp_path_factory.mktemp(name), num_round=5)
    approval.approve(session, name, 1, "first model")
    result = deploy.deploy(session, name, progress=False)
    return {
        "name": name,
        "v1": arn,
        "booster1": booster,
        "first": result,
        "workdir": tmp_path_factory.mktemp(f"{name}-more"),
    }


def test_deploy_latest_approved_serves_it_and_records_it(session, deployed):
    name, result = deployed["name"], deployed["first"]
    assert result.model_package_arn == deployed["v1"] and result.version == 1
    assert result.endpoint == f"mt-{name}"
    assert is_deployment_of(result.endpoint_config, name)
    assert result.endpoint_config.startswith(f"mt-{name}-v1-")
    assert 0.0 <= result.test_prediction <= 1.0

    item = deploy.tenant_item(session, name)
    assert item["tenant-endpoint"] == f"mt-{name}"
    assert item["tenant-deployed-version"] == deployed["v1"]
    assert item["tenant-status"] == "DEPLOYED" and item["tenant-deployed-at"]

    status = deploy.endpoint_status(session, name)
    assert status["EndpointStatus"] == "InService"
    assert status["ModelPackage"] == deployed["v1"]
    sm = session.client("sagemaker")
    model = sm.describe_model(ModelName=status["ModelName"])
    assert model["ExecutionRoleArn"].endswith(f":role/mt-tenant-{name}")
    tags = sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]
    assert {"Key": "tenant-id", "Value": name} in tags

    labels, records = deploy.sample_rows(session, name, n=5)
    assert list(records.columns) == INPUT_COLUMNS and len(records) == 5
    predictions = deploy.invoke(session, name, records)
    expected = deployed["booster1"].predict(xgb.DMatrix(preprocessed(session, name, 5)))
    np.testing.assert_allclose(predictions, expected, rtol=1e-4)
    assert len(labels) == 5


def test_versions_list_with_metrics_and_status(session, deployed):
    table = approval.versions_table(session, deployed["name"])
    assert table.loc[1, "status"] == "Approved"
    assert table.loc[1, "comment"] == "first model"
    assert table.loc[1, "accuracy"] == pytest.approx(0.9)


def test_redeploy_v2_then_rollback_to_v1(session, deployed):
    name = deployed["name"]
    v2, booster2 = register_version(session, name, deployed["workdir"], num_round=30)
    with pytest.raises(deploy.DeployError) as err:  # v2 is pending: not deployable
        deploy.deploy(session, name, version=2, progress=False)
    assert err.value.error == "NotApproved"
    approval.approve(session, name, v2, "better")
    after_second(time.time())  # deployment names carry the second: keep them distinct
    second = deploy.deploy(session, name, progress=False)
    assert second.version == 2 and second.model_package_arn == v2
    status = deploy.endpoint_status(session, name)
    assert status["ModelPackage"] == v2 and status["EndpointConfigName"] == second.endpoint_config
    assert deploy.tenant_item(session, name)["tenant-deployed-version"] == v2
    _, records = deploy.sample_rows(session, name, n=3)
    np.testing.assert_allclose(
        deploy.invoke(session, name, records),
        booster2.predict(xgb.DMatrix(preprocessed(session, name, 3))),
        rtol=1e-4,
    )
    # the replaced deployment's config and model are gone
    sm = session.client("sagemaker")
    configs = [
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith(f"mt-{name}-v")
    ]
    assert configs == [second.endpoint_config]

    after_second(time.time())
    rollback = deploy.deploy(session, name, version=1, progress=False)
    assert rollback.version == 1
    assert deploy.endpoint_status(session, name)["ModelPackage"] == deployed["v1"]
    assert deploy.tenant_item(session, name)["tenant-deployed-version"] == deployed["v1"]


def test_failed_deploy_keeps_previous_deployment_serving(session, deployed):
    name = deployed["name"]
    before = deploy.endpoint_status(session, name)
    item_before = deploy.tenant_item(session, name)
    bad, _ = register_version(session, name, deployed["workdir"], broken=True)
    approval.approve(session, name, bad, "will not load")
    after_second(time.time())
    with pytest.raises(deploy.DeployError) as err:
        deploy.deploy(session, name, progress=False)
    assert "not a valid .tar.gz" in err.value.cause
    after = deploy.endpoint_status(session, name)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == before["EndpointConfigName"]
    assert (
        deploy.tenant_item(session, name)["tenant-deployed-version"]
        == item_before["tenant-deployed-version"]
    )
    _, records = deploy.sample_rows(session, name, n=2)
    assert len(deploy.invoke(session, name, records)) == 2
    sm = session.client("sagemaker")
    left = [
        m["ModelName"]
        for m in sm.list_models()["Models"]
        if m["ModelName"].startswith(f"mt-{name}-v")
    ]
    assert left == [before["ModelName"]]  # the failed deployment's model was cleaned up
    approval.reject(session, name, bad, "broken artifact")


def test_deploy_with_nothing_approved_fails_clearly(session, tmp_path):
    name = f"none-{uuid.uuid4().hex[:6]}"
    create_tenant(session, name)
    register_version(session, name, tmp_path)  # pending only
    with pytest.raises(deploy.DeployError) as err:
        deploy.deploy(session, name, progress=False)
    assert err.value.error == "NoApprovedVersion"
    assert name in err.value.cause and "approve" in err.value.cause
    with pytest.raises(session.client("sagemaker").exceptions.ClientError):
        session.client("sagemaker").describe_endpoint(EndpointName=f"mt-{name}")


def test_unknown_tenant_fails_clearly(session):
    desc = run_state_machine(session, "deploy", {"tenant": {"name": "no-such-tenant"}})
    assert desc["status"] == "FAILED" and desc["error"] == "TenantNotFound"
    assert "no-such-tenant" in desc["cause"]


def test_other_tenants_version_is_refused(session, deployed, tmp_path):
    other = f"oth-{uuid.uuid4().hex[:6]}"
    create_tenant(session, other)
    their_arn, _ = register_version(session, other, tmp_path)
    with pytest.raises(approval.ApprovalError, match="not to tenant"):
        approval.approve(session, deployed["name"], their_arn)
    assert (
        registry.list_versions(session, model_package_group(other))[0].status
        == "PendingManualApproval"
    )
    approval.approve(session, other, their_arn, "theirs")
    desc = run_state_machine(
        session, "deploy", {"tenant": {"name": deployed["name"]}, "modelPackageArn": their_arn}
    )
    assert desc["status"] == "FAILED" and desc["error"] == "WrongTenant"
    assert deploy.endpoint_status(session, deployed["name"])["ModelPackage"] != their_arn


def registered_booster(session: AwsSession, package_arn: str, workdir: Path) -> xgb.Booster:
    """The model of a registered version, loaded with xgboost from its artifact in S3."""
    container = session.client("sagemaker").describe_model_package(ModelPackageName=package_arn)[
        "InferenceSpecification"
    ]["Containers"][0]
    bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(workdir, filter="data")
    (model_file,) = [p for p in workdir.rglob("xgboost-model*") if p.is_file()]
    booster = xgb.Booster()
    booster.load_model(bytearray(model_file.read_bytes()))
    return booster


def test_invoke_through_state_machine_integration_answers(session, deployed, tmp_path):
    """The deploy machine's test call is aws-sdk:sagemakerruntime:invokeEndpoint: it ran above.
    Its recorded prediction, and the endpoint's direct answer for the same row, must equal an
    independent prediction: the registered artifact loaded from S3 with xgboost, here."""
    result = deployed["first"]
    labels, records = deploy.sample_rows(session, deployed["name"], n=1)
    assert str(labels.iloc[0]) == result.test_label
    answer = deploy.invoke(session, deployed["name"], records)
    assert isinstance(pd.Series(answer).iloc[0], float)
    booster = registered_booster(session, result.model_package_arn, tmp_path)
    expected = booster.predict(xgb.DMatrix(preprocessed(session, deployed["name"], 1)))
    np.testing.assert_allclose(answer, expected, rtol=1e-4)
    # the machine sent that raw record: its recorded answer is the endpoint's
    assert result.test_prediction == pytest.approx(answer[0], abs=1e-6)
    assert result.test_prediction == pytest.approx(float(expected[0]), rel=1e-4)


def test_tenant_role_cannot_load_another_tenants_model(session, deployed, tmp_path):
    """S3 is enforced locally: a model running under tenant A's role cannot read B's artifact.
    SageMaker API authorization is not enforced by localaws; A's policy, which AWS enforces,
    grants sagemaker:InvokeEndpoint on A's endpoint only."""
    import fnmatch

    a, b = deployed["name"], f"iso-{uuid.uuid4().hex[:6]}"
    create_tenant(session, b)
    b_arn, _ = register_version(session, b, tmp_path)
    sm = session.client("sagemaker")
    b_container = sm.describe_model_package(ModelPackageName=b_arn)["InferenceSpecification"][
        "Containers"
    ][0]
    a_role = deploy.tenant_item(session, a)["tenant-role"]
    name = f"mt-{a}-steal"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=a_role,
        PrimaryContainer={
            "Image": b_container["Image"],
            "ModelDataUrl": b_container["ModelDataUrl"],
            "Environment": b_container["Environment"],
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 30
    while (desc := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert desc["EndpointStatus"] == "Failed"
    assert (
        "AccessDenied" in desc["FailureReason"]
        and b_container["ModelDataUrl"] in desc["FailureReason"]
    )
    for cleanup in (
        lambda: sm.delete_endpoint(EndpointName=name),
        lambda: sm.delete_endpoint_config(EndpointConfigName=name),
        lambda: sm.delete_model(ModelName=name),
    ):
        cleanup()

    iam = session.client("iam")
    role_name = a_role.rsplit("/", 1)[-1]
    allowed: list[str] = []
    for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        for statement in document["Statement"]:
            actions = (
                statement["Action"]
                if isinstance(statement["Action"], list)
                else [statement["Action"]]
            )
            if statement["Effect"] == "Allow" and "sagemaker:InvokeEndpoint" in actions:
                resources = statement["Resource"]
                allowed += resources if isinstance(resources, list) else [resources]
    endpoint_arn = arn("sagemaker", session.region, session.account_id, "endpoint/mt-{}")
    assert any(fnmatch.fnmatch(endpoint_arn.format(a), r) for r in allowed)
    assert not any(fnmatch.fnmatch(endpoint_arn.format(b), r) for r in allowed)


def test_unknown_version_fails_with_the_service_error(session, deployed):
    bogus = arn(
        "sagemaker", session.region, session.account_id, f"model-package/mt-{deployed['name']}/99"
    )
    with pytest.raises(approval.ApprovalError, match="does not exist"):
        deploy.deploy(session, deployed["name"], version=bogus, progress=False)
    desc = run_state_machine(
        session, "deploy", {"tenant": {"name": deployed["name"]}, "modelPackageArn": bogus}
    )
    assert desc["status"] == "FAILED" and desc["error"] == "DeployFailed"
    assert "99" in desc["cause"]
    assert deploy.endpoint_status(session, deployed["name"])["EndpointStatus"] == "InService"


def test_deploy_replaces_a_failed_endpoint(session, tmp_path):
    name = f"fix-{uuid.uuid4().hex[:6]}"
    create_tenant(session, name)
    arn, _ = register_version(session, name, tmp_path)
    approval.approve(session, name, arn, "ok")
    sm = session.client("sagemaker")
    role = deploy.tenant_item(session, name)["tenant-role"]
    broken = f"mt-{name}-v0-20000101000000"
    bucket = tenant_bucket(name, session.account_id, session.region)
    sm.create_model(
        ModelName=broken,
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": XGB_IMAGE,
            "ModelDataUrl": f"s3://{bucket}/missing/model.tar.gz",
        },
    )
    sm.create_endpoint_config(
        EndpointConfigName=broken,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": broken,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=f"mt-{name}", EndpointConfigName=broken)
    deadline = time.monotonic() + 30
    while sm.describe_endpoint(EndpointName=f"mt-{name}")["EndpointStatus"] != "Failed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    result = deploy.deploy(session, name, progress=False)
    assert result.model_package_arn == arn
    assert deploy.endpoint_status(session, name)["EndpointStatus"] == "InService"
    _, records = deploy.sample_rows(session, name, n=2)
    assert len(deploy.invoke(session, name, records)) == 2


def test_raw_records_by_json_and_csv_with_and_without_header(session, deployed):
    name = deployed["name"]
    _, records = deploy.sample_rows(session, name, n=4)
    by_name = deploy.invoke(session, name, records)
    assert deploy.invoke(session, name, records.iloc[0].to_dict()) == [by_name[0]]
    shuffled = records[list(reversed(records.columns))]  # by name: any column order
    assert deploy.invoke(session, name, shuffled) == by_name
    runtime = session.client("sagemaker-runtime")
    for header in (False, True):
        answer = runtime.invoke_endpoint(
            EndpointName=f"mt-{name}",
            ContentType="text/csv",
            Body=records.to_csv(index=False, header=header),
        )
        values = [float(v) for v in answer["Body"].read().decode().split()]
        assert values == pytest.approx(by_name, abs=1e-6)


def test_a_bad_record_gets_a_4xx_naming_the_field_and_the_endpoint_keeps_serving(session, deployed):
    name = deployed["name"]
    _, records = deploy.sample_rows(session, name, n=2)
    before = deploy.invoke(session, name, records)
    bad = records.copy()
    bad.loc[1, "Day Mins"] = "lots"
    with pytest.raises(ClientError) as err:
        deploy.invoke(session, name, bad)
    response = err.value.response
    assert 400 <= response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert "record 2, field 'Day Mins': bad value 'lots', expected a number >= 0" in str(err.value)
    unseen = records.assign(State="ZZ", **{"Area Code": "999"})  # never seen: not an error
    assert all(0.0 <= p <= 1.0 for p in deploy.invoke(session, name, unseen))
    assert deploy.invoke(session, name, records) == before


def test_the_version_records_its_input_schema(session, deployed):
    schema = deploy.input_schema(session, deployed["name"])
    assert schema["column"].tolist() == INPUT_COLUMNS
    uses = dict(zip(schema["column"], schema["model uses it as"], strict=True))
    assert uses["Day Mins"] == "number" and uses["Phone"] == "ignored"
    assert uses["Area Code"].startswith("category (3 learned: 408, 415, 510")
    assert schema.set_index("column").loc["Int'l Plan", "expected"] == "'yes' or 'no'"
