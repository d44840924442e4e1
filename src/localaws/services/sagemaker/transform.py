"""Batch transform jobs that really run (`localaws.compute.transform`), not canned records.

moto records a transform job as Completed at once, writes nothing, accepts a duplicate name
and a model that does not exist, and lacks StopTransformJob. Here CreateTransformJob refuses
what AWS refuses (ValidationException: a duplicate name, an unknown model) and what localaws
cannot run (DataProcessing filters, DataCaptureConfig, RecordIO/TFRecord splitting), records
the job and launches it; StopTransformJob stops a running one (Stopping -> Stopped).
"""

from __future__ import annotations

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localaws.compute import jobs, transform
from localaws.core.patching import Patches
from localaws.services.sagemaker.jobs import _stoppable

patches = Patches("sagemaker.transform")


@patches.wrap(SageMakerResponse, "create_transform_job")
def create_transform_job_response(original, self) -> ActionResult:
    backend = self.sagemaker_backend
    name = self._get_param("TransformJobName")
    checked = ("DataProcessing", "DataCaptureConfig", "TransformInput", "MaxPayloadInMB")
    params = {key: self._get_param(key) for key in checked}
    try:
        transform.check_request(backend, name, self._get_param("ModelName"), params)
    except transform.RequestError as exc:
        raise ValidationError(message=str(exc)) from None
    result = original(self)
    transform.launch(backend, backend.transform_jobs[name])
    return result


@patches.add(SageMakerModelBackend, "stop_transform_job")
def stop_transform_job(self, transform_job_name: str) -> None:
    job = _stoppable(
        self.transform_jobs, transform_job_name, "transform job", "transform_job_status"
    )
    job.transform_job_status = "Stopping"
    jobs.stop(job.arn)


@patches.add(SageMakerResponse, "stop_transform_job")
def stop_transform_job_response(self) -> ActionResult:
    self.sagemaker_backend.stop_transform_job(self._get_param("TransformJobName"))
    return ActionResult({})
