"""kill -9 of localaws at a named state of deploy, restart, deploy again: the table names the
config the endpoint serves and nothing superseded is orphaned (issue 10). How the kill works:
test_tenant_faults.py. This module's server keeps endpoints Creating / Updating for 1 s (as on
AWS, asynchronously) from its start and across its restarts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tenant_checks import after_second, new_id, nothing_left
from test_deploy import register_version
from test_tenant_faults import Server, fault_server, stack_session, start_and_die

from helpers import approval, deploy, tenants

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with fault_server(tmp_path_factory.mktemp("deploy-faults"), endpoint_delay=1) as armable:
        yield armable


@pytest.fixture(scope="module")
def session(server):
    return stack_session()


# Where an interruption of deploy matters: after CreateModel, after CreateEndpointConfig, after
# UpdateEndpoint, during the wait, after the wait (before the test), before and after the table
# update, in the middle of the sweep of superseded deployments.
DEPLOY_STATES = [
    "CreateEndpointConfig",
    "FindEndpoint",
    "WaitForEndpoint",
    "DescribeEndpoint",
    "TestDataLocation",
    "RecordDeployment",
    "ServingNow",
    "DeleteSupersededModels",
]


def deployments(session, tenant: str) -> tuple[list[str], list[str]]:
    """The tenant's deployment configs and models that exist (by name and tenant-id tag)."""
    found = tenants.tenant_leftovers(session, tenant)
    return sorted(found["endpoint configs"]), sorted(found["models"])


@pytest.mark.parametrize("state", DEPLOY_STATES)
def test_deploy_killed_at_a_state_is_repaired_by_a_rerun(server, session, state, tmp_path):
    """Endpoints asynchronous for 1 s. v1 deployed, v2 approved; a deploy of v2 is cut off at
    `state`; the re-run deploys v2: the table names the config the endpoint serves, and that
    config and its model are the tenant's only ones (nothing superseded is orphaned)."""
    tenant = new_id("kdep")
    tenants.create_tenant(session, tenant, progress=False)
    v1, _ = register_version(session, tenant, tmp_path / "v1", num_round=3)
    approval.approve(session, tenant, v1, "first")
    deploy.deploy(session, tenant, progress=False)
    deployed_at = time.time()
    v2, _ = register_version(session, tenant, tmp_path / "v2", num_round=3)
    approval.approve(session, tenant, v2, "second")
    after_second(deployed_at)  # deployment names carry the second
    after_second(start_and_die(server, session, "deploy", tenant, state))
    result = deploy.deploy(session, tenant, progress=False)
    assert result.model_package_arn == v2
    item = deploy.tenant_item(session, tenant)
    served = deploy.endpoint_status(session, tenant)
    assert served["EndpointStatus"] == "InService"
    assert item["tenant-endpoint-config"] == served["EndpointConfigName"]
    assert item["tenant-deployed-version"] == served["ModelPackage"] == v2
    assert deployments(session, tenant) == (
        [served["EndpointConfigName"]],
        [served["ModelName"]],
    )
    tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)
