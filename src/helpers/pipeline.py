"""The per-tenant model build pipeline (SageMaker Python SDK v3): define, upsert, start, wait.

preprocess (ScriptProcessor, scikit-learn image) -> train (ModelTrainer, XGBoost framework
image, script mode) -> evaluate (ScriptProcessor, XGBoost image; evaluation.json property
file) -> accuracy >= threshold ? register a model version in the tenant's group : Fail with
the metric and the shortfall.

One pipeline serves every tenant: the tenant, its data, bucket, model package group and IAM
role are parameters of each execution, so every job of an execution runs under that tenant's
role and can reach only that tenant's resources.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PIPELINE_NAME = "sm-multitenant-model-build-pipeline"
STEPS_DIR = Path(__file__).resolve().parents[1] / "pipeline_steps"
SKLEARN_VERSION = "1.2-1"
XGBOOST_VERSION = "1.7-1"
INSTANCE_TYPE = "ml.m5.large"
# The SDK's own config: no telemetry calls from notebooks, CI or localaws runs.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
DEFAULT_HYPERPARAMETERS = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4.0,
    "min_child_weight": 6.0,
    "subsample": 0.8,
    "num_round": 50,
}
STEP_ORDER = ("Preprocess", "Train", "Evaluate", "CheckAccuracy", "RegisterModel", "AccuracyTooLow")
TERMINAL = {"Succeeded", "Failed", "Stopped"}


# ModelTrainer only takes a literal role; the step's request gets the parameter instead.
ROLE_PLACEHOLDER = "arn:aws:iam::000000000000:role/replaced-by-TenantRoleArn"


def _tenant_training_step_class():
    from sagemaker.mlops.workflow.steps import TrainingStep

    class TenantTrainingStep(TrainingStep):
        """A TrainingStep whose job role is a pipeline parameter (ModelTrainer wants a str)."""

        def __init__(self, role, **kwargs):
            super().__init__(**kwargs)
            self._role = role

        @property
        def arguments(self):
            request = super().arguments
            request["RoleArn"] = self._role
            return request

    return TenantTrainingStep


def code_bucket(account: str, region: str) -> str:
    """The platform bucket holding the pipeline's job code (the SDK's default bucket name)."""
    return f"sagemaker-{region}-{account}"


def code_prefix() -> str:
    """Key prefix of the job code in the code bucket; tenant roles need read access to it."""
    return f"{PIPELINE_NAME}/code"


@contextmanager
def _sdk_build_context() -> Iterator[None]:
    """While the SDK builds the definition: validate its config once, skip the staging-bucket
    IAM probe, and keep it quiet.

    The SDK re-validates a non-empty config against its large JSON schema at every config
    look-up (seconds per definition); ours (the telemetry opt-out) is constant. ModelTrainer
    asks IAM (SimulatePrincipalPolicy) whether the job role may write the default bucket before
    staging code; our role is a placeholder and the code always goes to the platform code
    bucket, which tenant roles may read, so the probe's answer is known.
    """
    root_level = logging.getLogger().level  # SDK modules call logging.basicConfig(INFO)
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.train.model_trainer import ModelTrainer

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    seen: set[str] = set()

    def validate_once(sagemaker_config=None):
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in seen:
            original.__func__(sagemaker_config)
            seen.add(key)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)
    staging = ModelTrainer.__dict__["_resolve_staging_bucket"]
    ModelTrainer._resolve_staging_bucket = lambda self: (
        self.sagemaker_session.default_bucket(),
        None,
    )
    # The SDK logs every config look-up, endpoint resolution and instance-type guess while it
    # builds, from loggers it sets to INFO/DEBUG itself: silence all of it for the build.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        logging.getLogger().setLevel(root_level)
        SageMakerConfig.validate_sagemaker_config = original
        ModelTrainer._resolve_staging_bucket = staging


def pipeline_session(boto_session, bucket: str):
    """A PipelineSession for building the definition: no role validation, no telemetry."""
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    return PipelineSession(
        boto_session=boto_session, default_bucket=bucket, sagemaker_config=SDK_CONFIG
    )


def build_pipeline(boto_session, bucket: str, region: str, hyperparameters: dict | None = None):
    """Return the SDK `Pipeline` object (not yet upserted); job code goes to `bucket`."""
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    from sagemaker.core import image_uris
    from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        OutputDataConfig,
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.training.configs import Compute, InputData, SourceCode
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
    from sagemaker.mlops.workflow.steps import ProcessingStep
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train.model_trainer import ModelTrainer

    session = pipeline_session(boto_session, bucket)
    TenantTrainingStep = _tenant_training_step_class()  # noqa: N806
    hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}

    tenant_id = ParameterString("TenantId", default_value="demo")
    role = ParameterString("TenantRoleArn")
    tenant_bucket = ParameterString("TenantBucket")
    input_data = ParameterString("InputDataUrl")
    group = ParameterString("ModelPackageGroupName")
    threshold = ParameterFloat("AccuracyThreshold", default_value=0.7)
    approval = ParameterString("ModelApprovalStatus", default_value="PendingManualApproval")
    max_depth = ParameterInteger("MaxDepth", default_value=int(hp["max_depth"]))
    eta = ParameterFloat("Eta", default_value=float(hp["eta"]))
    num_round = ParameterInteger("NumRound", default_value=int(hp["num_round"]))
    parameters = [
        tenant_id,
        role,
        tenant_bucket,
        input_data,
        group,
        threshold,
        approval,
        max_depth,
        eta,
        num_round,
    ]

    def s3_out(*parts: str):
        return Join(
            on="/",
            values=[
                "s3:/",
                tenant_bucket,
                "pipeline",
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                *parts,
            ],
        )

    sklearn_image = image_uris.retrieve(
        "sklearn", region, version=SKLEARN_VERSION, instance_type=INSTANCE_TYPE
    )
    xgboost_image = image_uris.retrieve("xgboost", region, version=XGBOOST_VERSION)

    def processor(base_name: str, image: str) -> ScriptProcessor:
        return ScriptProcessor(
            role=role,
            image_uri=image,
            command=["python3"],
            instance_type=INSTANCE_TYPE,
            instance_count=1,
            base_job_name=base_name,
            sagemaker_session=session,
            env={"TENANT_ID": tenant_id},
        )

    def p_in(name: str, source, local: str) -> ProcessingInput:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(
                s3_uri=source, local_path=local, s3_data_type="S3Prefix", s3_input_mode="File"
            ),
        )

    def p_out(name: str, local: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=s3_out(name), local_path=local, s3_upload_mode="EndOfJob"
            ),
        )

    preprocess = ProcessingStep(
        name="Preprocess",
        step_args=processor("mt-preprocess", sklearn_image).run(
            code=str(STEPS_DIR / "preprocess.py"),
            inputs=[p_in("data", input_data, "/opt/ml/processing/input/data")],
            outputs=[p_out(n, f"/opt/ml/processing/{n}") for n in ("train", "validation", "test")],
            arguments=[
                "--input-dir",
                "/opt/ml/processing/input/data",
                "--output-dir",
                "/opt/ml/processing",
                "--failure-file",
                "/opt/ml/output/message",
            ],
        ),
    )

    def split_uri(name: str):
        return preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    trainer = ModelTrainer(
        training_image=xgboost_image,
        source_code=SourceCode(
            source_dir=str(STEPS_DIR),
            entry_script="train.py",
            ignore_patterns=["__pycache__", "*.pyc"],
        ),
        compute=Compute(instance_type=INSTANCE_TYPE, instance_count=1),
        role=ROLE_PLACEHOLDER,  # replaced by the TenantRoleArn parameter (TenantTrainingStep)
        base_job_name="mt-train",
        # Hyperparameters are strings in CreateTrainingJob: numbers go through Std:Join.
        hyperparameters={
            "max_depth": max_depth.to_string(),
            "eta": eta.to_string(),
            "num_round": num_round.to_string(),
            "gamma": hp["gamma"],
            "min_child_weight": hp["min_child_weight"],
            "subsample": hp["subsample"],
        },
        output_data_config=OutputDataConfig(s3_output_path=s3_out("model")),
        environment={"TENANT_ID": tenant_id},
        sagemaker_session=session,
    )
    trainer.input_s3_key_prefix = code_prefix()
    train = TenantTrainingStep(
        role=role,
        name="Train",
        step_args=trainer.train(
            input_data_config=[
                InputData(channel_name="train", data_source=split_uri("train")),
                InputData(channel_name="validation", data_source=split_uri("validation")),
            ]
        ),
    )
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    evaluation = PropertyFile(
        name="EvaluationReport", output_name="evaluation", path="evaluation.json"
    )
    evaluate = ProcessingStep(
        name="Evaluate",
        # The XGBoost image: evaluation loads the model (the scikit-learn image has no xgboost).
        step_args=processor("mt-evaluate", xgboost_image).run(
            code=str(STEPS_DIR / "evaluate.py"),
            inputs=[
                p_in("model", model_data, "/opt/ml/processing/model"),
                p_in("test", split_uri("test"), "/opt/ml/processing/test"),
            ],
            outputs=[p_out("evaluation", "/opt/ml/processing/evaluation")],
            arguments=[
                "--model-dir",
                "/opt/ml/processing/model",
                "--test-dir",
                "/opt/ml/processing/test",
                "--output-dir",
                "/opt/ml/processing/evaluation",
                "--accuracy-threshold",
                threshold.to_string(),
            ],
        ),
        property_files=[evaluation],
    )
    accuracy = JsonGet(
        step_name=evaluate.name,
        property_file=evaluation,
        json_path="binary_classification_metrics.accuracy.value",
    )
    evaluation_uri = Join(
        on="/",
        values=[
            evaluate.properties.ProcessingOutputConfig.Outputs["evaluation"].S3Output.S3Uri,
            "evaluation.json",
        ],
    )

    builder = ModelBuilder(
        image_uri=xgboost_image,
        s3_model_data_url=model_data,
        role_arn=role,
        env_vars={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
        sagemaker_session=session,
    )
    register = ModelStep(
        name="RegisterModel",
        step_args=builder.register(
            model_package_group_name=group,
            content_types=["text/csv", "application/json"],
            response_types=["text/csv", "application/json"],
            inference_instances=[INSTANCE_TYPE],
            transform_instances=[INSTANCE_TYPE],
            approval_status=approval,
            model_metrics=ModelMetrics(
                model_statistics=MetricsSource(
                    content_type="application/json", s3_uri=evaluation_uri
                )
            ),
            customer_metadata_properties={"tenant-id": tenant_id},
        ),
    )
    shortfall = JsonGet(
        step_name=evaluate.name, property_file=evaluation, json_path="threshold_check.shortfall"
    )
    fail = FailStep(
        name="AccuracyTooLow",
        error_message=Join(
            on="",
            values=[
                "Model not registered for tenant ",
                tenant_id,
                ": accuracy ",
                accuracy,
                " is below the threshold ",
                threshold,
                " by ",
                shortfall,
            ],
        ),
    )
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[ConditionGreaterThanOrEqualTo(left=accuracy, right=threshold)],
        if_steps=[register],
        else_steps=[fail],
    )
    return Pipeline(
        name=PIPELINE_NAME,
        parameters=parameters,
        steps=[preprocess, train, evaluate, check],
        sagemaker_session=session,
        pipeline_experiment_config=None,
    )


# --- running it ---------------------------------------------------------------------------


def upsert(aws, role_arn: str | None = None, hyperparameters: dict | None = None) -> str:
    """Create or update the pipeline (job code goes to the platform code bucket); return its ARN.

    `role_arn` is the pipeline's own role (default: the stack's PipelineRoleArn output).
    """
    if role_arn is None:
        from helpers.stack import stack_outputs

        role_arn = stack_outputs(aws)["PipelineRoleArn"]
    bucket = code_bucket(aws.account_id, aws.region)
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
    except s3.exceptions.ClientError:
        kwargs = (
            {}
            if aws.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
        )
        s3.create_bucket(Bucket=bucket, **kwargs)
    with _sdk_build_context():
        pipeline = build_pipeline(aws.boto_session, bucket, aws.region, hyperparameters)
        response = pipeline.upsert(
            role_arn=role_arn,
            description="Per-tenant churn model build: preprocess, train, evaluate, register",
        )
    return response["PipelineArn"]


def definition(boto_session, bucket: str, region: str, hyperparameters: dict | None = None) -> dict:
    """The pipeline definition JSON as a dict (uploads the job code to `bucket`)."""
    with _sdk_build_context():
        return json.loads(
            build_pipeline(boto_session, bucket, region, hyperparameters).definition()
        )


@dataclass
class TenantTarget:
    """Where one tenant's execution reads and writes, from the tenant table item."""

    tenant_id: str
    bucket: str
    model_package_group: str
    role_arn: str

    @property
    def input_data_url(self) -> str:
        return f"s3://{self.bucket}/data/raw/churn.csv"


