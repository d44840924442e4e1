"""The whole chain 00 -> 01 -> 02 -> 03 under papermill for two tenants on localaws, then a
second pipeline run + approval of version 2 + redeploy, a rollback to version 1 through
notebook 03, and 99 removing one tenant's endpoint while the other keeps serving."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import approval, deploy
from helpers.chain import run_chain
from helpers.session import connect
from helpers.tenants import tenant_leftovers

pytestmark = pytest.mark.slow
TENANTS = ("dep-alpha", "dep-beta")


def text_of(notebook: Path) -> str:
    texts = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain", "")
            texts.append(text if isinstance(text, str) else "".join(text))
    return "\n".join(texts)


@pytest.fixture(scope="module")
def aws(localaws):
    return connect("local")


@pytest.fixture(scope="module")
def chains(localaws, aws, tmp_path_factory):
    """Both tenants through the chain; then alpha runs 02 again and 03 approves + redeploys v2."""
    runs = {t: run_chain(t, tmp_path_factory.mktemp(t)) for t in TENANTS}
    runs["v1"] = approval.latest_version(aws, TENANTS[0], "Approved")
    runs["again"] = run_chain(
        TENANTS[0], tmp_path_factory.mktemp("again"), ("02_pipeline", "03_deploy")
    )
    return runs


def test_each_tenant_serves_its_own_model(aws, chains):
    for tenant in TENANTS:
        text = text_of(chains[tenant][-1])
        assert "churn probability" in text and f"endpoint mt-{tenant} serves version 1" in text
        item = deploy.tenant_item(aws, tenant)
        assert item["tenant-endpoint"] == f"mt-{tenant}" and item["tenant-status"] == "DEPLOYED"
    _, features = deploy.sample_rows(aws, TENANTS[1], n=20)
    alpha, beta = (np.array(deploy.invoke(aws, t, features)) for t in TENANTS)
    assert ((alpha >= 0) & (alpha <= 1)).all() and ((beta >= 0) & (beta <= 1)).all()
    assert not np.allclose(alpha, beta, atol=1e-3)  # two tenants, two different models


def test_second_version_is_approved_and_served(aws, chains):
    text = text_of(chains["again"][-1])
    assert f"endpoint mt-{TENANTS[0]} serves version 2" in text
    versions = approval.list_versions(aws, TENANTS[0])
    assert [(v.version, v.status) for v in versions] == [(2, "Approved"), (1, "Approved")]
    status = deploy.endpoint_status(aws, TENANTS[0])
    assert status["ModelPackage"] == versions[0].arn
    assert status["EndpointConfigName"].startswith(f"mt-{TENANTS[0]}-v2-")
    assert deploy.tenant_item(aws, TENANTS[0])["tenant-deployed-version"] == versions[0].arn
    # the other tenant still serves its version 1
    assert deploy.endpoint_status(aws, TENANTS[1])["EndpointConfigName"].startswith(
        f"mt-{TENANTS[1]}-v1-"
    )


def test_rollback_to_version_1_through_notebook_03(aws, chains, tmp_path):
    v1 = chains["v1"]
    (notebook,) = run_chain(
        TENANTS[0],
        tmp_path,
        ("03_deploy",),
        extra={"03_deploy": {"model_package_arn": v1.arn, "approve_latest": False}},
    )
    assert f"endpoint mt-{TENANTS[0]} serves version 1" in text_of(notebook)
    assert deploy.endpoint_status(aws, TENANTS[0])["ModelPackage"] == v1.arn
    assert deploy.tenant_item(aws, TENANTS[0])["tenant-deployed-version"] == v1.arn


def test_cleanup_removes_the_endpoint_and_leaves_the_other_tenant_serving(aws, chains, tmp_path):
    run_chain(TENANTS[1], tmp_path, ("99_cleanup",))
    assert not any(tenant_leftovers(aws, TENANTS[1]).values())
    sm = aws.client("sagemaker")
    assert not [
        e for e in sm.list_endpoints()["Endpoints"] if e["EndpointName"] == f"mt-{TENANTS[1]}"
    ]
    assert not [
        m for m in sm.list_models()["Models"] if m["ModelName"].startswith(f"mt-{TENANTS[1]}-v")
    ]
    _, features = deploy.sample_rows(aws, TENANTS[0], n=3)
    assert len(deploy.invoke(aws, TENANTS[0], features)) == 3
