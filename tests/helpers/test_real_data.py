"""A tenant's own data end to end on localaws: the second data shape (other states and area
codes, another churn rate, padded cells, several files with one header) is uploaded, trained
by the real pipeline (jobs run the shipped code), registered with its input schema, deployed
(the smoke test sends one of its raw records) and served raw records; one-class data that
reaches the bucket by other means never registers a version."""

from __future__ import annotations

import uuid

import pytest
from data_shapes import AREA_CODES, other_shape, padded_csv_files

from helpers import approval, deploy, pipeline, registry, tenants
from helpers.data import generate_churn
from helpers.naming import RAW_DATA_KEY
from helpers.session import connect
from helpers.stack import deploy_stack

# real pipelines and deploys on another data shape
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    deploy_stack(session)
    pipeline.upsert(session)
    return session


@pytest.fixture(scope="module")
def shaped_tenant(session, tmp_path_factory):
    """A tenant whose data is the other shape, in three files; trained and deployed."""
    tenant_id = f"shape-{uuid.uuid4().hex[:6]}"
    tenants.create_tenant(session, tenant_id, progress=False)
    folder = tmp_path_factory.mktemp(tenant_id)
    paths = []
    for i, body in enumerate(padded_csv_files(other_shape(3000), parts=3)):
        paths.append(folder / f"customers-{i}.csv")
        paths[-1].write_bytes(body)
    tenants.upload_tenant_data(session, tenant_id, paths)
    result = pipeline.run_for_tenant(session, tenant_id, progress=False)
    return tenant_id, result


def test_the_other_shape_trains_passes_the_gate_and_registers(session, shaped_tenant):
    tenant_id, result = shaped_tenant
    assert result.status == "Succeeded", result.table()
    metrics = pipeline.metrics_summary(pipeline.evaluation_report(session, result))
    assert metrics["accuracy"] >= pipeline.DEFAULT_ACCURACY_THRESHOLD
    assert metrics["accuracy"] > metrics["majority_baseline_accuracy"]
    assert {"auc", "precision", "recall", "f1"} <= set(metrics)
    versions = registry.tenant_versions(session, tenant_id)
    assert versions["arn"].tolist() == [result.model_package_arn]


def test_the_deployed_version_serves_raw_records_of_the_other_shape(session, shaped_tenant):
    tenant_id, _ = shaped_tenant
    approval.approve(session, tenant_id, 1, "other shape")
    deployment = deploy.deploy(session, tenant_id, progress=False)
    assert 0.0 <= deployment.test_prediction <= 1.0 and deployment.test_label in ("0", "1")
    labels, records = deploy.sample_rows(session, tenant_id, n=10)
    probabilities = deploy.invoke(session, tenant_id, records)
    assert len(probabilities) == 10 and all(0.0 <= p <= 1.0 for p in probabilities)
    assert deployment.test_prediction == pytest.approx(probabilities[0], abs=1e-6)
    schema = deploy.input_schema(session, tenant_id).set_index("column")
    learned = schema.loc["Area Code", "model uses it as"]
    assert all(str(code) in learned for code in AREA_CODES)


def test_one_class_data_put_in_the_bucket_directly_never_registers(session):
    tenant_id = f"onecls-{uuid.uuid4().hex[:6]}"
    item = tenants.create_tenant(session, tenant_id, progress=False)["item"]
    body = generate_churn(tenant_id, 500).assign(**{"Churn?": "False."}).to_csv(index=False)
    session.client("s3").put_object(Bucket=item["tenant-bucket"], Key=RAW_DATA_KEY, Body=body)
    listings: list[dict] = []
    session.client("sagemaker").meta.events.register(
        "before-call.sagemaker.ListPipelineExecutionSteps", lambda **kw: listings.append(kw)
    )
    result = pipeline.run_for_tenant(session, tenant_id, progress=False)
    assert len(listings) == 1  # nobody watches: the steps are listed once, at the end
    assert result.status == "Failed"
    preprocess = result.step("Preprocess")
    assert preprocess is not None and preprocess.status == "Failed"
    assert "0 row(s) of class 'True.'" in preprocess.failure_reason
    assert registry.tenant_versions(session, tenant_id).empty