def tenant_target(aws, tenant_id: str, table_name: str = "allTenants") -> TenantTarget:
    """Read the tenant's bucket, model package group and role from the tenant table."""
    item = (
        aws.client("dynamodb")
        .get_item(TableName=table_name, Key={"tenant-name": {"S": tenant_id}}, ConsistentRead=True)
        .get("Item")
    )
    if not item:
        raise LookupError(f"tenant {tenant_id!r} is not in table {table_name!r}; create it first")
    missing = [a for a in ("tenant-bucket", "tenant-modelregistry", "tenant-role") if a not in item]
    if missing:
        raise LookupError(f"tenant {tenant_id!r} item lacks {missing}; is its creation finished?")
    return TenantTarget(
        tenant_id,
        item["tenant-bucket"]["S"],
        item["tenant-modelregistry"]["S"],
        item["tenant-role"]["S"],
    )


def execution_parameters(
    target: TenantTarget,
    accuracy_threshold: float | None = None,
    approval_status: str | None = None,
    hyperparameters: dict | None = None,
    input_data_url: str | None = None,
) -> list[dict]:
    """The StartPipelineExecution parameter list for one tenant."""
    values: dict[str, object] = {
        "TenantId": target.tenant_id,
        "TenantRoleArn": target.role_arn,
        "TenantBucket": target.bucket,
        "InputDataUrl": input_data_url or target.input_data_url,
        "ModelPackageGroupName": target.model_package_group,
    }
    if accuracy_threshold is not None:
        if not 0.0 <= float(accuracy_threshold) <= 1.0:
            raise ValueError(f"accuracy_threshold must lie in [0, 1], got {accuracy_threshold}")
        values["AccuracyThreshold"] = float(accuracy_threshold)
    if approval_status is not None:
        allowed = ("PendingManualApproval", "Approved", "Rejected")
        if approval_status not in allowed:
            raise ValueError(f"approval_status must be one of {allowed}, got {approval_status!r}")
        values["ModelApprovalStatus"] = approval_status
    names = {"max_depth": "MaxDepth", "eta": "Eta", "num_round": "NumRound"}
    for key, value in (hyperparameters or {}).items():
        if key not in names:
            raise ValueError(
                f"hyperparameter {key!r} is not a pipeline parameter; use one of {sorted(names)}"
            )
        values[names[key]] = value
    return [{"Name": k, "Value": str(v)} for k, v in values.items()]


