"""Pipeline executions really run: definitions built with the SageMaker SDK v3, over HTTP."""

from __future__ import annotations

import textwrap
import time
import uuid

import boto3
import pytest
from compute_helpers import SKLEARN_IMAGE, XGBOOST_IMAGE, job_log, make_bucket_and_role

# real pipelines with real jobs
pytestmark = pytest.mark.slow

SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
INSTANCE = "ml.m5.large"

PREPARE = """
    import argparse, os, numpy as np
    p = argparse.ArgumentParser(); p.add_argument("--rows", type=int); a = p.parse_args()
    rng = np.random.default_rng(7)
    x = rng.normal(size=(a.rows, 3)); y = (x[:, 0] - x[:, 1] > 0).astype(int)
    data = np.column_stack([y, x]); cut = int(0.75 * a.rows)
    for part, rows in (("train", data[:cut]), ("validation", data[cut:])):
        np.savetxt(f"/opt/ml/processing/{part}/{part}.csv", rows, delimiter=",", fmt="%.6f")
"""
TRAIN = """
    import argparse, os, numpy as np, xgboost as xgb
    p = argparse.ArgumentParser(); p.add_argument("--max_depth", type=int); a = p.parse_args()
    data = np.loadtxt(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "train.csv"), delimiter=",")
    booster = xgb.train({"objective": "binary:logistic", "max_depth": a.max_depth},
                        xgb.DMatrix(data[:, 1:], label=data[:, 0]), num_boost_round=10)
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model"))
    print("trained with", len(data), "rows")
"""
EVALUATE = """
    import json, os, tarfile, numpy as np, xgboost as xgb
    with tarfile.open("/opt/ml/processing/model/model.tar.gz") as tar:
        tar.extractall("/tmp/model-" + str(os.getpid()))
    booster = xgb.Booster()
    booster.load_model("/tmp/model-" + str(os.getpid()) + "/xgboost-model")
    data = np.loadtxt("/opt/ml/processing/validation/validation.csv", delimiter=",")
    accuracy = float(((booster.predict(xgb.DMatrix(data[:, 1:])) > 0.5) == data[:, 0]).mean())
    with open("/opt/ml/processing/evaluation/evaluation.json", "w") as fh:
        json.dump({"metrics": {"accuracy": {"value": accuracy}}}, fh)
    print("accuracy", accuracy)
"""


@pytest.fixture
def tenant(localaws, clients):
    return make_bucket_and_role(clients, "h3pipe")


@pytest.fixture
def session(localaws, monkeypatch, tenant):
    """A SageMaker SDK PipelineSession whose default bucket is the tenant's."""
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    # The SDK re-validates its config against a large JSON schema at every look-up (seconds
    # per definition); validate ours once.
    SageMakerConfig.validate_sagemaker_config(SDK_CONFIG)
    monkeypatch.setattr(
        SageMakerConfig,
        "validate_sagemaker_config",
        staticmethod(lambda sagemaker_config=None: None),
    )

    return PipelineSession(
        boto_session=boto3.Session(region_name="us-east-1"),
        default_bucket=tenant[0],
        sagemaker_config=SDK_CONFIG,
    )


def processing_step(
    session, role, tmp_path, name, body, inputs=(), outputs=(), arguments=None, **kw
):
    """A ProcessingStep running `body` (written to tmp_path) on the scikit-learn image."""
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.mlops.workflow.steps import ProcessingStep

    code = tmp_path / f"{name.lower()}.py"
    code.write_text(textwrap.dedent(body))
    processor = ScriptProcessor(
        image_uri=SKLEARN_IMAGE,
        command=["python3"],
        role=role,
        instance_count=1,
        instance_type=INSTANCE,
        sagemaker_session=session,
    )
    args = processor.run(
        code=str(code),
        inputs=[
            ProcessingInput(
                input_name=n,
                s3_input=ProcessingS3Input(
                    s3_uri=uri,
                    local_path=f"/opt/ml/processing/{n}",
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                ),
            )
            for n, uri in inputs
        ],
        outputs=[
            ProcessingOutput(
                output_name=n,
                s3_output=ProcessingS3Output(
                    s3_uri=uri, local_path=f"/opt/ml/processing/{n}", s3_upload_mode="EndOfJob"
                ),
            )
            for n, uri in outputs
        ],
        arguments=arguments,
    )
    return ProcessingStep(name=name, step_args=args, **kw)


