"""SageMaker endpoints that really serve: Create/Update/Delete/DescribeEndpoint and InvokeEndpoint.

moto keeps endpoint records only (InService at once, no UpdateEndpoint, a canned InvokeEndpoint
body even for endpoints that do not exist). Here CreateEndpoint and UpdateEndpoint go through
Creating/Updating while `localaws.compute.endpoints` loads the models, and InvokeEndpoint runs
the model or answers as AWS does: ValidationError for an unknown endpoint or one not in service,
ModelError (HTTP 424, with the container's status and message) when the model rejects the request.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from localaws.compute.endpoint_handlers import InvocationError
from localaws.compute.endpoints import (
    CREATING,
    DELETING,
    IN_SERVICE,
    UPDATING,
    host,
    transition_seconds,
)
from localaws.compute.multi_model import RequestError
from localaws.core.patching import Patches

_RUNTIME_PATH = re.compile(
    r"^/endpoints/[^/]+/(?P<kind>invocations|async-invocations|invocations-response-stream)$"
)
_RUNTIME_ACTIONS = {
    "invocations": "InvokeEndpoint",
    "async-invocations": "InvokeEndpointAsync",
    "invocations-response-stream": "InvokeEndpointWithResponseStream",
}


def _endpoint_arn(backend, name: str) -> str:
    return FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)


# after the registry: warming wraps its CreateModelPackage, which replaces moto's numbering
patches = Patches("sagemaker.endpoints", after=("sagemaker.registry",))


@patches.wrap(SageMakerModelBackend, "create_endpoint")
def create_endpoint(original, self, endpoint_name, endpoint_config_name, tags):
    if endpoint_name in self.endpoints:
        raise ValidationError(
            f'Cannot create already existing endpoint "{_endpoint_arn(self, endpoint_name)}".'
        )
    endpoint = original(self, endpoint_name, endpoint_config_name, tags)
    endpoint.endpoint_status = CREATING
    host().deploy(self, endpoint, endpoint_config_name)
    return endpoint


@patches.add(SageMakerModelBackend, "update_endpoint")
def update_endpoint(self, endpoint_name: str, endpoint_config_name: str) -> FakeEndpoint:
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = _endpoint_arn(self, endpoint_name)
        raise ValidationError(f"Could not find endpoint '{arn}'.")
    self.describe_endpoint_config(endpoint_config_name)  # ValidationError if missing
    if endpoint.endpoint_status != IN_SERVICE:
        raise ValidationError(
            f'Cannot update in-progress endpoint "{endpoint.arn}".'
            if endpoint.endpoint_status in (CREATING, UPDATING)
            else f'Cannot update endpoint "{endpoint.arn}" in status '
            f"{endpoint.endpoint_status}; delete it and create it again."
        )
    endpoint.endpoint_status = UPDATING
    endpoint.failure_reason = None
    host().deploy(self, endpoint, endpoint_config_name)
    return endpoint


@patches.wrap(SageMakerModelBackend, "delete_endpoint")
def delete_endpoint(original, self, endpoint_name):
    # Asynchronous, as on AWS: the endpoint lists as Deleting for LOCALAWS_ENDPOINT_DELAY_S.
    endpoint = self.endpoints.get(endpoint_name)
    if endpoint is None or transition_seconds() <= 0:
        original(self, endpoint_name)
        host().forget(self, endpoint_name)
    elif endpoint.endpoint_status != DELETING:
        host().delete_later(self, endpoint, lambda: original(self, endpoint_name))


@patches.wrap(SageMakerModelBackend, "describe_endpoint")
def describe_endpoint(original, self, endpoint_name):
    if endpoint := self.endpoints.get(endpoint_name):
        host().resume(self, endpoint)
    return original(self, endpoint_name)


# Models usually precede endpoints: let the endpoint host warm up (once per process) meanwhile.
@patches.wrap(SageMakerModelBackend, "create_model_package")
def _warming(original, self, *args, **kwargs):
    result = original(self, *args, **kwargs)
    host().warm_up(self.region_name)
    return result


@patches.wrap(SageMakerModelBackend, "create_model")
def create_model(original, self, *args, **kwargs):
    # ContainerDefinition.Mode is SingleModel (default) or MultiModel, whose ModelDataUrl is
    # the S3 prefix its target models live under (API_ContainerDefinition).
    container = kwargs.get("primary_container") or {}
    mode = container.get("Mode", "SingleModel")
    if mode not in ("SingleModel", "MultiModel"):
        raise ValidationError(
            f"Value '{mode}' at 'primaryContainer.mode' failed to satisfy constraint: Member "
            "must satisfy enum value set: [SingleModel, MultiModel]"
        )
    if mode == "MultiModel" and not str(container.get("ModelDataUrl", "")).startswith("s3://"):
        raise ValidationError(
            "A MultiModel container needs ModelDataUrl: the s3:// prefix of its models."
        )
    return _warming(original, self, *args, **kwargs)


@patches.add(SageMakerResponse, "update_endpoint")
def update_endpoint_response(self) -> ActionResult:
    endpoint = self.sagemaker_backend.update_endpoint(
        endpoint_name=self._get_param("EndpointName"),
        endpoint_config_name=self._get_param("EndpointConfigName"),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


patches.set(SageMakerRuntimeResponse, "use_raw_body", True)


@patches.wrap(SageMakerRuntimeResponse, "_get_action")
def runtime_action(original, self) -> str:
    # The runtime API is three paths; matching them directly saves the generic REST route
    # match (milliseconds over moto's whole URL map), which runs twice per request.
    match = _RUNTIME_PATH.match(self.path or "")
    return _RUNTIME_ACTIONS[match["kind"]] if match else original(self)


MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # real-time endpoints: 6 MB


def _error(status: int, code: str, message: str, **extra) -> tuple[int, dict, str]:
    body = {"message": message, **extra}
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "status": status}
    return status, headers, json.dumps(body)


@patches.replace(SageMakerRuntimeResponse, "invoke_endpoint")
def invoke_endpoint(self: SageMakerRuntimeResponse):
    # Path: /endpoints/{EndpointName}/invocations
    body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        # The API's documented constraint on Body ("Length Constraints: Maximum length of
        # 6291456", API_runtime_InvokeEndpoint; botocore's sagemaker-runtime model: BodyBlob
        # max 6291456), answered as AWS answers a constraint violation. There is no minimum:
        # an empty body reaches the model, which decides (a ModelError if it cannot use it).
        return _error(
            400,
            "ValidationError",
            "1 validation error detected: Value at 'body' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_PAYLOAD_BYTES}",
        )
    name = unquote(self.path.split("/")[2])
    backend = sagemaker_backends[self.current_account][self.region]
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        return _error(
            400, "ValidationError", f"Endpoint {name} of account {self.current_account} not found."
        )
    host().resume(backend, endpoint)
    if endpoint.endpoint_status not in (IN_SERVICE, UPDATING):
        return _error(
            400,
            "ValidationError",
            f"Endpoint {name} of account {self.current_account} is not in service "
            f"(status {endpoint.endpoint_status}).",
        )
    content_type = self.headers.get("Content-Type") or "application/octet-stream"
    accept = self.headers.get("Accept") or ""
    target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
    target_model = self.headers.get("X-Amzn-SageMaker-Target-Model")
    try:
        answer, answer_type, variant = host().invoke(
            backend, endpoint, body, content_type, accept, target, target_model
        )
    except RequestError as exc:
        return _error(400, exc.code, exc.message)
    except InvocationError as exc:
        kind = "client" if 400 <= exc.status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        return _error(
            424,
            "ModelError",
            f'Received {kind} error ({exc.status}) from primary with message "{exc.message}". '
            f"See log group {log_group} in account {self.current_account} for more information.",
            OriginalStatusCode=exc.status,
            OriginalMessage=exc.message,
            LogStreamArn=f"arn:aws:logs:{self.region}:{self.current_account}:log-group:{log_group}",
        )
    return 200, {"Content-Type": answer_type, "x-Amzn-Invoked-Production-Variant": variant}, answer
