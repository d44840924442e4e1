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
from localaws.compute.endpoints import CREATING, IN_SERVICE, UPDATING, host

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


def apply() -> None:
    original_create = SageMakerModelBackend.create_endpoint
    original_delete = SageMakerModelBackend.delete_endpoint
    original_describe = SageMakerModelBackend.describe_endpoint

    def create_endpoint(self, endpoint_name, endpoint_config_name, tags):
        if endpoint_name in self.endpoints:
            raise ValidationError(
                f'Cannot create already existing endpoint "{_endpoint_arn(self, endpoint_name)}".'
            )
        endpoint = original_create(self, endpoint_name, endpoint_config_name, tags)
        endpoint.endpoint_status = CREATING
        host().deploy(self, endpoint, endpoint_config_name)
        return endpoint

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

    def delete_endpoint(self, endpoint_name):
        original_delete(self, endpoint_name)
        host().forget(self, endpoint_name)

    def describe_endpoint(self, endpoint_name):
        if endpoint := self.endpoints.get(endpoint_name):
            host().resume(self, endpoint)
        return original_describe(self, endpoint_name)

    for method in ("create_model", "create_model_package"):
        setattr(SageMakerModelBackend, method, _warming(getattr(SageMakerModelBackend, method)))
    SageMakerModelBackend.create_endpoint = create_endpoint
    SageMakerModelBackend.update_endpoint = update_endpoint
    SageMakerModelBackend.delete_endpoint = delete_endpoint
    SageMakerModelBackend.describe_endpoint = describe_endpoint

    def update_endpoint_response(self) -> ActionResult:
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerResponse.update_endpoint = update_endpoint_response
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint
    original_action = SageMakerRuntimeResponse._get_action

    def runtime_action(self) -> str:
        # The runtime API is three paths; matching them directly saves the generic REST route
        # match (milliseconds over moto's whole URL map), which runs twice per request.
        match = _RUNTIME_PATH.match(self.path or "")
        return _RUNTIME_ACTIONS[match["kind"]] if match else original_action(self)

    SageMakerRuntimeResponse._get_action = runtime_action


def _warming(method):
    """Wrap a backend method so that it also warms the endpoint host up (once per process)."""

    def wrapped(self, *args, **kwargs):
        result = method(self, *args, **kwargs)
        host().warm_up(self.region_name)
        return result

    return wrapped


def _error(status: int, code: str, message: str, **extra) -> tuple[int, dict, str]:
    body = {"message": message, **extra}
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "status": status}
    return status, headers, json.dumps(body)


def _invoke_endpoint(self: SageMakerRuntimeResponse):
    # Path: /endpoints/{EndpointName}/invocations
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
    body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode()
    content_type = self.headers.get("Content-Type") or "application/octet-stream"
    accept = self.headers.get("Accept") or ""
    target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
    try:
        answer, answer_type, variant = host().invoke(
            backend, endpoint, body, content_type, accept, target
        )
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
