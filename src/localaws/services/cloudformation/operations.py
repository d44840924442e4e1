"""CloudFormation: a retried CreateStack answered once.

CreateStack with the ClientRequestToken that created the active stack of that name answers that
stack's StackId instead of AlreadyExistsException: it is a retry (boto3 retries a request whose
answer did not arrive in time). AWS: "Specify this token if you plan to retry requests so that
CloudFormation knows that you're not attempting to create a stack with the same name"
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html,
ClientRequestToken). Another token, or none, is still AlreadyExistsException.

localaws serializes CloudFormation's writes (`persistence.middleware`: a stack operation may
write any service), so the retry is answered once the first request's create has ended.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.models import CloudFormationBackend
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from localaws.core.patching import Patches

patches = Patches("cloudformation.operations", after=("cloudformation.stacks",))
TOKENS = "localaws_create_tokens"  # backend attribute: stack name -> the token that created it


def _tokens(backend: CloudFormationBackend) -> dict[str, str]:
    return backend.__dict__.setdefault(TOKENS, {})  # backends saved before it lack it


def _active_stack(backend: CloudFormationBackend, name: str) -> Any:
    return next((s for s in list(backend.stacks.values()) if s.name == name), None)


@patches.wrap(CloudFormationResponse, "create_stack")
def create_stack(original, self) -> ActionResult:
    name = self._get_param("StackName")
    token = self._get_param("ClientRequestToken")
    backend = self.cloudformation_backend
    existing = _active_stack(backend, name)
    if existing is not None and token and _tokens(backend).get(name) == token:
        return ActionResult({"StackId": existing.stack_id})
    if existing is None:  # else moto's AlreadyExistsException; the stack keeps its token
        if token:
            _tokens(backend)[name] = token
        else:
            _tokens(backend).pop(name, None)
    return original(self)
