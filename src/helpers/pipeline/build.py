"""The per-tenant model build pipeline's definition (SageMaker Python SDK v3).

preprocess (ScriptProcessor, scikit-learn image) -> train (ModelTrainer, XGBoost framework
image, script mode) -> evaluate (ScriptProcessor, XGBoost image; evaluation.json property
file) -> accuracy >= threshold AND accuracy > the majority-class baseline AND both classes in
the test split ? register a model version in the tenant's group : Fail with the figures.

Job code: a processing job gets only what its step uploads. Preprocess's script imports the
shared modules in SHARED_MODULES (the data rules and the features), so the step ships them as
a second code input (`lib`, at /opt/ml/processing/input/lib, content-addressed under the code
prefix); the training job gets the whole `pipeline_steps` directory (source_dir) and puts the
serving code and the fitted features into model.tar.gz.

One pipeline serves every tenant: the tenant, its data, bucket, model package group and IAM
role are parameters of each execution, so every job of an execution runs under that tenant's
role and can reach only that tenant's resources.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from helpers.naming import (
    PIPELINE_CODE_PREFIX,
    PIPELINE_NAME,
    PIPELINE_OUTPUT_PREFIX,
)
from helpers.pipeline.sdk_workarounds import (
    pipeline_session,
    role_placeholder,
    tenant_training_step_class,
)
from pipeline_steps.hyperparameters import check_hyperparameters

STEPS_DIR = Path(__file__).resolve().parents[2] / "pipeline_steps"
SKLEARN_VERSION = "1.2-1"
XGBOOST_VERSION = "1.7-1"
INSTANCE_TYPE = "ml.m5.large"
DEFAULT_HYPERPARAMETERS = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4.0,
    "min_child_weight": 6.0,
    "subsample": 0.8,
    "num_round": 50,
}
DEFAULT_ACCURACY_THRESHOLD = 0.8
SHARED_MODULES = ("churn_schema.py", "churn_features.py")
LIB_DIR = "/opt/ml/processing/input/lib"
DESCRIPTION = "Per-tenant churn model build: preprocess, train, evaluate, register"
STEP_ORDER = ("Preprocess", "Train", "Evaluate", "CheckAccuracy", "RegisterModel", "AccuracyTooLow")


def code_prefix() -> str:
    """Key prefix of the job code in the code bucket; tenant roles need read access to it."""
    return PIPELINE_CODE_PREFIX


def upload_shared_modules(boto_session: Any, bucket: str) -> str:
    """Put SHARED_MODULES under `code_prefix()/lib/<content hash>/`; return that S3 prefix."""
    bodies = {name: (STEPS_DIR / name).read_bytes() for name in SHARED_MODULES}
    digest = hashlib.sha256(b"".join(bodies[n] for n in SHARED_MODULES)).hexdigest()[:16]
    prefix = f"{code_prefix()}/lib/{digest}"
    s3 = boto_session.client("s3")
    for name, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=body)
    return f"s3://{bucket}/{prefix}"


def build_pipeline(
    boto_session: Any, bucket: str, region: str, hyperparameters: dict | None = None
) -> Any:
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
    from sagemaker.core.workflow.conditions import (
        ConditionGreaterThan,
        ConditionGreaterThanOrEqualTo,
    )
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
    TenantTrainingStep = tenant_training_step_class()  # noqa: N806
    # Checked before anything is uploaded: a bad value raises ValueError naming it.
    hp = check_hyperparameters({**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})})
    lib_uri = upload_shared_modules(boto_session, bucket)

    tenant_id = ParameterString("TenantId", default_value="demo")
    role = ParameterString("TenantRoleArn")
    tenant_bucket = ParameterString("TenantBucket")
    input_data = ParameterString("InputDataUrl")
    group = ParameterString("ModelPackageGroupName")
    threshold = ParameterFloat("AccuracyThreshold", default_value=DEFAULT_ACCURACY_THRESHOLD)
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

    def s3_out(*parts: str) -> Any:
        return Join(
            on="/",
            values=[
                "s3:/",
                tenant_bucket,
                PIPELINE_OUTPUT_PREFIX,
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

    def p_in(name: str, source: Any, local: str) -> ProcessingInput:
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
            inputs=[
                p_in("data", input_data, "/opt/ml/processing/input/data"),
                p_in("lib", lib_uri, LIB_DIR),
            ],
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

    def split_uri(name: str) -> Any:
        return preprocess.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    trainer = ModelTrainer(
        training_image=xgboost_image,
        source_code=SourceCode(
            source_dir=str(STEPS_DIR),
            entry_script="train.py",
            ignore_patterns=["__pycache__", "*.pyc"],
        ),
        compute=Compute(instance_type=INSTANCE_TYPE, instance_count=1),
        role=role_placeholder(
            region
        ),  # replaced by the TenantRoleArn parameter (TenantTrainingStep)
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
    baseline = JsonGet(
        step_name=evaluate.name,
        property_file=evaluation,
        json_path="binary_classification_metrics.majority_baseline_accuracy.value",
    )
    classes = JsonGet(step_name=evaluate.name, property_file=evaluation, json_path="test_classes")
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
            # The input schema this version expects: the features learned from the tenant's
            # training split, with the upload's column order and rules (also in model.tar.gz).
            customer_metadata_properties={
                "tenant-id": tenant_id,
                "input-schema": Join(on="/", values=[split_uri("train"), "preprocessing.json"]),
                # Values allow letters, digits, spaces and _.:/=+-@ only.
                "input-content-types": "text/csv application/json",
            },
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
                " or does not beat the majority-class baseline ",
                baseline,
                " (classes in the test split: ",
                classes,
                ")",
            ],
        ),
    )
    check = ConditionStep(
        name="CheckAccuracy",
        conditions=[
            ConditionGreaterThanOrEqualTo(left=accuracy, right=threshold),
            ConditionGreaterThan(left=accuracy, right=baseline),
            ConditionGreaterThanOrEqualTo(left=classes, right=2),
        ],
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
