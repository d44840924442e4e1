"""The pooled tier: tenants served as target models of one shared multi-model endpoint.

Real registered versions (built as the pipeline builds them, see test_deploy.register_version),
the real create / deploy / delete state machines on localaws, real XGBoost answers.
"""

from __future__ import annotations

import uuid

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from test_deploy import preprocessed, register_version, run_state_machine

from helpers import approval, deploy, tenants
from helpers.errors import InvalidTier
from helpers.naming import pool_bucket, pool_endpoint_name
from helpers.session import connect
from helpers.stack import deploy_stack

pytestmark = pytest.mark.slow  # real deploys through the state machines

POOL = pool_endpoint_name()


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    deploy_stack(session)
    return session


def new_tenant(session, tier: str) -> str:
    name = f"pl-{uuid.uuid4().hex[:6]}"
    tenants.create_tenant(session, name, tier=tier, progress=False)
    return name


def new_version(session, tenant: str, workdir, number: int, num_round: int) -> xgb.Booster:
    _, booster = register_version(session, tenant, workdir, num_round=num_round)
    approval.approve(session, tenant, number, f"version {number}")
    return booster


def answers_of(session, tenant: str, booster: xgb.Booster) -> None:
    """The tenant's endpoint (whatever its tier) answers with `booster`'s probabilities."""
    _, records = deploy.sample_rows(session, tenant, n=5)
    expected = booster.predict(xgb.DMatrix(preprocessed(session, tenant, 5)))
    np.testing.assert_allclose(deploy.invoke(session, tenant, records), expected, rtol=1e-4)


def pooled_keys(session, tenant: str) -> list[str]:
    bucket = pool_bucket(session.account_id, session.region)
    listing = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{tenant}/")
    return [o["Key"] for o in listing.get("Contents", [])]


def endpoint_exists(session, name: str) -> bool:
    try:
        status = session.client("sagemaker").describe_endpoint(EndpointName=name)
    except ClientError:
        return False
    return status["EndpointStatus"] != "Deleting"


@pytest.fixture(scope="module")
def pooled(session, tmp_path_factory):
    """Two pooled tenants, each with version 1 deployed."""
    found = {}
    for label in ("a", "b"):
        name = new_tenant(session, "pooled")
        booster = new_version(session, name, tmp_path_factory.mktemp(name), 1, num_round=4)
        found[label] = {"name": name, "booster": booster, "deployed": deploy.deploy(session, name)}
    return found


def test_pooled_deploy_serves_the_target_model_and_records_it(session, pooled):
    name, result = pooled["a"]["name"], pooled["a"]["deployed"]
    assert (result.tier, result.endpoint) == ("pooled", POOL)
    assert result.target_model == f"{name}/v1.tar.gz" and 0 <= result.test_prediction <= 1
    item = deploy.tenant_item(session, name)
    assert item["tenant-tier"] == "pooled" and item["tenant-endpoint"] == POOL
    assert item["tenant-target-model"] == f"{name}/v1.tar.gz"
    status = deploy.endpoint_status(session, name)
    assert (status["Tier"], status["EndpointStatus"]) == ("pooled", "InService")
    assert status["TargetModel"] == f"{name}/v1.tar.gz"
    model = session.client("sagemaker").describe_model(ModelName=status["ModelName"])
    assert model["PrimaryContainer"]["Mode"] == "MultiModel"
    assert not endpoint_exists(session, f"mt-{name}")  # no endpoint of its own
    for tenant in pooled.values():
        answers_of(session, tenant["name"], tenant["booster"])


