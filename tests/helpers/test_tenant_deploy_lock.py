"""Two deploys of one tenant at once: the second fails with DeployInProgress and changes
nothing; the table and the endpoint name the same deployment; the lock is released at the
end, and a lock whose execution no longer runs is taken over (real XGBoost, endpoints
asynchronous for 2 s so that the first deploy is still running when the second starts)."""

from __future__ import annotations

import json
import time

import pytest
from tenant_checks import slow_endpoints
from test_deploy import create_tenant, register_version, run_state_machine

from helpers import approval, deploy, executions, stack
from helpers.session import connect

pytestmark = pytest.mark.slow  # its own localaws, real deploys
LOCK = "tenant-deploy-lock"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    with slow_endpoints(tmp_path_factory.mktemp("lock-localaws"), seconds=2):
        session = connect("local")
        stack.deploy_stack(session)
        yield session


@pytest.fixture(scope="module")
def tenant(session, tmp_path_factory):
    name = "lock-t1"
    create_tenant(session, name)
    register_version(session, name, tmp_path_factory.mktemp(name), num_round=5)
    approval.approve(session, name, 1, "for the lock test")
    return name


def item(session, tenant: str) -> dict:
    return session.client("dynamodb").get_item(
        TableName="allTenants", Key={"tenant-name": {"S": tenant}}, ConsistentRead=True
    )["Item"]


def start_deploy(session, tenant: str) -> str:
    sfn = session.client("stepfunctions")
    machine = executions.state_machine_arn(session, "deploy")
    payload = json.dumps({"tenant": {"name": tenant}})
    return sfn.start_execution(stateMachineArn=machine, input=payload)["executionArn"]


def finished(session, arn: str, timeout: float = 120) -> dict:
    sfn, deadline = session.client("stepfunctions"), time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.2)
    return described


def assert_table_names_what_the_endpoint_serves(session, tenant: str) -> None:
    record = item(session, tenant)
    assert LOCK not in record
    served = session.client("sagemaker").describe_endpoint(EndpointName=f"mt-{tenant}")
    assert served["EndpointStatus"] == "InService"
    assert record["tenant-endpoint-config"]["S"] == served["EndpointConfigName"]


def test_a_second_deploy_while_one_runs_is_deploy_in_progress(session, tenant):
    first = start_deploy(session, tenant)
    deadline = time.monotonic() + 60
    while LOCK not in item(session, tenant):  # the first one holds the lock
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert item(session, tenant)[LOCK]["S"] == first
    before = item(session, tenant)
    second = run_state_machine(session, "deploy", {"tenant": {"name": tenant}})
    assert (second["status"], second["error"]) == ("FAILED", "DeployInProgress")
    assert first in second["cause"]
    assert item(session, tenant) == before  # the refused deploy changed nothing
    assert finished(session, first)["status"] == "SUCCEEDED"
    assert_table_names_what_the_endpoint_serves(session, tenant)


@pytest.mark.parametrize("holder", ["ended", "unknown"])
def test_a_stale_lock_is_taken_over(session, tenant, holder):
    if holder == "ended":  # an execution that failed (a refused deploy of an unknown tenant)
        stale = run_state_machine(session, "deploy", {"tenant": {"name": "no-such-tenant"}})
        assert stale["status"] == "FAILED"
        arn = stale["executionArn"]
    else:  # its history is gone
        arn = (
            executions.state_machine_arn(session, "deploy").replace(":stateMachine:", ":execution:")
            + ":long-gone"
        )
    session.client("dynamodb").update_item(
        TableName="allTenants",
        Key={"tenant-name": {"S": tenant}},
        UpdateExpression="SET #lock = :stale",
        ExpressionAttributeNames={"#lock": LOCK},
        ExpressionAttributeValues={":stale": {"S": arn}},
    )
    result = deploy.deploy(session, tenant, progress=False)
    assert result.version == 1
    assert_table_names_what_the_endpoint_serves(session, tenant)
