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


@patches.wrap(SageMakerModelBackend, "create_training_job")
def create_training_job(original, self, *args: Any, **kwargs: Any):
    name = kwargs.get("training_job_name")
    if name in self.training_jobs:
        raise ResourceInUseException(
            message=f"Training job names must be unique within an AWS account and region, "
            f"and a training job with this name already exists ({self.training_jobs[name].arn})"
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
    name = kwargs.get("processing_job_name")
    if name in self.processing_jobs:
        raise ResourceInUseException(
            message=f"Job name must be unique within an AWS account and region, and a job "
            f"with this name already exists ({self.processing_jobs[name].arn})"
        )
    job = original(self, *args, **kwargs)
    job.environment = {}
    job.processing_resources = None
    return job


@patches.wrap(SageMakerResponse, "create_training_job")
def create_training_job_response(original, self) -> ActionResult:
    result = original(self)
    backend = self.sagemaker_backend
    job = backend.training_jobs[self._get_param("TrainingJobName")]
    job.environment = self._get_param("Environment") or {}
    jobs.launch("training", backend, job)
    return result


@patches.wrap(SageMakerResponse, "create_processing_job")
def create_processing_job_response(original, self) -> ActionResult:
    result = original(self)
    backend = self.sagemaker_backend
    job = backend.processing_jobs[self._get_param("ProcessingJobName")]
    job.environment = self._get_param("Environment") or {}
    # moto drops ProcessingResources; DescribeProcessingJob must return it.
    job.processing_resources = self._get_param("ProcessingResources")
    jobs.launch("processing", backend, job)
    return result


@patches.add(SageMakerModelBackend, "stop_training_job")
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


@patches.replace(SageMakerModelBackend, "stop_processing_job")
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


@patches.add(SageMakerResponse, "stop_training_job")
def stop_training_job_response(self) -> ActionResult:
    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))
    return ActionResult({})
