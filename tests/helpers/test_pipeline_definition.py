"""The pipeline definition the SageMaker SDK v3 builds: steps, parameters, conditions, and
arguments that botocore's request models for the real services accept."""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.validate import ParamValidator

from helpers import pipeline

ROLE = "arn:aws:iam::123456789012:role/mt-tenant-acme"
SAMPLE = {
    "Parameters.TenantId": "acme",
    "Parameters.TenantRoleArn": ROLE,
    "Parameters.TenantBucket": "mt-acme-123456789012-us-east-1",
    "Parameters.InputDataUrl": "s3://mt-acme-123456789012-us-east-1/data/raw/churn.csv",
    "Parameters.ModelPackageGroupName": "mt-acme",
    "Parameters.AccuracyThreshold": 0.8,
    "Parameters.ModelApprovalStatus": "PendingManualApproval",
    "Parameters.MaxDepth": 5,
    "Parameters.Eta": 0.2,
    "Parameters.NumRound": 50,
    "Execution.PipelineExecutionId": "abc123",
}


@pytest.fixture(scope="module")
def built(localaws):
    """(definition dict, code bucket) built against localaws, as `upsert` would build it."""
    session = boto3.Session(region_name="us-east-1")
    account = session.client("sts").get_caller_identity()["Account"]
    bucket = pipeline.code_bucket(account, "us-east-1")
    s3 = session.client("s3")
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    return pipeline.definition(session, bucket, "us-east-1"), bucket


def resolve(value):
    """Substitute pipeline expressions with sample runtime values (as the service would)."""
    if isinstance(value, dict):
        if set(value) == {"Get"}:
            ref = value["Get"]
            if ref in SAMPLE:
                return SAMPLE[ref]
            assert ref.startswith("Steps."), ref
            return "s3://mt-acme-123456789012-us-east-1/pipeline/abc123/x"
        if set(value) == {"Std:Join"}:
            join = value["Std:Join"]
            return join["On"].join(str(resolve(v)) for v in join["Values"])
        if set(value) == {"Std:JsonGet"}:
            return 0.8
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def validate(operation: str, params: dict) -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


def steps_by_name(definition: dict) -> dict:
    out = {}
    for step in definition["Steps"]:
        out[step["Name"]] = step
        for branch in ("IfSteps", "ElseSteps"):
            for inner in step.get("Arguments", {}).get(branch, []):
                out[inner["Name"]] = inner
    return out


@pytest.mark.slow
def test_parameters_and_defaults(built):
    definition, _ = built
    assert definition["Version"] == "2020-12-01"
    params = {p["Name"]: p for p in definition["Parameters"]}
    assert set(params) == {k.split(".")[1] for k in SAMPLE if k.startswith("Parameters.")}
    assert params["ModelApprovalStatus"]["DefaultValue"] == "PendingManualApproval"
    assert params["AccuracyThreshold"] == {
        "Name": "AccuracyThreshold",
        "Type": "Float",
        "DefaultValue": 0.8,
    }
    assert params["MaxDepth"]["Type"] == "Integer"


