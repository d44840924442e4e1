"""Pipeline executions that really run (`localaws.compute.pipelines`), with their real status.

moto marks an execution Succeeded at once. Here StartPipelineExecution validates the definition
and parameters (ValidationError) and starts the interpreter; Describe/ListPipelineExecutions
report the real status and FailureReason (newest first); ListPipelineExecutionSteps,
StopPipelineExecution and RetryPipelineExecution, which moto lacks, are added.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import get_pipeline_execution_from_arn, get_pipeline_from_name

from localaws.compute import pipelines
from localaws.compute.workers import pool
from localaws.core.patching import Patches

patches = Patches("sagemaker.pipelines")


@patches.wrap(SageMakerModelBackend, "create_pipeline")
def create_pipeline(original, self, *args: Any, **kwargs: Any):
    pool().warm_up()  # executions usually follow: let the worker import meanwhile
    return original(self, *args, **kwargs)


@patches.wrap(SageMakerModelBackend, "start_pipeline_execution")
def start_pipeline_execution(
    original, self, pipeline_name, display_name, parameters, *args, **kwargs
):
    pipeline = get_pipeline_from_name(self.pipelines, pipeline_name)
    try:
        definition = pipelines.parse(pipeline.pipeline_definition)
        pipelines.parameters(definition, parameters)
    except ValueError as exc:
        raise ValidationError(message=str(exc)) from None
    result = original(self, pipeline_name, display_name, parameters, *args, **kwargs)
    execution = pipeline.pipeline_executions[result["PipelineExecutionArn"]]
    pipelines.start(self, pipeline, execution, parameters)
    return result


@patches.wrap(SageMakerModelBackend, "describe_pipeline_execution")
def describe_pipeline_execution(original, self, pipeline_execution_arn):
    result = original(self, pipeline_execution_arn)
    execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
    reason = execution.pipeline_execution_failure_reason
    result["FailureReason"] = reason or ""
    if not reason:
        result.pop("FailureReason")
    return result


@patches.wrap(SageMakerModelBackend, "list_pipeline_executions")
def list_pipeline_executions(original, self, pipeline_name):
    result = original(self, pipeline_name)
    pipeline = get_pipeline_from_name(self.pipelines, pipeline_name)
    for summary in result["PipelineExecutionSummaries"]:
        reason = pipeline.pipeline_executions[
            summary["PipelineExecutionArn"]
        ].pipeline_execution_failure_reason
        if reason:
            summary["PipelineExecutionFailureReason"] = reason
        else:
            summary.pop("PipelineExecutionFailureReason", None)
    result["PipelineExecutionSummaries"].sort(key=lambda s: s["StartTime"], reverse=True)
    return result


@patches.add(SageMakerModelBackend, "list_pipeline_execution_steps")
def list_pipeline_execution_steps(self, pipeline_execution_arn, sort_order="Descending"):
    execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
    return {
        "PipelineExecutionSteps": pipelines.step_summaries(execution, sort_order or "Descending")
    }


@patches.add(SageMakerModelBackend, "stop_pipeline_execution")
def stop_pipeline_execution(self, pipeline_execution_arn):
    execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
    if execution.pipeline_execution_status not in ("Executing", "Stopping"):
        raise ValidationError(
            message=f"Pipeline execution with ARN {pipeline_execution_arn} is in "
            f"status {execution.pipeline_execution_status} and cannot be stopped."
        )
    pipelines.stop(execution)
    return {"PipelineExecutionArn": pipeline_execution_arn}


@patches.add(SageMakerModelBackend, "retry_pipeline_execution")
def retry_pipeline_execution(self, pipeline_execution_arn):
    execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
    if execution.pipeline_execution_status not in ("Failed", "Stopped") or pipelines.is_running(
        pipeline_execution_arn
    ):
        raise ValidationError(
            message=f"Pipeline execution with ARN {pipeline_execution_arn} is in "
            f"status {execution.pipeline_execution_status}; only Failed "
            "or Stopped executions can be retried."
        )
    pipeline = get_pipeline_from_name(self.pipelines, pipeline_execution_arn.split("/")[1])
    try:
        pipelines.retry(self, pipeline, execution)
    except ValueError as exc:
        raise ValidationError(message=f"Cannot retry {pipeline_execution_arn}: {exc}") from None
    return {"PipelineExecutionArn": pipeline_execution_arn}


@patches.add(SageMakerResponse, "list_pipeline_execution_steps")
def list_pipeline_execution_steps_response(self) -> ActionResult:
    return ActionResult(
        self.sagemaker_backend.list_pipeline_execution_steps(
            pipeline_execution_arn=self._get_param("PipelineExecutionArn"),
            sort_order=self._get_param("SortOrder"),
        )
    )


@patches.add(SageMakerResponse, "stop_pipeline_execution")
def stop_pipeline_execution_response(self) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    return ActionResult(self.sagemaker_backend.stop_pipeline_execution(pipeline_execution_arn=arn))


@patches.add(SageMakerResponse, "retry_pipeline_execution")
def retry_pipeline_execution_response(self) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    return ActionResult(self.sagemaker_backend.retry_pipeline_execution(pipeline_execution_arn=arn))
