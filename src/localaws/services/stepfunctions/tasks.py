"""Step Functions tasks: they call this server as the execution role, with AWS's error names.

What moto 5.2.5's interpreter lacks and this adds:
- tasks call `http://127.0.0.1:$MOTO_PORT` with the state machine role's keys (cached
  clients, `localaws.services.stepfunctions.clients`), `aws-sdk:sagemakerruntime:*` included;
  stream bodies come back as text;
- error names as AWS spells them (`S3.NoSuchBucketException`, `SageMaker.*`, `Iam.*`), and a
  call that got no answer fails the task with States.TaskFailed;
- optimized integrations moto only forwards (`arn:aws:states:::sagemaker:createModel`) give
  JSON results and errors named `SageMaker.<Error>Exception` (unmodelled ones
  `SageMaker.AmazonSageMakerException`, as that integration names them); SageMaker's gets
  `.sync` for jobs (`sagemaker_tasks`).
"""

from __future__ import annotations

import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_factory,  # noqa: F401  (imports every integration module)
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
    StateTaskServiceAwsSdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (  # noqa: E501
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (  # noqa: E501
    StateTaskServiceUnsupported,
)
from moto.stepfunctions.parser.asl.utils import boto_client

from localaws.core.patching import Patches
from localaws.services.stepfunctions import clients
from localaws.services.stepfunctions.failures import task_failed
from localaws.services.stepfunctions.sagemaker_tasks import StateTaskServiceSageMaker

patches = Patches("stepfunctions.tasks")


def _client_for(region: str, service: str, state_credentials: Any = None):
    return clients.client_for(region, service, state_credentials)


# moto's modules imported `boto_client_for` by name: replace every copy.
for _name, _module in list(sys.modules.items()):
    if _name.startswith("moto.stepfunctions") and (
        getattr(_module, "boto_client_for", None) is boto_client.boto_client_for
    ):
        patches.set(_module, "boto_client_for", _client_for)

for _service, _boto_name in clients.BOTO_SERVICE_NAMES.items():
    patches.put(StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES, _service, _boto_name)
patches.set(
    StateTaskServiceAwsSdk,
    "_normalise_service_error_name",
    staticmethod(clients.error_service_name),
)


def _call(task: Any, env: Any, region: str, service: str, parameters: dict, credentials: Any):
    """Make the task's call against this server; its answer goes on the stack as JSON."""
    client = clients.client_for(region, service, credentials)
    action = task._get_boto_service_action()
    params = clients.to_boto_params(client, action, parameters)
    env.stack.append(clients.to_state_value(getattr(client, action)(**params) or {}))


@patches.replace(StateTaskServiceAwsSdk, "_eval_service_task")
def _eval_aws_sdk_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    _call(
        self,
        env,
        resource_runtime_part.region,
        self.resource.api_name,
        normalised_parameters,
        state_credentials,
    )


@patches.wrap(StateTaskServiceAwsSdk, "_from_error")
def _aws_sdk_error(original, self, env, ex):
    if isinstance(ex, ClientError):
        service = self._normalise_service_error_name(self.resource.api_name)
        error = self._normalise_exception_name(service, ex)
        meta = ex.response.get("ResponseMetadata", {})
        details = [
            f"Service: {service}",
            f"Status Code: {meta.get('HTTPStatusCode')}",
            f"Request ID: {meta.get('RequestId')}",
        ]
        if meta.get("HostId"):
            details.append(f"Extended Request ID: {meta['HostId']}")
        message = ex.response.get("Error", {}).get("Message") or str(ex)
        return self._get_task_failure_event(
            env=env, error=error, cause=f"{message} ({', '.join(details)})"
        )
    if isinstance(ex, BotoCoreError):
        # The call never got an answer (connection, parameters): AWS reports a task failure.
        return task_failed(self, env, str(ex))
    return original(self, env, ex)


@patches.replace(StateTaskServiceUnsupported, "_eval_service_task")
def _eval_optimized_task(
    self, env, resource_runtime_part, normalised_parameters, state_credentials
):
    _call(
        self,
        env,
        resource_runtime_part.region,
        self._get_boto_service_name(),
        normalised_parameters,
        state_credentials,
    )


@patches.replace(StateTaskServiceSfn, "_eval_service_task")
def _eval_sfn_task(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    """`arn:aws:states:::states:startExecution` (moto sent the ASL's PascalCase names to boto3
    as they were): boto3's names in, the integration's PascalCase answer out (`ExecutionArn`,
    `StartDate`: docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html)."""
    _eval_optimized_task(self, env, resource_runtime_part, normalised_parameters, state_credentials)
    answer = env.stack.pop()
    env.stack.append({key[:1].upper() + key[1:]: value for key, value in answer.items()})


@patches.wrap(StateTaskServiceUnsupported, "_from_error")
def _optimized_error(original, self, env, ex):
    if not isinstance(ex, ClientError):
        return original(self, env, ex)
    service = clients.error_service_name(self.resource.api_name)
    code = ex.response.get("Error", {}).get("Code", "")
    modelled = type(ex).__name__ != "ClientError"
    name = code if code.endswith("Exception") else f"{code}Exception"
    error = f"{service}.{name}" if modelled else f"{service}.Amazon{service}Exception"
    meta = ex.response.get("ResponseMetadata", {})
    cause = (
        f"{ex.response.get('Error', {}).get('Message') or ex} (Service: {service}; "
        f"Status Code: {meta.get('HTTPStatusCode')}; Error Code: {code}; "
        f"Request ID: {meta.get('RequestId')})"
    )
    return StateTaskServiceAwsSdk._get_task_failure_event(self, env=env, error=error, cause=cause)


@patches.wrap(state_task_factory, "state_task_service_for")
def state_task_service_for(original, service_name: str):
    if service_name == "sagemaker":
        return StateTaskServiceSageMaker()
    return original(service_name)
