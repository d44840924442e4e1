"""Notebooks 00 -> 01 -> 99 under papermill for two tenants side by side, checked on the values
each notebook recorded (helpers.results) and on the tenants' resources themselves."""

from __future__ import annotations

import pytest

from helpers import tenants
from helpers.chain import run_chain
from helpers.results import read_results
from helpers.session import connect

pytestmark = pytest.mark.slow
STACK_OUTPUTS = {
    "CreateTenantStateMachineArn",
    "DeleteTenantStateMachineArn",
    "DeployTenantStateMachineArn",
    "PipelineRoleArn",
    "PoolBucketName",
    "PoolEndpointName",
    "ResourcePrefix",
    "StateMachineRoleArn",
    "TenantTableName",
}


def entered_states(session, execution_arn: str) -> list[str]:
    """The states a Step Functions execution entered, in order."""
    events = session.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return [
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    ]


def test_two_tenants_onboarded_then_one_removed(localaws, tmp_path):
    first, second = "nb-alpha", "nb-beta"
    session = connect("local")
    for tenant in (first, second):
        done = run_chain(tenant, tmp_path / tenant, notebooks=("00_setup", "01_create_tenant"))
        assert [p.name for p in done] == ["00_setup.ipynb", "01_create_tenant.ipynb"]
        setup, created = (read_results(p) for p in done)
        assert set(setup["stack_outputs"]) == STACK_OUTPUTS
        assert setup["stack_outputs"]["TenantTableName"] == "allTenants"
        description = created["tenant"]
        assert description == tenants.describe_tenant(session, tenant)
        assert description["item"]["tenant-status"] == "ACTIVE"
        assert description["bucket"]["tags"]["tenant-id"] == tenant
        assert [o["key"] for o in description["bucket"]["objects"]] == ["data/raw/churn.csv"]
        bucket = description["bucket"]["name"]
        assert created["upload"] == {"rows": 5000, "uri": f"s3://{bucket}/data/raw/churn.csv"}
        execution = description["item"]["tenant-execution"]
        assert "ActivateTenant" in entered_states(session, execution)

    before = tenants.describe_tenant(session, second)
    (cleanup,) = run_chain(first, tmp_path / f"{first}-cleanup", notebooks=("99_cleanup",))
    results = read_results(cleanup)
    assert results["deletion"] == {"existed": True, "status": "SUCCEEDED"}
    assert results["leftovers"] and not any(results["leftovers"].values())

    assert not any(tenants.tenant_leftovers(session, first).values())
    after = tenants.describe_tenant(session, second)
    assert after == before
    assert [o["key"] for o in after["bucket"]["objects"]] == ["data/raw/churn.csv"]

    done = run_chain(second, tmp_path / f"{second}-cleanup", notebooks=("99_cleanup",))
    results = read_results(done[0])
    assert results["stack"] == "kept"
    assert results["deletion"] == {"existed": True, "status": "SUCCEEDED"}
    assert not any(tenants.tenant_leftovers(session, second).values())
    # Cleaning up a tenant that is gone is a no-op that still reports nothing left.
    done = run_chain(second, tmp_path / "again", notebooks=("99_cleanup",))
    results = read_results(done[0])
    assert results["deletion"] == {"existed": False, "status": None}
    assert not any(results["leftovers"].values())