def test_a_tenant_role_invokes_only_its_own_target_models(session, pooled):
    a, b = (deploy.tenant_item(session, pooled[k]["name"]) for k in ("a", "b"))
    creds = session.client("sts").assume_role(RoleArn=a["tenant-role"], RoleSessionName="tenant-a")
    keys = creds["Credentials"]
    runtime = boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys["SessionToken"],
        region_name=session.region,
    ).client("sagemaker-runtime", config=BotoConfig(retries={"max_attempts": 1}))
    _, records = deploy.sample_rows(session, pooled["a"]["name"], n=1)
    body = records.to_json(orient="records")
    invoke = {"EndpointName": POOL, "Body": body, "ContentType": "application/json"}
    assert runtime.invoke_endpoint(**invoke, TargetModel=a["tenant-target-model"])["Body"].read()
    with pytest.raises(ClientError) as err:
        runtime.invoke_endpoint(**invoke, TargetModel=b["tenant-target-model"])
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"

    def simulate(target: str) -> str:
        result = session.client("iam").simulate_principal_policy(
            PolicySourceArn=a["tenant-role"],
            ActionNames=["sagemaker:InvokeEndpoint"],
            ResourceArns=[
                f"arn:aws:sagemaker:{session.region}:{session.account_id}:endpoint/{POOL}"
            ],
            ContextEntries=[
                {
                    "ContextKeyName": "sagemaker:TargetModel",
                    "ContextKeyValues": [target],
                    "ContextKeyType": "string",
                }
            ],
        )
        return result["EvaluationResults"][0]["EvalDecision"]

    assert simulate(a["tenant-target-model"]) == "allowed"
    assert simulate(b["tenant-target-model"]) == "implicitDeny"


def test_a_new_version_replaces_the_served_one(session, pooled, tmp_path):
    name = pooled["a"]["name"]
    booster = new_version(session, name, tmp_path, 2, num_round=12)
    result = deploy.deploy(session, name)
    assert result.target_model == f"{name}/v2.tar.gz" and result.version == 2
    answers_of(session, name, booster)
    assert pooled_keys(session, name) == [f"{name}/v2.tar.gz"]  # v1's copy removed
    pooled["a"]["booster"] = booster


def test_tier_changes_both_ways_clean_up_the_old_tier(session, tmp_path):
    name = new_tenant(session, "dedicated")
    booster = new_version(session, name, tmp_path, 1, num_round=6)
    assert deploy.deploy(session, name).endpoint == f"mt-{name}"
    assert endpoint_exists(session, f"mt-{name}")

    moved = deploy.deploy(session, name, tier="pooled")
    assert (moved.tier, moved.target_model) == ("pooled", f"{name}/v1.tar.gz")
    assert not endpoint_exists(session, f"mt-{name}")
    sm = session.client("sagemaker")
    assert not sm.list_endpoint_configs(NameContains=f"mt-{name}-v")["EndpointConfigs"]
    assert not sm.list_models(NameContains=f"mt-{name}-v")["Models"]
    answers_of(session, name, booster)

    back = deploy.deploy(session, name, tier="dedicated")
    assert (back.tier, back.endpoint, back.target_model) == ("dedicated", f"mt-{name}", None)
    item = deploy.tenant_item(session, name)
    assert item["tenant-tier"] == "dedicated" and "tenant-target-model" not in item
    assert pooled_keys(session, name) == []
    answers_of(session, name, booster)


def test_a_bad_tier_is_refused_and_changes_nothing(session, pooled):
    name = f"pl-{uuid.uuid4().hex[:6]}"
    desc = run_state_machine(session, "create", {"tenant": {"name": name, "tier": "gold"}})
    assert (desc["status"], desc["error"]) == ("FAILED", "InvalidTier")
    assert tenants.get_tenant_item(session, name) is None
    tenant = pooled["b"]["name"]
    before = deploy.tenant_item(session, tenant)
    for tier in (3, "gold"):
        desc = run_state_machine(session, "deploy", {"tenant": {"name": tenant}, "tier": tier})
        assert (desc["status"], desc["error"]) == ("FAILED", "InvalidTier")
    assert deploy.tenant_item(session, tenant) == before  # no deploy lock left behind either
    assert before["tenant-target-model"] == f"{tenant}/v1.tar.gz"
    with pytest.raises(InvalidTier):
        tenants.create_tenant(session, name, tier="gold", progress=False)


def test_deleting_a_pooled_tenant_leaves_the_others_serving(session, pooled):
    gone, kept = pooled["b"]["name"], pooled["a"]["name"]
    tenants.delete_tenant(session, gone, progress=False)
    assert pooled_keys(session, gone) == []
    assert pooled_keys(session, kept)
    assert endpoint_exists(session, POOL)
    answers_of(session, kept, pooled["a"]["booster"])
