"""Batch scoring (`helpers.batch`) on localaws: real transform jobs with tenants' real models.

Two tenants, each with one version built as the pipeline builds it (`test_deploy.register_version`)
and approved; A's is deployed, B's is not (its model is made from the approved version).
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import uuid

import numpy as np
import pandas as pd
import pytest
from tenant_checks import add_version
from test_deploy import create_tenant, register_version

from helpers import approval, batch, deploy
from helpers.data import DataValidationError, generate_churn
from helpers.errors import ApprovalError, BatchScoringError
from helpers.naming import TENANT_TAG, is_deployment_of
from helpers.session import connect
from helpers.stack import deploy_stack
from pipeline_steps import inference
from pipeline_steps.churn_schema import INPUT_COLUMNS, LABEL

pytestmark = pytest.mark.slow  # tenants with real model versions, a deploy, transform jobs


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    deploy_stack(session)
    return session


@pytest.fixture(scope="module")
def tenants(session, tmp_path_factory):
    """{"a": deployed tenant, "b": approved-only tenant}, each with its booster's version ARN."""
    made = {}
    for label in ("a", "b"):
        name = f"batch-{label}-{uuid.uuid4().hex[:6]}"
        create_tenant(session, name)
        arn, _ = register_version(session, name, tmp_path_factory.mktemp(name), num_round=5)
        approval.approve(session, name, 1, "for batch scoring")
        made[label] = {"name": name, "arn": arn}
    deploy.deploy(session, made["a"]["name"], progress=False)
    for tenant in made.values():
        tenant["item"] = deploy.tenant_item(session, tenant["name"])
    return made


def direct_scores(session, tenant: dict, records: pd.DataFrame) -> np.ndarray:
    """The version's model artifact from S3, scored in this process with its inference code."""
    package = session.client("sagemaker").describe_model_package(ModelPackageName=tenant["arn"])
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = url[5:].split("/", 1)
    body = session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tempfile.TemporaryDirectory(prefix="batch-model-") as folder:
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            tar.extractall(folder, filter="data")
        model = inference.model_fn(folder)
    rows = inference.input_fn(records.to_csv(index=False, header=False), "text/csv")
    return np.asarray(inference.predict_fn(rows, model))


def test_deployed_tenant_scores_a_csv_file_as_a_direct_prediction(session, tenants, tmp_path):
    tenant = tenants["a"]
    customers = generate_churn(tenant["name"], rows=300).drop(columns=LABEL)
    path = tmp_path / "customers.csv"
    customers.to_csv(path, index=False)
    churn = batch.score_batch(session, tenant["name"], path, progress=io.StringIO())
    assert list(churn.columns) == ["customer", "churn_probability"] and len(churn) == 300
    assert churn["churn_probability"].is_monotonic_decreasing
    # each customer's score, as the model scores the record here (a phone number may repeat)
    expected = pd.DataFrame(
        {
            "customer": customers["Phone"].astype(str).to_numpy(),
            "churn_probability": direct_scores(session, tenant, customers[INPUT_COLUMNS]),
        }
    )
    pairs = ["customer", "churn_probability"]
    got, want = (f[pairs].sort_values(pairs).reset_index(drop=True) for f in (churn, expected))
    assert list(got["customer"]) == list(want["customer"])
    np.testing.assert_allclose(got["churn_probability"], want["churn_probability"], atol=2e-6)
    # the deployed version's model, and the list written to the tenant's bucket
    status = deploy.endpoint_status(session, tenant["name"])
    assert churn.attrs["model_name"] == status["ModelName"]
    bucket, key = churn.attrs["uri"][5:].split("/", 1)
    assert bucket == tenant["item"]["tenant-bucket"]
    written = pd.read_csv(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"])
    assert len(written) == 300 and written["churn_probability"].is_monotonic_decreasing


def test_approved_undeployed_tenant_scores_json_lines(session, tenants, tmp_path):
    tenant = tenants["b"]
    customers = generate_churn(tenant["name"], rows=120)  # the label is ignored
    path = tmp_path / "customers.jsonl"
    path.write_text(customers.to_json(orient="records", lines=True))
    churn = batch.score_batch(session, tenant["name"], path, progress=False)
    assert len(churn) == 120
    expected = direct_scores(session, tenant, customers[INPUT_COLUMNS])
    np.testing.assert_allclose(
        np.sort(churn["churn_probability"].to_numpy()), np.sort(expected), atol=2e-6
    )
    # a model of the approved version, named and tagged as a deployment (the delete removes it)
    name = churn.attrs["model_name"]
    assert is_deployment_of(name, tenant["name"])
    sm = session.client("sagemaker")
    model = sm.describe_model(ModelName=name)
    assert model["PrimaryContainer"]["ModelPackageName"] == tenant["arn"]
    assert model["ExecutionRoleArn"] == tenant["item"]["tenant-role"]
    tags = sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]
    assert {"Key": TENANT_TAG, "Value": tenant["name"]} in tags
    again = batch.score_batch(session, tenant["name"], customers.head(5), progress=False)
    assert again.attrs["model_name"] == name  # reused, not made again