@pytest.mark.slow
def test_steps_chain_and_types(built):
    definition, _ = built
    steps = steps_by_name(definition)
    assert [s["Name"] for s in definition["Steps"]] == [
        "Preprocess",
        "Train",
        "Evaluate",
        "CheckAccuracy",
    ]
    assert {n: s["Type"] for n, s in steps.items()} == {
        "Preprocess": "Processing",
        "Train": "Training",
        "Evaluate": "Processing",
        "CheckAccuracy": "Condition",
        "RegisterModel": "RegisterModel",
        "AccuracyTooLow": "Fail",
    }
    train_channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in steps["Train"]["Arguments"]["InputDataConfig"]
    }
    assert train_channels["train"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }
    evaluate_inputs = {
        i["InputName"]: i["S3Input"]["S3Uri"]
        for i in steps["Evaluate"]["Arguments"]["ProcessingInputs"]
    }
    assert evaluate_inputs["model"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    images = {
        n: steps[n]["Arguments"]["AppSpecification"]["ImageUri"] for n in ("Preprocess", "Evaluate")
    }
    assert "/sagemaker-scikit-learn:" in images["Preprocess"]
    assert "/sagemaker-xgboost:" in images["Evaluate"]  # it loads the model: needs xgboost
    assert (
        "/sagemaker-xgboost:"
        in steps["Train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]
    )
    assert steps["Evaluate"]["PropertyFiles"] == [
        {
            "PropertyFileName": "EvaluationReport",
            "OutputName": "evaluation",
            "FilePath": "evaluation.json",
        }
    ]


@pytest.mark.slow
def test_every_job_runs_under_the_tenant_role_and_writes_to_the_tenant_bucket(built):
    definition, _ = built
    steps = steps_by_name(definition)
    for name in ("Preprocess", "Train", "Evaluate"):
        assert steps[name]["Arguments"]["RoleArn"] == {"Get": "Parameters.TenantRoleArn"}
    args = resolve(steps["Preprocess"]["Arguments"])
    for output in args["ProcessingOutputConfig"]["Outputs"]:
        assert output["S3Output"]["S3Uri"].startswith(
            "s3://mt-acme-123456789012-us-east-1/pipeline/abc123/"
        )
    assert resolve(steps["Train"]["Arguments"])["OutputDataConfig"]["S3OutputPath"] == (
        "s3://mt-acme-123456789012-us-east-1/pipeline/abc123/model"
    )


@pytest.mark.slow
def test_condition_register_and_fail_message(built):
    definition, _ = built
    steps = steps_by_name(definition)
    condition, baseline, classes = steps["CheckAccuracy"]["Arguments"]["Conditions"]
    assert condition["Type"] == "GreaterThanOrEqualTo"
    accuracy = {
        "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
        "Path": "binary_classification_metrics.accuracy.value",
    }
    assert condition["LeftValue"]["Std:JsonGet"] == accuracy
    assert condition["RightValue"] == {"Get": "Parameters.AccuracyThreshold"}
    # ... and strictly above always answering the majority class, with both classes tested
    assert baseline["Type"] == "GreaterThan" and baseline["LeftValue"]["Std:JsonGet"] == accuracy
    assert baseline["RightValue"]["Std:JsonGet"]["Path"] == (
        "binary_classification_metrics.majority_baseline_accuracy.value"
    )
    assert classes["Type"] == "GreaterThanOrEqualTo" and classes["RightValue"] == 2
    assert classes["LeftValue"]["Std:JsonGet"]["Path"] == "test_classes"
    register = steps["RegisterModel"]["Arguments"]
    assert register["ModelPackageGroupName"] == {"Get": "Parameters.ModelPackageGroupName"}
    assert register["ModelApprovalStatus"] == {"Get": "Parameters.ModelApprovalStatus"}
    metadata = register["CustomerMetadataProperties"]
    assert metadata["tenant-id"] == {"Get": "Parameters.TenantId"}
    assert resolve(metadata["input-schema"]).endswith("/preprocessing.json")
    assert "text/csv" in metadata["input-content-types"]
    for key, value in metadata.items():  # CustomerMetadataProperties' documented constraints
        assert len(key) <= 128 and len(str(resolve(value))) <= 256
        assert re.fullmatch(r"[\w\s.:/=+\-@]+", f"{key}{resolve(value)}"), (key, value)
    stats = resolve(register["ModelMetrics"]["ModelQuality"]["Statistics"])
    assert stats["S3Uri"].endswith("/evaluation.json")
    (container,) = register["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    message = resolve(steps["AccuracyTooLow"]["Arguments"]["ErrorMessage"])
    assert message == (
        "Model not registered for tenant acme: accuracy 0.8 is below the threshold 0.8 by 0.8"
        " or does not beat the majority-class baseline 0.8 (classes in the test split: 0.8)"
    )
    paths = [
        v["Std:JsonGet"]["Path"]
        for v in steps["AccuracyTooLow"]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
        if isinstance(v, dict) and "Std:JsonGet" in v
    ]
    assert paths == [
        "binary_classification_metrics.accuracy.value",
        "threshold_check.shortfall",
        "binary_classification_metrics.majority_baseline_accuracy.value",
        "test_classes",
    ]


@pytest.mark.slow
def test_step_arguments_are_valid_service_requests(built):
    definition, _ = built
    steps = steps_by_name(definition)
    for name in ("Preprocess", "Evaluate"):
        validate(
            "CreateProcessingJob", {"ProcessingJobName": "x", **resolve(steps[name]["Arguments"])}
        )
    validate("CreateTrainingJob", {"TrainingJobName": "x", **resolve(steps["Train"]["Arguments"])})
    validate("CreateModelPackage", resolve(steps["RegisterModel"]["Arguments"]))
    hps = resolve(steps["Train"]["Arguments"])["HyperParameters"]
    assert all(isinstance(v, str) for v in hps.values()) and hps["max_depth"] == "5"


@pytest.mark.slow
def test_job_code_is_uploaded_under_the_code_prefix_tenant_roles_may_read(built):
    definition, bucket = built
    steps = steps_by_name(definition)
    s3 = boto3.Session().client("s3", region_name="us-east-1")
    code_inputs = [
        i["S3Input"]["S3Uri"]
        for n in ("Preprocess", "Evaluate")
        for i in steps[n]["Arguments"]["ProcessingInputs"]
        if i["InputName"] == "code"
    ]
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in steps["Train"]["Arguments"]["InputDataConfig"]
    }
    prefix = f"s3://{bucket}/{pipeline.code_prefix()}/"
    uris = [*code_inputs, channels["code"], channels["sm_drivers"]]
    assert all(u.startswith(prefix) for u in uris)
    for uri in code_inputs:
        key = uri.removeprefix(f"s3://{bucket}/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body == (pipeline.STEPS_DIR / Path(key).name).read_bytes()
    train_code = channels["code"].removeprefix(f"s3://{bucket}/")
    keys = {
        o["Key"].rsplit("/", 1)[-1]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=train_code)["Contents"]
    }
    assert {"train.py", "inference.py"} <= keys and not any(k.endswith(".pyc") for k in keys)


@pytest.mark.slow
def test_preprocess_gets_the_shared_modules_it_imports_as_a_second_code_input(built):
    definition, bucket = built
    inputs = {
        i["InputName"]: i["S3Input"]
        for i in steps_by_name(definition)["Preprocess"]["Arguments"]["ProcessingInputs"]
    }
    lib = inputs["lib"]
    assert lib["LocalPath"] == pipeline.LIB_DIR == "/opt/ml/processing/input/lib"
    assert lib["S3Uri"].startswith(f"s3://{bucket}/{pipeline.code_prefix()}/lib/")
    s3 = boto3.Session().client("s3", region_name="us-east-1")
    prefix = lib["S3Uri"].removeprefix(f"s3://{bucket}/")
    shipped = {
        o["Key"].rsplit("/", 1)[-1]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")["Contents"]
    }
    assert shipped == {n: (pipeline.STEPS_DIR / n).read_bytes() for n in pipeline.SHARED_MODULES}
    source = (pipeline.STEPS_DIR / "preprocess.py").read_text()
    imported = {f"{m}.py" for m in ("churn_schema", "churn_features") if f"import {m}" in source}
    assert imported == set(pipeline.SHARED_MODULES)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"max_depth": -3}, "hyperparameter max_depth=-3 is out of XGBoost's bounds"),
        ({"eta": 2}, "hyperparameter eta=2 is out of XGBoost's bounds"),
        ({"num_round": 0}, "hyperparameter num_round=0 is out of XGBoost's bounds"),
    ],
)
def test_bad_hyperparameters_fail_before_anything_is_written_or_started(
    localaws, hyperparameters, message
):
    session = boto3.Session(region_name="us-east-1")
    s3 = session.client("s3")
    bucket = "hp-check-nothing-written"
    s3.create_bucket(Bucket=bucket)
    target = pipeline.TenantTarget("acme", bucket, "mt-acme", ROLE)
    with pytest.raises(ValueError, match=message):
        pipeline.execution_parameters(target, hyperparameters=hyperparameters)
    with pytest.raises(ValueError, match=message):
        pipeline.definition(session, bucket, "us-east-1", hyperparameters=hyperparameters)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_parameters_for_a_tenant_and_bad_options():
    target = pipeline.TenantTarget("acme", "mt-acme-1-us-east-1", "mt-acme", ROLE)
    params = {
        p["Name"]: p["Value"]
        for p in pipeline.execution_parameters(
            target, accuracy_threshold=0.8, hyperparameters={"max_depth": 3}
        )
    }
    assert params == {
        "TenantId": "acme",
        "TenantRoleArn": ROLE,
        "TenantBucket": "mt-acme-1-us-east-1",
        "InputDataUrl": "s3://mt-acme-1-us-east-1/data/raw/churn.csv",
        "ModelPackageGroupName": "mt-acme",
        "AccuracyThreshold": "0.8",
        "MaxDepth": "3",
    }
    with pytest.raises(ValueError, match="accuracy_threshold must lie in"):
        pipeline.execution_parameters(target, accuracy_threshold=7)
    with pytest.raises(ValueError, match="approval_status must be one of"):
        pipeline.execution_parameters(target, approval_status="Yes")
    with pytest.raises(ValueError, match="'depth' is not a pipeline parameter"):
        pipeline.execution_parameters(target, hyperparameters={"depth": 3})