def model_pipeline(session, tenant, tmp_path, name):
    """prepare -> train (ModelTrainer script mode) -> evaluate -> accuracy >= Threshold ?
    register a model version : fail with the accuracy."""
    from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import (
        ParameterFloat,
        ParameterInteger,
        ParameterString,
    )
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import TrainingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData, SourceCode

    bucket, role = tenant
    threshold = ParameterFloat(name="Threshold", default_value=0.5)
    rows = ParameterInteger(name="Rows", default_value=400)
    group = ParameterString(name="ModelPackageGroup", default_value=f"{name}-models")
    out = Join(on="/", values=[f"s3://{bucket}/runs", ExecutionVariables.PIPELINE_EXECUTION_ID])
    prepare = processing_step(
        session,
        role,
        tmp_path,
        "Prepare",
        PREPARE,
        outputs=[(part, Join(on="/", values=[out, part])) for part in ("train", "validation")],
        arguments=["--rows", rows.to_string()],
    )
    source = tmp_path / "train_src"
    source.mkdir()
    (source / "train.py").write_text(textwrap.dedent(TRAIN))
    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE,
        role=role,
        sagemaker_session=session,
        base_job_name=name,
        source_code=SourceCode(source_dir=str(source), entry_script="train.py"),
        compute=Compute(instance_type=INSTANCE, instance_count=1),
        hyperparameters={"max_depth": 3},
    )
    outputs = prepare.properties.ProcessingOutputConfig.Outputs
    train = TrainingStep(
        name="Train",
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source=outputs["train"].S3Output.S3Uri)
            ]
        ),
    )
    evaluation = PropertyFile(name="Evaluation", output_name="evaluation", path="evaluation.json")
    evaluate = processing_step(
        session,
        role,
        tmp_path,
        "Evaluate",
        EVALUATE,
        inputs=[
            ("model", train.properties.ModelArtifacts.S3ModelArtifacts),
            ("validation", outputs["validation"].S3Output.S3Uri),
        ],
        outputs=[("evaluation", Join(on="/", values=[out, "evaluation"]))],
        property_files=[evaluation],
    )
    accuracy = JsonGet(
        step_name=evaluate.name, property_file=evaluation, json_path="metrics.accuracy.value"
    )
    builder = ModelBuilder(
        s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
        image_uri=XGBOOST_IMAGE,
        role_arn=role,
        sagemaker_session=session,
    )
    register = ModelStep(
        name="Register",
        step_args=builder.register(
            model_package_group_name=group,
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=[INSTANCE],
            transform_instances=[INSTANCE],
            approval_status="PendingManualApproval",
        ),
    )
    model = ModelStep(
        name="CreateModel",
        step_args=ModelBuilder(
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            image_uri=XGBOOST_IMAGE,
            role_arn=role,
            sagemaker_session=session,
        ).build(),
    )
    fail = FailStep(
        name="TooInaccurate",
        error_message=Join(on=" ", values=["accuracy", accuracy, "is below", threshold]),
    )
    check = ConditionStep(
        name="Check",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=threshold)],
        if_steps=[register, model],
        else_steps=[fail],
    )
    return Pipeline(
        name=name,
        parameters=[threshold, rows, group],
        steps=[prepare, train, evaluate, check],
        sagemaker_session=session,
    )


def start(sm, pipeline, role, parameters=None) -> str:
    pipeline.upsert(role_arn=role)
    return sm.start_pipeline_execution(
        PipelineName=pipeline.name,
        PipelineParameters=[{"Name": k, "Value": str(v)} for k, v in (parameters or {}).items()],
    )["PipelineExecutionArn"]


