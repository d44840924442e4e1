"""The abalone-style pipeline with the SageMaker Python SDK v2, written as v2 code usually is:
`PipelineSession()` with no arguments (its default bucket comes from the SDK defaults file
that `localaws env` names), SKLearnProcessor, an Estimator on the built-in XGBoost image,
ScriptProcessor evaluation, `Model.register` / `Model.create` in ModelSteps, a Transformer.

Same shape as `pipeline_v3`; processing outputs take the SDK's default locations (under the
execution id), so the cached re-run exercises the documented cache keys.
"""

from __future__ import annotations

from pathlib import Path

from compat.checks import INSTANCE

SCRIPTS = Path(__file__).parent / "scripts"


def build(session, name: str, role: str):
    """The pipeline `name` (not yet upserted); `session` is a v2 PipelineSession."""
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.sklearn.processing import SKLearnProcessor
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep, TransformStep

    bucket = session.default_bucket()
    region = session.boto_region_name
    input_data = ParameterString(name="InputData", default_value=f"s3://{bucket}/abalone/raw")
    threshold = ParameterFloat(name="MseThreshold", default_value=6.0)
    group = ParameterString(name="ModelPackageGroup", default_value=f"{name}-group")
    approval = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
    cache = CacheConfig(enable_caching=True, expire_after="PT1H")

    sklearn = SKLearnProcessor(
        framework_version="1.2-1",
        instance_type=INSTANCE,
        instance_count=1,
        base_job_name=f"{name}-process",
        role=role,
        sagemaker_session=session,
    )
    process = ProcessingStep(
        name="AbaloneProcess",
        step_args=sklearn.run(
            inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
            outputs=[
                ProcessingOutput(output_name=part, source=f"/opt/ml/processing/{part}")
                for part in ("train", "validation", "test", "batch")
            ],
            code=str(SCRIPTS / "preprocess.py"),
        ),
        cache_config=cache,
    )
    outputs = process.properties.ProcessingOutputConfig.Outputs
    xgboost_image = image_uris.retrieve("xgboost", region=region, version="1.7-1")
    estimator = Estimator(
        image_uri=xgboost_image,
        instance_type=INSTANCE,
        instance_count=1,
        output_path=f"s3://{bucket}/{name}/AbaloneTrain",
        role=role,
        sagemaker_session=session,
    )
    estimator.set_hyperparameters(
        objective="reg:squarederror", num_round=50, max_depth=5, eta=0.2, subsample=0.8
    )
    train = TrainingStep(
        name="AbaloneTrain",
        step_args=estimator.fit(
            {
                channel: TrainingInput(
                    s3_data=outputs[channel].S3Output.S3Uri, content_type="text/csv"
                )
                for channel in ("train", "validation")
            }
        ),
        cache_config=cache,
    )
    evaluator = ScriptProcessor(
        image_uri=xgboost_image,
        command=["python3"],
        instance_type=INSTANCE,
        instance_count=1,
        base_job_name=f"{name}-eval",
        role=role,
        sagemaker_session=session,
    )
    evaluation = PropertyFile(
        name="EvaluationReport", output_name="evaluation", path="evaluation.json"
    )
    evaluate = ProcessingStep(
        name="AbaloneEval",
        step_args=evaluator.run(
            inputs=[
                ProcessingInput(
                    source=train.properties.ModelArtifacts.S3ModelArtifacts,
                    destination="/opt/ml/processing/model",
                ),
                ProcessingInput(
                    source=outputs["test"].S3Output.S3Uri, destination="/opt/ml/processing/test"
                ),
            ],
            outputs=[
                ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")
            ],
            code=str(SCRIPTS / "evaluate.py"),
        ),
        property_files=[evaluation],
    )
    mse = JsonGet(
        step_name=evaluate.name,
        property_file=evaluation,
        json_path="regression_metrics.mse.value",
    )
    model = Model(
        image_uri=xgboost_image,
        model_data=train.properties.ModelArtifacts.S3ModelArtifacts,
        role=role,
        sagemaker_session=session,
    )
    register = ModelStep(
        name="AbaloneRegisterModel",
        step_args=model.register(
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=[INSTANCE],
            transform_instances=[INSTANCE],
            model_package_group_name=group,
            approval_status=approval,
        ),
    )
    create_model = ModelStep(
        name="AbaloneCreateModel", step_args=model.create(instance_type=INSTANCE)
    )
    if_steps = [register, create_model]
    transformer = Transformer(
        model_name=create_model.properties.ModelName,
        instance_type=INSTANCE,
        instance_count=1,
        accept="text/csv",
        assemble_with="Line",
        output_path=Join(
            on="/",
            values=[
                "s3:/",
                bucket,
                name,
                ExecutionVariables.PIPELINE_EXECUTION_ID,
                "transform",
            ],
        ),
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
