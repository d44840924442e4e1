"""The optimized SageMaker integration of Step Functions (`arn:aws:states:::sagemaker:*`),
with `.sync` for jobs: create the job, then poll its Describe call until it ends, as AWS does.

Used by `localaws.services.stepfunctions.tasks` (it subclasses moto's interpreter classes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (  # noqa: E501
    StateTaskServiceUnsupported,
)
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

from localaws.services.stepfunctions import clients
from localaws.services.stepfunctions.failures import task_failed

# create action -> (describe method, name parameter, status field)
SYNC_JOBS: dict[str, tuple[str, str, str]] = {
    "createTrainingJob": ("describe_training_job", "TrainingJobName", "TrainingJobStatus"),
    "createProcessingJob": ("describe_processing_job", "ProcessingJobName", "ProcessingJobStatus"),
    "createTransformJob": ("describe_transform_job", "TransformJobName", "TransformJobStatus"),
}
_RUNNING = ("InProgress", "Stopping")


class StateTaskServiceSageMaker(StateTaskServiceUnsupported):
    """`sagemaker:*` requests go to this server; `.sync` waits for training, processing and
    transform jobs (a failed or stopped job fails the task with States.TaskFailed, its
    Describe output as the cause)."""

    def __init__(self) -> None:
        super().__init__()
        self._supported_integration_patterns = {
            ResourceCondition.WaitForTaskToken,
            ResourceCondition.Sync,
        }

    def _validate_service_integration_is_supported(self) -> None:
        pass  # supported here: no "unsupported integration" warning

    def _build_sync_resolver(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ) -> Callable[[], Any] | None:
        action = self.resource.api_action
        if action not in SYNC_JOBS:
            raise RuntimeError(
                f"localaws supports .sync for sagemaker:{', sagemaker:'.join(SYNC_JOBS)} only, "
                f"not for {self.resource.resource_arn}"
            )
        describe_name, name_key, status_key = SYNC_JOBS[action]
        env.stack.pop()  # the Create* response; the Describe output replaces it
        name = normalised_parameters[name_key]
        client = clients.client_for(resource_runtime_part.region, "sagemaker", state_credentials)

        def resolve() -> dict | None:
            job = clients.to_state_value(getattr(client, describe_name)(**{name_key: name}))
            status = job.get(status_key)
            if status in _RUNNING:
                return None
            if status == "Completed":
                return job
            raise FailureEventException(task_failed(self, env, to_json_str(job)))

        return resolve
