"""The abalone-style pipeline with the SageMaker Python SDK v3 (the version the project pins).

AbaloneProcess (scikit-learn script) -> AbaloneTrain (built-in XGBoost) -> AbaloneEval
(PropertyFile) -> AbaloneMSECond: MSE <= MseThreshold ? [AbaloneRegisterModel,
AbaloneCreateModel, AbaloneTransform] : AbaloneMSEFail. Process and train are cached; their
outputs go under the execution id, as the SDK's default paths do. The model package group is
not created beforehand: the register step does it. The Transform step is the last one.
"""

from __future__ import annotations

from pathlib import Path

from compat.checks import INSTANCE, SKLEARN_IMAGE, XGBOOST_IMAGE

SCRIPTS = Path(__file__).parent / "scripts"
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


def build(session, name: str, role: str, bucket: str):
    """The pipeline `name` (not yet upserted); `session` is a v3 PipelineSession."""
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import (
        ProcessingInput,
        ProcessingOutput,
        ProcessingS3Input,
        ProcessingS3Output,
    )
    from sagemaker.core.transformer import Transformer
    from sagemaker.core.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import (
        CacheConfig,
        ProcessingStep,
        TrainingStep,
        TransformStep,
    )
    from sagemaker.serve.model_builder import ModelBuilder
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import Compute, InputData

    input_data = ParameterString(name="InputData", default_value=f"s3://{bucket}/abalone/raw")
    threshold = ParameterFloat(name="MseThreshold", default_value=6.0)
    group = ParameterString(name="ModelPackageGroup", default_value=f"{name}-group")
    approval = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
    cache = CacheConfig(enable_caching=True, expire_after="PT1H")
    run = Join(on="/", values=[f"s3://{bucket}/{name}", ExecutionVariables.PIPELINE_EXECUTION_ID])

    def s3_in(input_name: str, uri) -> ProcessingInput:
        return ProcessingInput(
            input_name=input_name,
            s3_input=ProcessingS3Input(
                s3_uri=uri,
                local_path=f"/opt/ml/processing/{input_name}",
                s3_data_type="S3Prefix",
                s3_input_mode="File",
            ),
        )

    def s3_out(output_name: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=output_name,
            s3_output=ProcessingS3Output(
                s3_uri=Join(on="/", values=[run, output_name]),
                local_path=f"/opt/ml/processing/{output_name}",
                s3_upload_mode="EndOfJob",
            ),
        )

    def processor(image: str) -> ScriptProcessor:
        return ScriptProcessor(
            image_uri=image,
            command=["python3"],
            role=role,
            instance_count=1,
            instance_type=INSTANCE,
            sagemaker_session=session,
        )

    process = ProcessingStep(
        name="AbaloneProcess",
        step_args=processor(SKLEARN_IMAGE).run(
            code=str(SCRIPTS / "preprocess.py"),
            inputs=[s3_in("input", input_data)],
            outputs=[s3_out(part) for part in ("train", "validation", "test", "batch")],
        ),
        cache_config=cache,
    )
    outputs = process.properties.ProcessingOutputConfig.Outputs
    trainer = ModelTrainer(
        training_image=XGBOOST_IMAGE,
        role=role,
        sagemaker_session=session,
        base_job_name=f"{name}-train",
        compute=Compute(instance_type=INSTANCE, instance_count=1),
        hyperparameters={
            "objective": "reg:squarederror",
            "num_round": 50,
            "max_depth": 5,
            "eta": 0.2,
            "subsample": 0.8,
        },
    )
    train = TrainingStep(
        name="AbaloneTrain",
        step_args=trainer.train(
            input_data_config=[
                InputData(
                    channel_name=channel,
                    data_source=outputs[channel].S3Output.S3Uri,
                    content_type="text/csv",
                )
                for channel in ("train", "validation")
            ]
        ),
        cache_config=cache,
    )
    evaluation = PropertyFile(
        name="EvaluationReport", output_name="evaluation", path="evaluation.json"
    )
    evaluate = ProcessingStep(
        name="AbaloneEval",
        step_args=processor(XGBOOST_IMAGE).run(
            code=str(SCRIPTS / "evaluate.py"),
            inputs=[
                s3_in("model", train.properties.ModelArtifacts.S3ModelArtifacts),
                s3_in("test", outputs["test"].S3Output.S3Uri),
            ],
            outputs=[s3_out("evaluation")],
        ),
        property_files=[evaluation],
    )
    mse = JsonGet(
        step_name=evaluate.name,
        property_file=evaluation,
        json_path="regression_metrics.mse.value",
    )

    def builder() -> ModelBuilder:
        return ModelBuilder(
            s3_model_data_url=train.properties.ModelArtifacts.S3ModelArtifacts,
            image_uri=XGBOOST_IMAGE,
            role_arn=role,
            sagemaker_session=session,
        )

    register = ModelStep(
        name="AbaloneRegisterModel",
        step_args=builder().register(
            model_package_group_name=group,
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=[INSTANCE],
            transform_instances=[INSTANCE],
            approval_status=approval,
        ),
    )
    create_model = ModelStep(name="AbaloneCreateModel", step_args=builder().build())
    if_steps = [register, create_model]
    transformer = Transformer(
        model_name=create_model.properties.ModelName,
        instance_type=INSTANCE,
        instance_count=1,
        accept="text/csv",
        assemble_with="Line",
        output_path=Join(on="/", values=[run, "transform"]),
        sagemaker_session=session,
    )
    if_steps.append(
        TransformStep(
            name="AbaloneTransform",
            step_args=transformer.transform(
                data=outputs["batch"].S3Output.S3Uri,
                content_type="text/csv",
                split_type="Line",
            ),
        )
    )
    fail = FailStep(
        name="AbaloneMSEFail",
        error_message=Join(on=" ", values=["MSE", mse, "is above", threshold]),
    )
    condition = ConditionStep(
        name="AbaloneMSECond",
        conditions=[ConditionLessThanOrEqualTo(left=mse, right=threshold)],
        if_steps=if_steps,
        else_steps=[fail],
    )
    return Pipeline(
        name=name,
        parameters=[input_data, threshold, group, approval],
        steps=[process, train, evaluate, condition],
        sagemaker_session=session,
    )


def session(bucket: str):
    """A v3 PipelineSession whose default bucket is `bucket` (telemetry off)."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    return PipelineSession(
        boto_session=boto3.Session(region_name="us-east-1"),
        default_bucket=bucket,
        sagemaker_config=SDK_CONFIG,
    )