def wait(sm, arn, timeout=180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if execution["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            return execution
        time.sleep(0.25)
    raise AssertionError(f"pipeline execution {arn} still running after {timeout}s")


def steps(sm, arn) -> dict[str, dict]:
    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return {s["StepName"]: s for s in listed}


@pytest.mark.slow
def test_sdk_pipeline_registers_a_model_or_fails_on_the_condition(
    clients, session, tenant, tmp_path
):
    bucket, role = tenant
    sm = clients("sagemaker")
    name = f"h3-model-{bucket[-8:]}"
    sm.create_model_package_group(ModelPackageGroupName=f"{name}-models")
    pipeline = model_pipeline(session, tenant, tmp_path, name)

    arn = start(sm, pipeline, role, {"Rows": 300})
    execution = wait(sm, arn)
    listed = steps(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Succeeded", execution.get("FailureReason")
    assert set(listed) == {"Prepare", "Train", "Evaluate", "Check", "Register", "CreateModel"}, (
        sorted(listed)
    )
    assert all(s["StepStatus"] == "Succeeded" for s in listed.values())
    assert listed["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    training_arn = listed["Train"]["Metadata"]["TrainingJob"]["Arn"]
    assert (
        listed["Prepare"]["Metadata"]["ProcessingJob"]["Arn"]
        .split("/")[-1]
        .startswith(f"pipelines-{arn.split('/')[-1]}-Prepare-")
    )
    training = sm.describe_training_job(TrainingJobName=training_arn.split("/")[-1])
    assert "trained with 225 rows" in job_log(
        clients("logs"), "training", training["TrainingJobName"]
    )
    package_arn = listed["Register"]["Metadata"]["RegisterModel"]["Arn"]
    package = sm.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert (
        package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        == training["ModelArtifacts"]["S3ModelArtifacts"]
    )
    evaluation = (
        clients("s3")
        .get_object(Bucket=bucket, Key=f"runs/{arn.split('/')[-1]}/evaluation/evaluation.json")[
            "Body"
        ]
        .read()
    )
    assert b'"accuracy"' in evaluation

    arn = start(sm, pipeline, role, {"Threshold": 1.01})
    execution = wait(sm, arn)
    listed = steps(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Failed"
    assert "TooInaccurate" in execution["FailureReason"]
    assert set(listed) == {"Prepare", "Train", "Evaluate", "Check", "TooInaccurate"}
    assert listed["Check"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    message = listed["TooInaccurate"]["Metadata"]["Fail"]["ErrorMessage"]
    assert message.startswith("accuracy 0.") and message.endswith("is below 1.01")
    assert listed["TooInaccurate"]["StepStatus"] == "Failed"
    versions = sm.list_model_packages(ModelPackageGroupName=f"{name}-models")[
        "ModelPackageSummaryList"
    ]
    assert len(versions) == 1


def test_failed_step_reports_its_error_and_a_retry_after_the_fix_succeeds(
    clients, session, tenant, tmp_path
):
    from sagemaker.mlops.workflow.pipeline import Pipeline

    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=bucket, Key="data/raw/data.csv", Body=b"a,b\n1,2\n")
    step = processing_step(
        session,
        role,
        tmp_path,
        "Check",
        """
        import pandas as pd
        df = pd.read_csv("/opt/ml/processing/data/data.csv")
        if "label" not in df.columns:
            raise KeyError("input data has no 'label' column")
        df.to_csv("/opt/ml/processing/checked/data.csv", index=False)
    """,
        inputs=[("data", f"s3://{bucket}/data/raw")],
        outputs=[("checked", f"s3://{bucket}/checked")],
    )
    pipeline = Pipeline(name=f"h3-retry-{bucket[-8:]}", steps=[step], sagemaker_session=session)
    arn = start(sm, pipeline, role)
    execution = wait(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Failed"
    assert "input data has no 'label' column" in execution["FailureReason"]
    failed = steps(sm, arn)["Check"]
    assert failed["StepStatus"] == "Failed" and "'label' column" in failed["FailureReason"]
    job_name = failed["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    assert any("KeyError" in line for line in job_log(clients("logs"), "processing", job_name))

    s3.put_object(Bucket=bucket, Key="data/raw/data.csv", Body=b"label,b\n1,2\n")
    sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=str(uuid.uuid4()))
    execution = wait(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Succeeded", execution
    retried = steps(sm, arn)["Check"]
    assert retried["StepStatus"] == "Succeeded"
    assert retried["Metadata"]["ProcessingJob"]["Arn"] != failed["Metadata"]["ProcessingJob"]["Arn"]
    assert s3.get_object(Bucket=bucket, Key="checked/data.csv")["Body"].read() == b"label,b\n1,2\n"


def test_parallel_steps_depends_on_execution_variables_and_cache(
    clients, session, tenant, tmp_path
):
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import CacheConfig

    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    sleeper = """
        import time
        time.sleep(1.5)
        open("/opt/ml/processing/out/done.txt", "w").write("done")
    """
    left = processing_step(
        session,
        role,
        tmp_path,
        "Left",
        sleeper,
        outputs=[("out", f"s3://{bucket}/left")],
        cache_config=CacheConfig(enable_caching=True, expire_after="P1D"),
    )
    right = processing_step(
        session, role, tmp_path, "Right", sleeper, outputs=[("out", f"s3://{bucket}/right")]
    )
    last = processing_step(
        session,
        role,
        tmp_path,
        "Last",
        """
        import sys
        open("/opt/ml/processing/out/args.txt", "w").write(" ".join(sys.argv[1:]))
    """,
        outputs=[("out", f"s3://{bucket}/last")],
        depends_on=[left, right],
        arguments=[
            "--run",
            Join(
                on=":",
                values=[ExecutionVariables.PIPELINE_NAME, ExecutionVariables.PIPELINE_EXECUTION_ID],
            ),
        ],
    )
    pipeline = Pipeline(
        name=f"h3-par-{bucket[-8:]}", steps=[left, right, last], sagemaker_session=session
    )
    first = start(sm, pipeline, role)
    assert wait(sm, first)["PipelineExecutionStatus"] == "Succeeded"
    listed = steps(sm, first)
    assert listed["Left"]["StartTime"] < listed["Right"]["EndTime"]
    assert listed["Right"]["StartTime"] < listed["Left"]["EndTime"]
    assert listed["Last"]["StartTime"] >= max(listed["Left"]["EndTime"], listed["Right"]["EndTime"])
    assert (
        s3.get_object(Bucket=bucket, Key="last/args.txt")["Body"].read().decode()
        == f"--run {pipeline.name}:{first.split('/')[-1]}"
    )

    second = start(sm, pipeline, role)
    assert wait(sm, second)["PipelineExecutionStatus"] == "Succeeded"
    listed2 = steps(sm, second)
    assert listed2["Left"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert listed2["Left"]["Metadata"] == listed["Left"]["Metadata"]
    assert "CacheHitResult" not in listed2["Right"]


def test_retry_policy_reruns_a_job_whose_process_died(clients, session, tenant, tmp_path):
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.retry import (
        SageMakerJobExceptionTypeEnum,
        SageMakerJobStepRetryPolicy,
    )

    bucket, role = tenant
    sm = clients("sagemaker")
    step = processing_step(
        session,
        role,
        tmp_path,
        "Flaky",
        f"""
        import os, signal, boto3
        s3 = boto3.client("s3")
        if "Contents" not in s3.list_objects_v2(Bucket="{bucket}", Prefix="marker"):
            s3.put_object(Bucket="{bucket}", Key="marker", Body=b"1")
            os.kill(os.getpid(), signal.SIGKILL)
        print("second attempt")
    """,
        retry_policies=[
            SageMakerJobStepRetryPolicy(
                exception_types=[SageMakerJobExceptionTypeEnum.INTERNAL_ERROR],
                interval_seconds=1,
                backoff_rate=1.0,
                max_attempts=2,
            )
        ],
    )
    pipeline = Pipeline(name=f"h3-flaky-{bucket[-8:]}", steps=[step], sagemaker_session=session)
    arn = start(sm, pipeline, role)
    execution = wait(sm, arn)
    listed = steps(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Succeeded", listed
    assert listed["Flaky"]["AttemptCount"] == 2


def test_stop_pipeline_execution_stops_the_running_job(clients, session, tenant, tmp_path):
    from sagemaker.mlops.workflow.pipeline import Pipeline

    bucket, role = tenant
    sm = clients("sagemaker")
    step = processing_step(session, role, tmp_path, "Sleep", "import time\ntime.sleep(120)\n")
    pipeline = Pipeline(name=f"h3-stop-{bucket[-8:]}", steps=[step], sagemaker_session=session)
    arn = start(sm, pipeline, role)
    deadline = time.time() + 60
    while (
        "Metadata" not in steps(sm, arn).get("Sleep", {}) or not steps(sm, arn)["Sleep"]["Metadata"]
    ):
        assert time.time() < deadline
        time.sleep(0.2)
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=str(uuid.uuid4()))
    assert wait(sm, arn, timeout=30)["PipelineExecutionStatus"] == "Stopped"
    stopped = steps(sm, arn)["Sleep"]
    assert stopped["StepStatus"] == "Stopped"
    job = sm.describe_processing_job(
        ProcessingJobName=stopped["Metadata"]["ProcessingJob"]["Arn"].split("/")[-1]
    )
    assert job["ProcessingJobStatus"] == "Stopped"


def test_unsupported_step_type_and_bad_parameters(clients, tenant):
    import json

    bucket, role = tenant
    sm = clients("sagemaker")
    name = f"h3-bad-{bucket[-8:]}"
    definition = {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "N", "Type": "Integer", "DefaultValue": 1}],
        "Steps": [{"Name": "Score", "Type": "EMR", "Arguments": {}}],
    }
    sm.create_pipeline(PipelineName=name, RoleArn=role, PipelineDefinition=json.dumps(definition))
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    execution = wait(sm, arn)
    assert execution["PipelineExecutionStatus"] == "Failed"
    assert "'EMR'" in execution["FailureReason"] and "not support" in execution["FailureReason"]
    with pytest.raises(sm.exceptions.ClientError, match="Cannot retry.*'EMR'"):
        sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=str(uuid.uuid4()))
    with pytest.raises(sm.exceptions.ClientError, match="must be of type Integer"):
        sm.start_pipeline_execution(
            PipelineName=name, PipelineParameters=[{"Name": "N", "Value": "many"}]
        )
    with pytest.raises(sm.exceptions.ClientError, match="'Other' is not declared"):
        sm.start_pipeline_execution(
            PipelineName=name, PipelineParameters=[{"Name": "Other", "Value": "1"}]
        )