def start(aws, tenant_id: str, table_name: str = "allTenants", **options) -> str:
    """Start the pipeline for a tenant (options: see execution_parameters); return the ARN."""
    target = tenant_target(aws, tenant_id, table_name)
    response = aws.client("sagemaker").start_pipeline_execution(
        PipelineName=PIPELINE_NAME,
        PipelineExecutionDisplayName=f"{tenant_id}-{time.strftime('%Y%m%d-%H%M%S')}",
        PipelineExecutionDescription=f"Model build for tenant {tenant_id}",
        PipelineParameters=execution_parameters(target, **options),
    )
    return response["PipelineExecutionArn"]


@dataclass
class StepState:
    name: str
    status: str
    failure_reason: str = ""
    metadata: dict = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class ExecutionResult:
    arn: str
    status: str
    failure_reason: str
    steps: list[StepState]
    seconds: float

    def step(self, name: str) -> StepState | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def model_package_arn(self) -> str | None:
        register = self.step("RegisterModel")
        if register is None:
            return None
        return register.metadata.get("RegisterModel", {}).get("Arn")

    def table(self):
        """The steps as a pandas DataFrame (name, status, duration, failure reason)."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "step": s.name,
                    "status": s.status,
                    "seconds": s.seconds,
                    "failure reason": s.failure_reason,
                }
                for s in self.steps
            ]
        )


def _duration(step: dict) -> float | None:
    if "StartTime" in step and "EndTime" in step:
        return round((step["EndTime"] - step["StartTime"]).total_seconds(), 2)
    return None


def execution_steps(aws, arn: str) -> list[StepState]:
    sm = aws.client("sagemaker")
    steps: list[StepState] = []
    token = None
    while True:
        kwargs = {"PipelineExecutionArn": arn, "SortOrder": "Ascending"}
        if token:
            kwargs["NextToken"] = token
        page = sm.list_pipeline_execution_steps(**kwargs)
        steps += [
            StepState(
                s["StepName"],
                s["StepStatus"],
                s.get("FailureReason", ""),
                s.get("Metadata", {}),
                _duration(s),
            )
            for s in page["PipelineExecutionSteps"]
        ]
        token = page.get("NextToken")
        if not token:
            return steps


def wait(
    aws,
    arn: str,
    timeout: float = 1800.0,
    poll: float = 0.5,
    progress: bool = True,
    on_update: Callable[[list[StepState]], None] | None = None,
    slow_after: float | None = 30.0,
) -> ExecutionResult:
    """Wait for the execution to end, showing a live progress bar of its steps.

    Polls every `poll` seconds, every 5 s once `slow_after` seconds have passed (None: never).
    """
    sm = aws.client("sagemaker")
    started = time.monotonic()
    bar = None
    if progress:
        from tqdm import tqdm  # text bar: no widget dependency, renders under papermill too

        bar = tqdm(total=len(STEP_ORDER) - 1, desc="pipeline", unit="step")
    try:
        while True:
            status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
            steps = execution_steps(aws, arn)
            if bar is not None:
                done = sum(s.status in ("Succeeded", "Failed", "Stopped") for s in steps)
                bar.n = min(done, bar.total)
                current = next(
                    (s.name for s in reversed(steps) if s.status in ("Executing", "Starting")), ""
                )
                bar.set_postfix_str(f"{status['PipelineExecutionStatus']} {current}".strip())
                bar.refresh()
            if on_update is not None:
                on_update(steps)
            if status["PipelineExecutionStatus"] in TERMINAL:
                return ExecutionResult(
                    arn,
                    status["PipelineExecutionStatus"],
                    status.get("FailureReason", ""),
                    steps,
                    time.monotonic() - started,
                )
            if time.monotonic() - started > timeout:
                raise TimeoutError(
                    f"pipeline execution {arn} still "
                    f"{status['PipelineExecutionStatus']} after {timeout:.0f}s"
                )
            # On AWS a run takes minutes: poll gently after the first half minute.
            slow = slow_after is not None and time.monotonic() - started > slow_after
            time.sleep(max(poll, 5.0) if slow else poll)
    finally:
        if bar is not None:
            bar.close()


def _read_s3_json(aws, uri: str) -> dict:
    import json

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return json.loads(body)


def evaluation_report(aws, result: ExecutionResult) -> dict:
    """evaluation.json written by the execution's Evaluate step."""
    step = result.step("Evaluate")
    if step is None or step.status != "Succeeded":
        raise LookupError(f"execution {result.arn} has no successful Evaluate step")
    job_arn = step.metadata["ProcessingJob"]["Arn"]
    job = aws.client("sagemaker").describe_processing_job(
        ProcessingJobName=job_arn.rsplit("/", 1)[-1]
    )
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"] for o in job["ProcessingOutputConfig"]["Outputs"]
    }
    return _read_s3_json(aws, outputs["evaluation"].rstrip("/") + "/evaluation.json")


def metrics_summary(report: dict) -> dict[str, float]:
    """The scalar metrics of an evaluation report: accuracy, auc, precision, recall, f1."""
    return {
        name: value["value"]
        for name, value in report["binary_classification_metrics"].items()
        if isinstance(value, dict) and "value" in value
    }


def run_for_tenant(
    aws, tenant_id: str, table_name: str = "allTenants", progress: bool = True, **options
) -> ExecutionResult:
    """Start the pipeline for a tenant and wait for it."""
    return wait(aws, start(aws, tenant_id, table_name, **options), progress=progress)
