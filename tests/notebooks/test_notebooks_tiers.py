"""The whole chain 00 -> 03 -> 99 under papermill for a pooled and a dedicated tenant side by
side: each is served by what its tier says, and removing one leaves the other serving."""

from __future__ import annotations

import pytest

from helpers import deploy, tenants
from helpers.chain import run_chain
from helpers.naming import pool_endpoint_name
from helpers.results import read_results
from helpers.session import connect

pytestmark = pytest.mark.slow
CHAIN = ("00_setup", "01_create_tenant", "02_pipeline", "03_deploy")


def test_a_pooled_and_a_dedicated_tenant_side_by_side(localaws, tmp_path):
    session = connect("local")
    tiers = {"nb-pooled": "pooled", "nb-dedicated": "dedicated"}
    for tenant, tier in tiers.items():
        extra = {"01_create_tenant": {"tier": tier}}
        done = run_chain(tenant, tmp_path / tenant, notebooks=CHAIN, extra=extra)
        created, deployed = read_results(done[1]), read_results(done[3])
        assert created["tenant"]["item"]["tenant-tier"] == tier
        assert deployed["deployment"]["tier"] == deployed["endpoint"]["Tier"] == tier
        assert deployed["endpoint"]["EndpointStatus"] == "InService"
        assert all(0 <= p <= 1 for p in deployed["predictions"]["probabilities"])
    pooled = deploy.endpoint_status(session, "nb-pooled")
    assert pooled["EndpointName"] == pool_endpoint_name()
    assert pooled["TargetModel"] == "nb-pooled/v1.tar.gz"
    assert deploy.endpoint_status(session, "nb-dedicated")["EndpointName"] == "mt-nb-dedicated"

    for gone, kept in (("nb-pooled", "nb-dedicated"), ("nb-dedicated", None)):
        (cleanup,) = run_chain(gone, tmp_path / f"{gone}-cleanup", notebooks=("99_cleanup",))
        results = read_results(cleanup)
        assert results["deletion"] == {"existed": True, "status": "SUCCEEDED"}
        assert not any(results["leftovers"].values())
        if kept:
            _, records = deploy.sample_rows(session, kept, n=2)
            assert len(deploy.invoke(session, kept, records)) == 2
    assert not any(tenants.tenant_leftovers(session, "nb-pooled").values())
