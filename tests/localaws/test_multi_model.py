"""localaws multi-model endpoints: TargetModel loading, freshness, errors, IAM, LRU, restarts."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
import xgboost as xgb
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from compute_helpers import TRUST as TRUST_SAGEMAKER
from compute_helpers import own_server
from server_forks import kill9
from test_endpoints import (
    ROWS,
    XGB_IMAGE,
    booster_bytes,
    csv_of,
    tar_gz,
    train_booster,
    wait_status,
)

pytestmark = pytest.mark.slow  # a server of its own and endpoints that load XGBoost models

NO_RETRY = BotoConfig(retries={"max_attempts": 1})


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def scores(text: str) -> list[str]:
    return [f"{float(v):.4f}" for v in text.split()]


def expected(booster: xgb.Booster) -> list[str]:
    return [f"{v:.4f}" for v in booster.predict(xgb.DMatrix(ROWS))]


def make_world(aws, bucket: str) -> dict:
    """A bucket, a model role that reads models/ but not models/secret/, a multi-model
    endpoint over s3://bucket/models/ and a single-model one."""
    s3, iam, sm = aws("s3"), aws("iam"), aws("sagemaker")
    s3.create_bucket(Bucket=bucket)
    role_name = f"mme-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(TRUST_SAGEMAKER))
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="models",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
            {
                "Effect": "Deny",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/models/secret/*",
            },
        ),
    )
    world = {"s3": s3, "sm": sm, "rt": aws("sagemaker-runtime"), "bucket": bucket}
    world["role"] = role["Role"]["Arn"]
    boosters = {"acme": train_booster(21), "globex": train_booster(21, flip=True)}
    for tenant, booster in boosters.items():
        put_model(world, f"models/{tenant}/v1.tar.gz", booster)
    world["boosters"] = boosters
    world["pool"] = endpoint(
        world, {"Mode": "MultiModel", "ModelDataUrl": f"s3://{bucket}/models/"}
    )
    put_model(world, "single/model.tar.gz", boosters["acme"])
    world["single"] = endpoint(world, {"ModelDataUrl": f"s3://{bucket}/single/model.tar.gz"})
    for name in (world["pool"], world["single"]):
        assert wait_status(sm, name)["EndpointStatus"] == "InService"
    return world


def put_model(world: dict, key: str, booster: xgb.Booster) -> None:
    body = tar_gz({"xgboost-model": booster_bytes(booster)})
    world["s3"].put_object(Bucket=world["bucket"], Key=key, Body=body)


def endpoint(world: dict, container: dict) -> str:
    name = f"mme-{uuid.uuid4().hex[:10]}"
    container = container | {"Image": XGB_IMAGE}
    world["sm"].create_model(
        ModelName=name, ExecutionRoleArn=world["role"], PrimaryContainer=container
    )
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    world["sm"].create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[variant | {"InitialInstanceCount": 1}]
    )
    world["sm"].create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def call(world: dict, target: str | None, name: str | None = None, runtime=None) -> list[str]:
    kwargs = {"TargetModel": target} if target else {}
    answer = (runtime or world["rt"]).invoke_endpoint(
        EndpointName=name or world["pool"], Body=csv_of(ROWS), ContentType="text/csv", **kwargs
    )
    return scores(answer["Body"].read().decode())


def log_lines(logs, name: str, text: str) -> list[str]:
    events = logs.get_log_events(
        logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName="AllTraffic/localaws"
    )["events"]
    return [e["message"] for e in events if text in e["message"]]


@pytest.fixture(scope="module")
def world(localaws):
    session = boto3.Session(region_name="us-east-1")
    return make_world(lambda s: session.client(s, config=NO_RETRY), f"mme-{uuid.uuid4().hex[:8]}")


def test_each_target_model_answers_with_its_own_model_loaded_once(world, clients):
    for _ in range(3):
        assert call(world, "acme/v1.tar.gz") == expected(world["boosters"]["acme"])
        assert call(world, "globex/v1.tar.gz") == expected(world["boosters"]["globex"])
    loads = log_lines(clients("logs"), world["pool"], "target model acme/v1.tar.gz (")
    assert len(loads) == 1 and "loaded in" in loads[0]


def test_a_replaced_artifact_is_never_served_stale(world, clients):
    key = f"models/{uuid.uuid4().hex[:6]}/model.tar.gz"
    target = key.removeprefix("models/")
    put_model(world, key, world["boosters"]["acme"])
    assert call(world, target) == expected(world["boosters"]["acme"])
    put_model(world, key, world["boosters"]["globex"])  # same key, new bytes
    assert call(world, target) == expected(world["boosters"]["globex"])
    unloaded = log_lines(clients("logs"), world["pool"], f"target model {target} unloaded")
    assert unloaded == [f"target model {target} unloaded (replaced artifact)"]


@pytest.mark.parametrize("target", ["nobody/v1.tar.gz", "secret/v1.tar.gz"])
def test_a_target_model_the_role_cannot_download_is_a_validation_error(world, target):
    put_model(world, "models/secret/v1.tar.gz", world["boosters"]["acme"])  # denied to the role
    with pytest.raises(ClientError) as err:
        call(world, target)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert err.value.response["Error"]["Message"].startswith(
        f"Failed to download model data(bucket: {world['bucket']}, key: models/{target})."
    )
    assert call(world, "acme/v1.tar.gz") == expected(world["boosters"]["acme"])  # still serving


def test_target_model_header_only_on_multi_model_endpoints(world):
    with pytest.raises(ClientError) as err:
        call(world, "acme/v1.tar.gz", name=world["single"])
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "is not a multi-model endpoint and does not support target model header" in str(
        err.value
    )
    assert call(world, None, name=world["single"]) == expected(world["boosters"]["acme"])
    with pytest.raises(ClientError) as err:
        call(world, None)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "is missing a target model header" in str(err.value)


def test_create_model_checks_the_mode(world):
    for container, problem in (
        ({"Mode": "Pooled", "ModelDataUrl": "s3://b/m/"}, "primaryContainer.mode"),
        ({"Mode": "MultiModel"}, "needs ModelDataUrl"),
    ):
        name = f"bad-{uuid.uuid4().hex[:8]}"
        with pytest.raises(ClientError) as err:
            world["sm"].create_model(
                ModelName=name,
                ExecutionRoleArn=world["role"],
                PrimaryContainer=container | {"Image": XGB_IMAGE},
            )
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert problem in str(err.value)
        assert not world["sm"].list_models(NameContains=name)["Models"]


def test_target_model_condition_keeps_a_principal_to_its_own_models(world, clients):
    """A role allowed InvokeEndpoint only for TargetModel acme/*: its own model answers, another
    tenant's is AccessDenied, and the simulator says the same."""
    iam = clients("iam")
    me = clients("sts").get_caller_identity()["Arn"]
    name = f"caller-{uuid.uuid4().hex[:8]}"
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": me}, "Action": "sts:AssumeRole"})
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    endpoint_arn = f"arn:aws:sagemaker:us-east-1:{arn.split(':')[4]}:endpoint/{world['pool']}"
    iam.put_role_policy(
        RoleName=name,
        PolicyName="own-models",
        PolicyDocument=_doc(
            {
                "Effect": "Allow",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": endpoint_arn,
                "Condition": {"StringLike": {"sagemaker:TargetModel": "acme/*"}},
            }
        ),
    )
    creds = clients("sts").assume_role(RoleArn=arn, RoleSessionName="caller")["Credentials"]
    runtime = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    ).client("sagemaker-runtime", config=NO_RETRY)
    assert call(world, "acme/v1.tar.gz", runtime=runtime) == expected(world["boosters"]["acme"])
    with pytest.raises(ClientError) as err:
        call(world, "globex/v1.tar.gz", runtime=runtime)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"

    def simulate(target: str) -> str:
        result = iam.simulate_principal_policy(
            PolicySourceArn=arn,
            ActionNames=["sagemaker:InvokeEndpoint"],
            ResourceArns=[endpoint_arn],
            ContextEntries=[
                {
                    "ContextKeyName": "sagemaker:TargetModel",
                    "ContextKeyValues": [target],
                    "ContextKeyType": "string",
                }
            ],
        )
        return result["EvaluationResults"][0]["EvalDecision"]

    assert simulate("acme/v1.tar.gz") == "allowed"
    assert simulate("globex/v1.tar.gz") == "implicitDeny"


@pytest.mark.slow
def test_lru_within_the_memory_budget_and_serving_after_a_crash(tmp_path, monkeypatch):
    """Its own server with a budget of about one model: three targets invoked in turn evict
    each other (least recently used first) and reload on demand, always answering with their
    own model; after SIGKILL and a restart the endpoint serves them again."""
    from localaws.cli import start

    size = len(booster_bytes(train_booster(21)))
    monkeypatch.setenv("LOCALAWS_MME_MEMORY_MB", str(1.5 * size / (1024 * 1024)))
    with own_server(tmp_path / "state") as (config, info, session):

        def aws(service: str):
            return session.client(service, endpoint_url=config.endpoint_url, config=NO_RETRY)

        world = make_world(aws, "mme-lru")
        put_model(world, "models/initech/v1.tar.gz", train_booster(5))
        world["boosters"]["initech"] = train_booster(5)
        order = ["acme", "globex", "initech"]
        for _ in range(2):
            for tenant in order:
                assert call(world, f"{tenant}/v1.tar.gz") == expected(world["boosters"][tenant])
        unloads = log_lines(aws("logs"), world["pool"], "(memory pressure)")
        assert len(unloads) >= 5  # each load past the first evicts the previous model
        assert log_lines(aws("logs"), world["pool"], "target model acme/v1.tar.gz (")[1:]

        kill9(info["pid"])
        start(config)
        world.update(rt=aws("sagemaker-runtime"), sm=aws("sagemaker"))
        status = world["sm"].describe_endpoint(EndpointName=world["pool"])["EndpointStatus"]
        assert status == "InService"
        for tenant in order:
            assert call(world, f"{tenant}/v1.tar.gz") == expected(world["boosters"][tenant])
