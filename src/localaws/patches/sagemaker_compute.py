"""Hook the compute plane (`localaws.compute`) into moto's SageMaker backend.

moto records processing/training jobs as Completed and pipeline executions as Succeeded at
once; here they really run. Adds the calls moto lacks: StopTrainingJob,
ListPipelineExecutionSteps, StopPipelineExecution, RetryPipelineExecution; and makes
DescribePipelineExecution / ListPipelineExecutions report the real status and FailureReason.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_pending = threading.local()


def apply() -> None:
    from moto.core.responses import ActionResult
    from moto.sagemaker import models, responses
    from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
    from moto.sagemaker.utils import get_pipeline_execution_from_arn, get_pipeline_from_name

    from localaws.compute import jobs, pipelines
    from localaws.compute.recovery import recover_interrupted
    from localaws.compute.workers import pool
    from localaws.core import hooks

    hooks.on_restore(recover_interrupted)

    backend_cls = models.SageMakerModelBackend
    response_cls = responses.SageMakerResponse

    # ---- jobs -----------------------------------------------------------------------
    original_training = backend_cls.create_training_job
    original_processing = backend_cls.create_processing_job

    def create_training_job(self, *args: Any, **kwargs: Any):
        name = kwargs.get("training_job_name")
        if name in self.training_jobs:
            raise ResourceInUseException(
                message=f"Training job names must be unique within an AWS account and region, "
                f"and a training job with this name already exists ({self.training_jobs[name].arn})"
            )
        definitions = copy.deepcopy(
            (kwargs.get("algorithm_specification") or {}).get("MetricDefinitions")
        )
        job = original_training(self, *args, **kwargs)
        # moto replaces MetricDefinitions with a canned one; keep the caller's.
        job.algorithm_specification.pop("MetricDefinitions", None)
        if definitions:
            job.algorithm_specification["MetricDefinitions"] = definitions
        job.environment = getattr(_pending, "environment", None) or {}
        jobs.launch("training", self, job)
        return job

    def create_processing_job(self, *args: Any, **kwargs: Any):
        name = kwargs.get("processing_job_name")
        if name in self.processing_jobs:
            raise ResourceInUseException(
                message=f"Job name must be unique within an AWS account and region, and a job "
                f"with this name already exists ({self.processing_jobs[name].arn})"
            )
        job = original_processing(self, *args, **kwargs)
        job.environment = getattr(_pending, "environment", None) or {}
        # moto drops ProcessingResources; DescribeProcessingJob must return it.
        job.processing_resources = getattr(_pending, "processing_resources", None)
        jobs.launch("processing", self, job)
        return job

    def _with_environment(original):
        def handler(self):
            _pending.environment = self._get_param("Environment")
            _pending.processing_resources = self._get_param("ProcessingResources")
            try:
                return original(self)
            finally:
                _pending.environment = _pending.processing_resources = None

        return handler

    def stop_training_job(self, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            raise ValidationError(message=f"Could not find training job '{training_job_name}'.")
        if job.training_job_status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the training job is in "
                f"status {job.training_job_status}."
            )
        job.training_job_status, job.secondary_status = "Stopping", "Stopping"
        jobs.stop(job.arn)

    def stop_processing_job(self, processing_job_name: str) -> None:
        job = self.processing_jobs.get(processing_job_name)
        if job is None:
            raise ValidationError(message=f"Could not find processing job '{processing_job_name}'.")
        if job.processing_job_status != "InProgress":
            raise ValidationError(
                message=f"The request was rejected because the processing job is "
                f"in status {job.processing_job_status}."
            )
        job.processing_job_status = "Stopping"
        jobs.stop(job.arn)

    backend_cls.create_training_job = create_training_job
    backend_cls.create_processing_job = create_processing_job
    backend_cls.stop_training_job = stop_training_job
    backend_cls.stop_processing_job = stop_processing_job
    response_cls.create_training_job = _with_environment(response_cls.create_training_job)
    response_cls.create_processing_job = _with_environment(response_cls.create_processing_job)

    def stop_training_job_response(self):
        self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
        return ActionResult({})

    response_cls.stop_training_job = stop_training_job_response

    # ---- pipelines ------------------------------------------------------------------
    original_start = backend_cls.start_pipeline_execution
    original_describe = backend_cls.describe_pipeline_execution
    original_list = backend_cls.list_pipeline_executions

    def start_pipeline_execution(self, pipeline_name, display_name, parameters, *args, **kwargs):
        pipeline = get_pipeline_from_name(self.pipelines, pipeline_name)
        try:
            definition = pipelines.parse(pipeline.pipeline_definition)
            pipelines.parameters(definition, parameters)
        except ValueError as exc:
            raise ValidationError(message=str(exc)) from None
        result = original_start(self, pipeline_name, display_name, parameters, *args, **kwargs)
        execution = pipeline.pipeline_executions[result["PipelineExecutionArn"]]
        pipelines.start(self, pipeline, execution, parameters)
        return result

    def describe_pipeline_execution(self, pipeline_execution_arn):
        result = original_describe(self, pipeline_execution_arn)
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        reason = execution.pipeline_execution_failure_reason
        result["FailureReason"] = reason or ""
        if not reason:
            result.pop("FailureReason")
        return result

    def list_pipeline_executions(self, pipeline_name):
        result = original_list(self, pipeline_name)
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

    def list_pipeline_execution_steps(self, pipeline_execution_arn, sort_order="Descending"):
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        return {
            "PipelineExecutionSteps": pipelines.step_summaries(
                execution, sort_order or "Descending"
            )
        }

    def stop_pipeline_execution(self, pipeline_execution_arn):
        execution = get_pipeline_execution_from_arn(self.pipelines, pipeline_execution_arn)
        if execution.pipeline_execution_status not in ("Executing", "Stopping"):
            raise ValidationError(
                message=f"Pipeline execution with ARN {pipeline_execution_arn} is in "
                f"status {execution.pipeline_execution_status} and cannot be stopped."
            )
        pipelines.stop(execution)
        return {"PipelineExecutionArn": pipeline_execution_arn}

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

    original_create_pipeline = backend_cls.create_pipeline

    def create_pipeline(self, *args: Any, **kwargs: Any):
        pool().warm_up()  # executions usually follow: let the worker import meanwhile
        return original_create_pipeline(self, *args, **kwargs)

    backend_cls.create_pipeline = create_pipeline
    backend_cls.start_pipeline_execution = start_pipeline_execution
    backend_cls.describe_pipeline_execution = describe_pipeline_execution
    backend_cls.list_pipeline_executions = list_pipeline_executions
    backend_cls.list_pipeline_execution_steps = list_pipeline_execution_steps
    backend_cls.stop_pipeline_execution = stop_pipeline_execution
    backend_cls.retry_pipeline_execution = retry_pipeline_execution

    def _arn_action(method: str):
        def handler(self):
            kwargs = {"pipeline_execution_arn": self._get_param("PipelineExecutionArn")}
            if method == "list_pipeline_execution_steps":
                kwargs["sort_order"] = self._get_param("SortOrder")
            return ActionResult(getattr(self.sagemaker_backend, method)(**kwargs))

        return handler

    for method in (
        "list_pipeline_execution_steps",
        "stop_pipeline_execution",
        "retry_pipeline_execution",
    ):
        setattr(response_cls, method, _arn_action(method))
