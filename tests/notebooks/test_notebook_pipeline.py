"""Notebook 02 end to end on localaws: the chain 00 -> 01 -> 02 under papermill for two tenants,
a second run, a failing accuracy condition, malformed tenant data, and tenant isolation.
The notebook's results are read from the values it recorded (helpers.results)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import pipeline, registry
from helpers.chain import run_chain
from helpers.results import read_results
from helpers.session import connect

pytestmark = pytest.mark.slow
TENANTS = ("pipe-alpha", "pipe-beta")
SUCCESS = {s: "Succeeded" for s in pipeline.STEP_ORDER if s != "AccuracyTooLow"}


def displayed(notebook: Path) -> list[dict]:
    """The rich outputs (their `data`: MIME type -> content) an executed notebook displays."""
    cells = json.loads(notebook.read_text())["cells"]
    return [out["data"] for cell in cells for out in cell.get("outputs", []) if "data" in out]


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


@pytest.fixture(scope="module")
def chains(localaws, session, tmp_path_factory):
    """Both tenants through 00 -> 01 -> 02, then 02 once more for the first tenant."""
    runs = {}
    for tenant in TENANTS:
        out = tmp_path_factory.mktemp(tenant)
        runs[tenant] = run_chain(tenant, out, ("00_setup", "01_create_tenant", "02_pipeline"))
    again = tmp_path_factory.mktemp("again")
    runs["again"] = run_chain(TENANTS[0], again, ("02_pipeline",))
    return runs


def test_chain_registers_versions_with_tenant_specific_metrics(session, chains):
    versions = {t: registry.tenant_versions(session, t) for t in TENANTS}
    assert len(versions[TENANTS[0]]) == 2 and len(versions[TENANTS[1]]) == 1
    for tenant, frame in versions.items():
        assert set(frame["status"]) == {"PendingManualApproval"}
        assert set(frame["tenant-id"]) == {tenant}
        assert frame["accuracy"].between(0.7, 1.0).all() and frame["auc"].between(0.5, 1).all()
        assert all(f"model-package/mt-{tenant}/" in arn for arn in frame["arn"])
    alpha, beta = versions[TENANTS[0]].iloc[0], versions[TENANTS[1]].iloc[0]
    assert (alpha["accuracy"], alpha["auc"]) != (beta["accuracy"], beta["auc"])
    # Same tenant, data and parameters: the run reproduces (committed outputs stay valid).
    first, second = (versions[TENANTS[0]].iloc[i] for i in (0, 1))
    assert [first[m] for m in registry.METRICS] == [second[m] for m in registry.METRICS]
    # Each notebook recorded the version it registered, with that version's metrics.
    for notebook, tenant in (
        (chains[TENANTS[0]][-1], TENANTS[0]),
        (chains["again"][-1], TENANTS[0]),
        (chains[TENANTS[1]][-1], TENANTS[1]),
    ):
        results = read_results(notebook)
        row = versions[tenant].set_index("arn").loc[results["execution"]["model_package_arn"]]
        assert results["execution"]["version"] == row["version"]
        recorded = {m: results["metrics"][m] for m in registry.METRICS}
        assert recorded == pytest.approx({m: row[m] for m in registry.METRICS})
        assert results["metrics"]["accuracy"] > results["metrics"]["majority_baseline_accuracy"]


def test_notebook_records_the_run_and_shows_graph_table_metrics_and_versions(chains):
    results = read_results(chains[TENANTS[1]][-1])
    execution = results["execution"]
    assert execution["status"] == "Succeeded" and execution["failure_reason"] == ""
    assert execution["steps"] == SUCCESS  # every step ran to the end
    assert execution["model_package_arn"].endswith(f"model-package/mt-{TENANTS[1]}/1")
    assert execution["version"] == 1
    assert results["execution_arn"].startswith(results["pipeline_arn"] + "/execution/")
    assert set(results["metrics"]) == {*registry.METRICS, "majority_baseline_accuracy"}
    assert 0.8 <= results["metrics"]["accuracy"] <= 1  # the gate's default threshold
    assert [(v["version"], v["status"]) for v in results["versions"]] == [
        (1, "PendingManualApproval")
    ]
    data = displayed(chains[TENANTS[1]][-1])
    # the pipeline as defined and as run, ROC curve, confusion matrix, feature importance
    assert sum("image/png" in d for d in data) == 5
    # the step table, read from the definition SageMaker holds
    tables = ["".join(d["text/html"]) for d in data if "text/html" in d]
    (steps,) = [t for t in tables if "decides / registers" in t]
    for shown in ("python3 preprocess.py", "train.py on xgboost", "python3 evaluate.py"):
        assert shown in steps
    for shown in ("AccuracyThreshold (0.8) and", "then RegisterModel", "else AccuracyTooLow"):
        assert shown in steps
    again = read_results(chains["again"][-1])["execution"]
    assert again["model_package_arn"].endswith(f"model-package/mt-{TENANTS[0]}/2")
    assert again["version"] == 2


def test_failing_condition_registers_nothing_and_shows_the_fail_message(session, chains, tmp_path):
    before = len(registry.tenant_versions(session, TENANTS[1], with_metrics=False))
    (notebook,) = run_chain(
        TENANTS[1], tmp_path, ("02_pipeline",), extra={"02_pipeline": {"accuracy_threshold": 0.99}}
    )
    execution = read_results(notebook)["execution"]
    assert execution["status"] == "Failed"
    expected = {s: "Succeeded" for s in ("Preprocess", "Train", "Evaluate", "CheckAccuracy")}
    assert execution["steps"] == {**expected, "AccuracyTooLow": "Failed"}
    message = execution["failure_reasons"]["AccuracyTooLow"]
    assert f"Model not registered for tenant {TENANTS[1]}: accuracy 0." in message
    assert "is below the threshold 0.99 by 0." in message
    assert message in execution["failure_reason"]
    assert execution["model_package_arn"] is None and execution["version"] is None
    assert len(registry.tenant_versions(session, TENANTS[1], with_metrics=False)) == before


def test_malformed_tenant_data_fails_at_preprocessing_naming_the_problem(session, chains):
    target = pipeline.tenant_target(session, TENANTS[1])
    s3 = session.client("s3")
    key = "data/raw/broken/churn.csv"
    s3.put_object(Bucket=target.bucket, Key=key, Body=b"State,Account Length,Churn?\nCA,12,True.\n")
    result = pipeline.wait(
        session,
        pipeline.start(session, TENANTS[1], input_data_url=f"s3://{target.bucket}/{key}"),
        progress=False,
    )
    assert result.status == "Failed"
    assert [s.name for s in result.steps] == ["Preprocess"]
    reason = result.step("Preprocess").failure_reason
    assert "bad input data: missing column(s)" in reason and "'Day Mins'" in reason
    assert "Preprocess" in result.failure_reason


def test_tenant_execution_cannot_read_another_tenants_data(session, chains):
    other = pipeline.tenant_target(session, TENANTS[1])
    result = pipeline.wait(
        session,
        pipeline.start(session, TENANTS[0], input_data_url=other.input_data_url),
        progress=False,
    )
    assert result.status == "Failed"
    assert [s.name for s in result.steps] == ["Preprocess"]
    assert "AccessDenied" in result.step("Preprocess").failure_reason
    assert other.bucket in result.step("Preprocess").failure_reason
