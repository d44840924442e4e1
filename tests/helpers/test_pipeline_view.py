"""helpers.pipeline_view: the step table of notebook 02, read from the real pipeline definition
(built by the SDK, and as SageMaker describes it after `upsert`)."""

from __future__ import annotations

import re

import pytest

from helpers import pipeline, pipeline_view
from helpers.session import connect

# the SDK builds and uploads the pipeline once per module: tens of seconds
pytestmark = pytest.mark.slow
ROLE = "arn:aws:iam::123456789012:role/mt-pipeline"


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


@pytest.fixture(scope="module")
def definition(session):
    """The definition `upsert` sends (job code uploaded to the code bucket)."""
    pipeline.upsert(session, role_arn=ROLE)
    bucket = pipeline.code_bucket(session.account_id, session.region)
    return pipeline.definition(session.boto_session, bucket, session.region)


def rows(table):
    return {row["step"]: row for row in table.to_dict("records")}


def test_one_row_per_step_in_execution_order(definition):
    table = pipeline_view.steps_table(definition)
    assert list(table.columns) == pipeline_view.COLUMNS
    assert list(table["step"]) == list(pipeline.STEP_ORDER)
    assert list(table["type"]) == [
        "Processing",
        "Training",
        "Processing",
        "Condition",
        "RegisterModel",
        "Fail",
    ]
    after = dict(zip(table["step"], table["after"], strict=True))
    assert after == {
        "Preprocess": "-",
        "Train": "Preprocess",
        "Evaluate": "Preprocess, Train",
        "CheckAccuracy": "Evaluate",
        "RegisterModel": "CheckAccuracy",
        "AccuracyTooLow": "CheckAccuracy",
    }


def test_each_step_names_what_it_runs_on_which_image_and_its_data(definition):
    steps = rows(pipeline_view.steps_table(definition))
    assert steps["Preprocess"]["runs"] == "python3 preprocess.py"
    assert re.fullmatch(
        r"sagemaker-scikit-learn:\d+\.\d+-\d+-cpu-py3", steps["Preprocess"]["image"]
    )
    xgboost = steps["Train"]["image"]
    assert re.fullmatch(r"sagemaker-xgboost:\d+\.\d+-\d+", xgboost)
    data, lib = steps["Preprocess"]["inputs"].splitlines()
    assert data == "data: {InputDataUrl}"
    code = r"s3://[a-z0-9-]+/sm-multitenant-model-build-pipeline/code"
    assert re.fullmatch(rf"lib: {code}/lib/\w+", lib)
    assert steps["Preprocess"]["outputs"].splitlines() == [
        f"{n}: s3://{{TenantBucket}}/pipeline/{{ExecutionId}}/{n}"
        for n in ("train", "validation", "test")
    ]
    assert steps["Train"]["inputs"].splitlines() == [
        "train: Preprocess.train",
        "validation: Preprocess.validation",
    ]
    assert steps["Train"]["outputs"] == "model: s3://{TenantBucket}/pipeline/{ExecutionId}/model"
    assert "max_depth={MaxDepth}" in steps["Train"]["decides / registers"]
    assert steps["Evaluate"]["runs"] == "python3 evaluate.py"
    assert steps["Evaluate"]["image"] == steps["RegisterModel"]["image"] == xgboost
    assert steps["Evaluate"]["inputs"].splitlines() == [
        "model: Train.model",
        "test: Preprocess.test",
    ]
    assert steps["Evaluate"]["decides / registers"] == "report EvaluationReport = evaluation.json"


def test_condition_threshold_and_registration_with_execution_values(definition):
    parameters = [
        {"Name": "AccuracyThreshold", "Value": "0.85"},
        {"Name": "ModelPackageGroupName", "Value": "mt-acme"},
    ]
    steps = rows(pipeline_view.steps_table(definition, parameters))
    report = "Evaluate.EvaluationReport: "
    accuracy = report + "binary_classification_metrics.accuracy.value"
    assert steps["CheckAccuracy"]["decides / registers"].splitlines() == [
        f"if {accuracy} >= AccuracyThreshold (0.85) and",
        f"{accuracy} > {report}binary_classification_metrics.majority_baseline_accuracy.value and",
        f"{report}test_classes >= 2",
        "then RegisterModel",
        "else AccuracyTooLow",
    ]
    assert steps["RegisterModel"]["decides / registers"].splitlines() == [
        "a version in ModelPackageGroupName (mt-acme)",
        "status ModelApprovalStatus (PendingManualApproval)",  # the definition's default
        "metrics Evaluate.evaluation/evaluation.json",
    ]
    assert steps["RegisterModel"]["inputs"] == "model: Train.model"
    assert steps["AccuracyTooLow"]["decides / registers"].startswith(
        "Model not registered for tenant {TenantId}: accuracy "
        "{Evaluate.EvaluationReport: binary_classification_metrics.accuracy.value}"
    )


def test_described_pipeline_names_the_training_script(session, definition):
    table = pipeline_view.described_steps_table(session, pipeline.PIPELINE_NAME)
    steps = rows(table)
    version = steps["Train"]["image"].split(":")[1]
    assert steps["Train"]["runs"] == f"train.py on xgboost {version} (script mode)"
    # without S3 access the table still builds, naming the code channel instead
    assert rows(pipeline_view.steps_table(definition))["Train"]["runs"].startswith(
        "the code channel on xgboost"
    )
    html = pipeline_view.styled(table).data
    assert "pre-wrap" in html and "AccuracyTooLow" in html and "&gt;=" in html
