"""kill -9 of localaws at a state of a pooled deploy, restart, run again: the tenant ends served
by the new version's TargetModel, the table names it, and its prefix of the pool holds that one
artifact only (nothing orphaned). The fault mechanism and server: test_tenant_faults."""

from __future__ import annotations

import time

import pytest
from test_deploy import register_version
from test_tenant_faults import new_id, server, session, start_and_die  # noqa: F401 (fixtures)

from helpers import approval, deploy, tenants
from helpers.naming import pool_bucket

pytestmark = pytest.mark.slow

POOLED_STATES = ["CopyArtifact", "PoolInvoke", "PoolRecord", "PoolLeftovers"]


@pytest.mark.parametrize("state", POOLED_STATES)
def test_pooled_deploy_killed_at_a_state_is_repaired_by_a_rerun(server, session, state, tmp_path):  # noqa: F811
    tenant = new_id("kpool")
    tenants.create_tenant(session, tenant, tier="pooled", progress=False)
    v1, _ = register_version(session, tenant, tmp_path / "v1", num_round=3)
    approval.approve(session, tenant, v1, "first")
    deploy.deploy(session, tenant, progress=False)
    v2, _ = register_version(session, tenant, tmp_path / "v2", num_round=3)
    approval.approve(session, tenant, v2, "second")
    start_and_die(server, session, "deploy", tenant, state)
    time.sleep(0.5)
    result = deploy.deploy(session, tenant, progress=False)
    assert (result.model_package_arn, result.target_model) == (v2, f"{tenant}/v2.tar.gz")
    item = deploy.tenant_item(session, tenant)
    assert item["tenant-target-model"] == f"{tenant}/v2.tar.gz"
    listing = session.client("s3").list_objects_v2(
        Bucket=pool_bucket(session.account_id, session.region), Prefix=f"{tenant}/"
    )
    assert [o["Key"] for o in listing.get("Contents", [])] == [f"{tenant}/v2.tar.gz"]
    _, records = deploy.sample_rows(session, tenant, n=2)
    assert len(deploy.invoke(session, tenant, records)) == 2
    tenants.delete_tenant(session, tenant, progress=False)
    assert not any(tenants.tenant_leftovers(session, tenant).values())
