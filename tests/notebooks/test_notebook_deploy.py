"""The whole chain 00 -> 01 -> 02 -> 03 under papermill for two tenants on localaws, then a
second pipeline run + approval of version 2 + redeploy, a rollback to version 1 through
notebook 03, and 99 removing one tenant's endpoint while the other keeps serving. The notebooks'
results are read from the values they recorded (helpers.results)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import approval, deploy, registry
from helpers.chain import closing_line, run_chain
from helpers.naming import model_package_group
from helpers.results import read_results
from helpers.session import connect
from helpers.tenants import tenant_leftovers

pytestmark = pytest.mark.slow
TENANTS = ("dep-alpha", "dep-beta")


def assert_serves(results: dict, tenant: str, version: int) -> None:
    """The executed 03 deployed `version` of `tenant` to its endpoint and recorded it."""
    deployment = results["deployment"]
    assert deployment["tenant"] == tenant and deployment["endpoint"] == f"mt-{tenant}"
    assert deployment["version"] == version
    assert deployment["model_package_arn"].endswith(f"model-package/mt-{tenant}/{version}")
    assert deployment["endpoint_config"].startswith(f"mt-{tenant}-v{version}-")
    assert 0 <= deployment["test_prediction"] <= 1
    assert results["endpoint"]["EndpointStatus"] == "InService"
    assert results["endpoint"]["ModelPackage"] == deployment["model_package_arn"]


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


@pytest.fixture(scope="module")
def chains(localaws, session, tmp_path_factory):
    """Both tenants through the chain; then alpha runs 02 again and 03 approves + redeploys v2."""
    runs = {t: run_chain(t, tmp_path_factory.mktemp(t)) for t in TENANTS}
    runs["v1"] = approval.latest_version(session, TENANTS[0], "Approved")
    runs["again"] = run_chain(
        TENANTS[0], tmp_path_factory.mktemp("again"), ("02_pipeline", "03_deploy")
    )
    return runs


def test_each_tenant_serves_its_own_model(session, chains):
    for tenant in TENANTS:
        results = read_results(chains[tenant][-1])
        assert_serves(results, tenant, 1)
        probabilities = results["predictions"]["probabilities"]
        assert len(probabilities) == len(results["predictions"]["labels"]) == 8
        assert all(0 <= p <= 1 for p in probabilities)
        line = closing_line(chains[tenant][-1])
        assert line == (
            f"tenant {tenant}: endpoint mt-{tenant} serves version 1; first test row -> "
            f"churn probability {probabilities[0]:.4f} "
            f"(label: {'churned' if results['predictions']['labels'][0] else 'stayed'})"
        )
        item = deploy.tenant_item(session, tenant)
        assert item["tenant-endpoint"] == f"mt-{tenant}" and item["tenant-status"] == "DEPLOYED"
    _, features = deploy.sample_rows(session, TENANTS[1], n=20)
    alpha, beta = (np.array(deploy.invoke(session, t, features)) for t in TENANTS)
    assert ((alpha >= 0) & (alpha <= 1)).all() and ((beta >= 0) & (beta <= 1)).all()
    assert not np.allclose(alpha, beta, atol=1e-3)  # two tenants, two different models


def test_recorded_predictions_are_the_endpoints_answers(session, chains):
    """What 03 recorded is what each tenant's endpoint answers for the same test rows now."""
    for tenant, notebook in (
        (TENANTS[0], chains["again"][-1]),
        (TENANTS[1], chains[TENANTS[1]][-1]),
    ):
        recorded = read_results(notebook)["predictions"]
        labels, features = deploy.sample_rows(session, tenant, n=len(recorded["labels"]))
        assert list(labels) == recorded["labels"]
        answers = deploy.invoke(session, tenant, features)
        assert answers == pytest.approx(recorded["probabilities"], abs=1e-9)
    alpha, beta = (read_results(chains[t][-1])["predictions"]["probabilities"] for t in TENANTS)
    assert not np.allclose(alpha, beta, atol=1e-3)


def test_second_version_is_approved_and_served(session, chains):
    results = read_results(chains["again"][-1])
    assert_serves(results, TENANTS[0], 2)
    assert results["latest_version"] == {"version": 2, "status": "Approved"}
    versions = registry.list_versions(session, model_package_group(TENANTS[0]))
    assert [(v.version, v.status) for v in versions] == [(2, "Approved"), (1, "Approved")]
    status = deploy.endpoint_status(session, TENANTS[0])
    assert status["ModelPackage"] == versions[0].arn
    assert status["EndpointConfigName"].startswith(f"mt-{TENANTS[0]}-v2-")
    assert deploy.tenant_item(session, TENANTS[0])["tenant-deployed-version"] == versions[0].arn
    # the other tenant still serves its version 1
    assert deploy.endpoint_status(session, TENANTS[1])["EndpointConfigName"].startswith(
        f"mt-{TENANTS[1]}-v1-"
    )


def test_rollback_to_version_1_through_notebook_03(session, chains, tmp_path):
    v1 = chains["v1"]
    (notebook,) = run_chain(
        TENANTS[0],
        tmp_path,
        ("03_deploy",),
        extra={"03_deploy": {"model_package_arn": v1.arn, "approve_latest": False}},
    )
    results = read_results(notebook)
    assert_serves(results, TENANTS[0], 1)
    assert results["deployment"]["model_package_arn"] == v1.arn
    assert deploy.endpoint_status(session, TENANTS[0])["ModelPackage"] == v1.arn
    assert deploy.tenant_item(session, TENANTS[0])["tenant-deployed-version"] == v1.arn


def test_cleanup_removes_the_endpoint_and_leaves_the_other_tenant_serving(
    session, chains, tmp_path
):
    (notebook,) = run_chain(TENANTS[1], tmp_path, ("99_cleanup",))
    results = read_results(notebook)
    assert results["deletion"] == {"existed": True, "status": "SUCCEEDED"}
    assert results["leftovers"] and not any(results["leftovers"].values())
    assert not any(tenant_leftovers(session, TENANTS[1]).values())
    sm = session.client("sagemaker")
    assert not [
        e for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"] == f"mt-{TENANTS[1]}"
    ]
    assert not [
        m for m in sm.list_models()["Models"] if m["ModelName"].startswith(f"mt-{TENANTS[1]}-v")
    ]
    _, features = deploy.sample_rows(session, TENANTS[0], n=3)
    assert len(deploy.invoke(session, TENANTS[0], features)) == 3