@pytest.mark.slow
def test_sdk_internals_we_replace_are_there_and_their_absence_is_one_clear_error(monkeypatch):
    from sagemaker.train.model_trainer import ModelTrainer

    from helpers.pipeline import sdk_workarounds

    sdk_workarounds.check_sdk()
    monkeypatch.delattr(ModelTrainer, "_resolve_staging_bucket")
    with pytest.raises(RuntimeError, match=r"ModelTrainer\._resolve_staging_bucket is missing"):
        sdk_workarounds.check_sdk()


@pytest.mark.slow
def test_the_build_context_restores_what_it_replaced():
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.mlops.workflow import steps
    from sagemaker.train.model_trainer import ModelTrainer

    from helpers.pipeline import sdk_workarounds

    before = [vars(ModelTrainer)["_resolve_staging_bucket"]]
    before.append(vars(SageMakerConfig)["validate_sagemaker_config"])
    before.append(steps.LocalSagemakerClient)
    with sdk_workarounds.sdk_build_context():
        assert vars(ModelTrainer)["_resolve_staging_bucket"] is not before[0]
        # the step builders read the same method name, without a local-mode session
        client = steps.LocalSagemakerClient()
        assert client is before[2]
        assert client.create_processing_job.__name__ == "create_processing_job"
    after = [
        vars(ModelTrainer)["_resolve_staging_bucket"],
        vars(SageMakerConfig)["validate_sagemaker_config"],
        steps.LocalSagemakerClient,
    ]
    assert after == before


@pytest.mark.slow
def test_the_sdks_first_import_leaves_the_root_logger_as_it_was():
    """The SDK's first import calls logging.basicConfig(level=INFO): without the build
    context's restore, botocore's INFO lines then reach stderr (a notebook cell printed one)."""
    import os
    import subprocess
    import sys

    probe = (
        "import logging\n"
        "from helpers.pipeline.sdk_workarounds import sdk_build_context\n"
        "import sys\n"
        "with sdk_build_context():\n"
        "    assert 'sagemaker.core.experiments._metrics' in sys.modules\n"
        "root = logging.getLogger()\n"
        "print(logging.getLevelName(root.level), len(root.handlers))\n"
        "logging.getLogger('botocore.configprovider').info('an INFO line')\n"
    )
    env = dict(os.environ, AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["WARNING", "0"]
    assert "an INFO line" not in done.stderr
