"""Processing and training jobs that really run (`localaws.compute.jobs`), not canned records.

moto records a job as Completed at once, drops the Environment of both kinds and the
ProcessingResources of processing jobs, replaces MetricDefinitions with a canned one, accepts a
duplicate name, and lacks StopTrainingJob. Here the backend creates the record (refusing a
duplicate name, keeping MetricDefinitions); the response method, which has the request, sets
the fields moto does not pass on and launches the job; Stop* stop the running job.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localaws.compute import jobs
from localaws.compute.recovery import recover_interrupted
from localaws.core import hooks
from localaws.core.patching import Patches

patches = Patches("sagemaker.jobs")
hooks.on_restore(recover_interrupted)


def _refuse_duplicate(found: dict[str, Any], name: str | None, message: str) -> None:
    """ResourceInUseException (`message` plus the existing job's ARN) if `name` is taken."""
    if name in found:
        raise ResourceInUseException(message=f"{message} ({found[name].arn})")


@patches.wrap(SageMakerModelBackend, "create_training_job")
def create_training_job(original, self, *args: Any, **kwargs: Any):
    _refuse_duplicate(
        self.training_jobs,
        kwargs.get("training_job_name"),
        "Training job names must be unique within an AWS account and region, "
        "and a training job with this name already exists",
    )
    definitions = copy.deepcopy(
        (kwargs.get("algorithm_specification") or {}).get("MetricDefinitions")
    )
    job = original(self, *args, **kwargs)
    # moto replaces MetricDefinitions with a canned one; keep the caller's.
    job.algorithm_specification.pop("MetricDefinitions", None)
    if definitions:
        job.algorithm_specification["MetricDefinitions"] = definitions
    job.environment = {}
    return job


@patches.wrap(SageMakerModelBackend, "create_processing_job")
def create_processing_job(original, self, *args: Any, **kwargs: Any):
    _refuse_duplicate(
        self.processing_jobs,
        kwargs.get("processing_job_name"),
        "Job name must be unique within an AWS account and region, and a job "
        "with this name already exists",
    )
    job = original(self, *args, **kwargs)
    job.environment = {}
    job.processing_resources = None
    return job


def _launch(response: Any, kind: str) -> None:
    """Give the job just created what moto does not pass on from the request, then run it."""
    backend = response.sagemaker_backend
    if kind == "training":
        job = backend.training_jobs[response._get_param("TrainingJobName")]
    else:
        job = backend.processing_jobs[response._get_param("ProcessingJobName")]
        # moto drops ProcessingResources; DescribeProcessingJob must return it.
        job.processing_resources = response._get_param("ProcessingResources")
    job.environment = response._get_param("Environment") or {}
    jobs.launch(kind, backend, job)


@patches.wrap(SageMakerResponse, "create_training_job")
def create_training_job_response(original, self) -> ActionResult:
    result = original(self)
    _launch(self, "training")
    return result


@patches.wrap(SageMakerResponse, "create_processing_job")
def create_processing_job_response(original, self) -> ActionResult:
    result = original(self)
    _launch(self, "processing")
    return result


def _stoppable(found: dict[str, Any], name: str, what: str, status: str) -> Any:
    """The job `name` of `found`, if it is InProgress; ValidationError otherwise."""
    job = found.get(name)
    if job is None:
        raise ValidationError(message=f"Could not find {what} '{name}'.")
    if getattr(job, status) != "InProgress":
        raise ValidationError(
            message=f"The request was rejected because the {what} is in "
            f"status {getattr(job, status)}."
        )
    return job


@patches.add(SageMakerModelBackend, "stop_training_job")
def stop_training_job(self, training_job_name: str) -> None:
    job = _stoppable(self.training_jobs, training_job_name, "training job", "training_job_status")
    job.training_job_status, job.secondary_status = "Stopping", "Stopping"
    jobs.stop(job.arn)


@patches.replace(SageMakerModelBackend, "stop_processing_job")
def stop_processing_job(self, processing_job_name: str) -> None:
    job = _stoppable(
        self.processing_jobs, processing_job_name, "processing job", "processing_job_status"
    )
    job.processing_job_status = "Stopping"
    jobs.stop(job.arn)


@patches.add(SageMakerResponse, "stop_training_job")
def stop_training_job_response(self) -> ActionResult:
    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
    return ActionResult({})