def test_bad_records_are_refused_before_anything_is_uploaded(session, tenants, tmp_path):
    tenant = tenants["a"]
    customers = generate_churn(tenant["name"], rows=10).drop(columns=LABEL).astype(object)
    customers.loc[3, "Day Mins"] = "lots"
    s3 = session.client("s3")
    bucket = tenant["item"]["tenant-bucket"]
    before = s3.list_objects_v2(Bucket=bucket, Prefix="batch/").get("KeyCount", 0)
    with pytest.raises(DataValidationError, match=r"'Day Mins', row 4 \(line 5\).*'lots'"):
        batch.score_batch(session, tenant["name"], customers, progress=False)
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['State'\]"):
        batch.score_batch(session, tenant["name"], customers.drop(columns="State"))
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"State": "KS"}\n{not json\n')
    with pytest.raises(DataValidationError, match="line 2: not JSON"):
        batch.score_batch(session, tenant["name"], bad_json)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="batch/").get("KeyCount", 0) == before


def test_no_approved_version_is_a_clear_error(session):
    name = f"batch-c-{uuid.uuid4().hex[:6]}"
    create_tenant(session, name)
    add_version(session, name)  # pending, not approved
    with pytest.raises(ApprovalError, match="no approved model version"):
        batch.score_batch(session, name, generate_churn(name, rows=5), progress=False)


def test_tenant_jobs_are_isolated_and_a_bad_record_fails_naming_its_line(session, tenants):
    a, b = tenants["a"], tenants["b"]
    s3 = session.client("s3")
    model_a = batch.tenant_model(session, a["name"])
    bucket_a, bucket_b = a["item"]["tenant-bucket"], b["item"]["tenant-bucket"]
    rows = generate_churn(b["name"], rows=4).drop(columns=LABEL)
    body = rows.to_csv(index=False, header=False).encode()
    run = uuid.uuid4().hex[:8]
    for bucket in (bucket_a, bucket_b):
        s3.put_object(Bucket=bucket, Key=f"batch/iso-{run}/input/c.csv", Body=body)

    def transform(input_bucket: str, output_bucket: str, suffix: str) -> None:
        batch.run_transform(
            session,
            f"mt-iso-{run}-{suffix}",
            model_a,
            f"s3://{input_bucket}/batch/iso-{run}/input/",
            f"s3://{output_bucket}/batch/iso-{run}/output-{suffix}",
            "text/csv",
            progress=False,
        )

    with pytest.raises(BatchScoringError, match=r"could not list the input s3://.*AccessDenied"):
        transform(bucket_b, bucket_a, "read")  # A's role reading B's input
    with pytest.raises(BatchScoringError, match=r"could not write s3://.*AccessDenied"):
        transform(bucket_a, bucket_b, "write")  # A's role writing B's output
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket_b, Prefix=f"batch/iso-{run}/output")
    transform(bucket_a, bucket_a, "own")  # its own bucket: fine

    bad_row = rows.head(1).assign(**{"Day Mins": "lots"})
    bad = body + bad_row.to_csv(index=False, header=False).encode()
    s3.put_object(Bucket=bucket_a, Key=f"batch/bad-{run}/input/c.csv", Body=bad)
    with pytest.raises(
        BatchScoringError, match=r"Failed: ClientError: .*line 5 of s3://.*Day Mins"
    ):
        batch.run_transform(
            session,
            f"mt-bad-{run}",
            model_a,
            f"s3://{bucket_a}/batch/bad-{run}/input/",
            f"s3://{bucket_a}/batch/bad-{run}/output",
            "text/csv",
            progress=False,
        )
