"""The Step Functions backend: one for the API and CloudFormation, AWS's rules at its edges.

What moto 5.2.5 lacks and this adds:
- one backend (the executing parser's) for the API, CloudFormation and persistence (moto
  keeps two otherwise), so stacks' state machines run;
- a start without `name` gets a UUID, as on AWS;
- a role Step Functions may not assume is refused (AccessDeniedException), as on AWS;
- CreateStateMachine with a taken name is idempotent only for the same definition, type,
  logging and tracing configuration, else StateMachineAlreadyExists (moto returned the old one);
- executions restored from disk (no live interpreter) are left out where callers reach into it;
- GetExecutionHistory honours reverseOrder, maxResults (default 100, at most 1000), nextToken
  and includeExecutionData (moto ignored them): without execution data an event carries no
  input or output, which a delete's history of hundreds of ~30 KB pages of S3 versions made
  most of its size;
- DescribeExecution (and so GetExecutionHistory) finds the execution through an index
  (`core.lookup`): moto scanned all the state machine's executions at every poll;
- so does StartExecution's check that the name is free: moto scanned them all, and in a
  write every execution a scan reaches is saved again (`persistence.tracking`);
- the parser's errors (InvalidDefinition, ...) carry their name: moto's vendored API module
  spells it `code`, which `AWSError` reads as the HTTP status, so clients got an empty code.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import moto.stepfunctions as sfn_package
from moto.core.exceptions import AWSError
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions import responses as sfn_responses
from moto.stepfunctions import urls as sfn_urls
from moto.stepfunctions.exceptions import ExecutionAlreadyExists, ExecutionDoesNotExist
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser import api as sfn_api
from moto.stepfunctions.parser.models import (
    StepFunctionsParserBackend,
    stepfunctions_parser_backends,
)
from moto.stepfunctions.responses import StepFunctionResponse

from localaws.core.lookup import Lookup
from localaws.core.patching import Patches
from localaws.services.iam.lookups import role_with_arn

patches = Patches("stepfunctions.backend")
for _module in (sfn_models, sfn_responses, sfn_package):
    patches.set(_module, "stepfunctions_backends", stepfunctions_parser_backends)
# moto derives a backend's URL module from its class's module; the parser has none.
patches.set(StepFunctionsParserBackend, "_url_module", property(lambda self: sfn_urls))
for _error in vars(sfn_api).values():
    if (
        isinstance(_error, type)
        and issubclass(_error, AWSError)
        and _error.TYPE is None
        and isinstance(vars(_error).get("code"), str)
    ):
        patches.set(_error, "TYPE", _error.code)
_EXECUTIONS = Lookup("execution_arn")
_EXECUTION_NAMES = Lookup("name")


def role_trusts_states(document: Any, region: str) -> bool:
    """Whether a trust policy lets Step Functions (global or regional principal) assume the role."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    principals = {"states.amazonaws.com", f"states.{region}.amazonaws.com"}
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") != "Allow" or not {"sts:AssumeRole", "sts:*", "*"} & set(
            actions
        ):
            continue
        principal = statement.get("Principal", {})
        if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
            return True
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        if principals & set(services):
            return True
    return False


def _check_role(backend: Any, role_arn: str | None) -> None:
    """AWS refuses a state machine role that Step Functions may not assume."""
    if role_arn is None:
        return
    iam = iam_backends[backend.account_id][backend.partition]
    role = role_with_arn(iam, role_arn)
    if role is None or not role_trusts_states(
        role.assume_role_policy_document, backend.region_name
    ):
        error = AWSError(
            "Neither the global service principal states.amazonaws.com, nor the "
            f"regional one is authorized to assume the provided role {role_arn}.",
            "AccessDeniedException",
            400,
        )
        raise error


@patches.wrap(StepFunctionsParserBackend, "start_execution")
def start_execution(
    original, self, state_machine_arn, name=None, execution_input=None, trace_header=None
):
    return original(
        self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
    )


@patches.replace(StateMachine, "_handle_name_input_idempotency")
def _handle_name_input_idempotency(self, name: str, execution_input: str) -> Any:
    """moto's rule, found by index: "If StartExecution is called with the same name and input
    as a running execution, the call will succeed and return the same response as the original
    request. If the execution is closed or if the input is different, it will return a 400
    ExecutionAlreadyExists error" (API reference, StartExecution)."""
    execution = _EXECUTION_NAMES.find(self.executions, name)
    if execution is None:
        return None
    if execution_input == execution.execution_input and execution.status == "RUNNING":
        return execution
    raise ExecutionAlreadyExists("Execution Already Exists: '" + execution.execution_arn + "'")


def _same_configuration(machine: Any, definition: str, kwargs: dict) -> bool:
    """CreateStateMachine's idempotency check: "based on the state machine name, definition,
    type, LoggingConfiguration, TracingConfiguration ... If a following request has a different
    roleArn or tags, Step Functions will ignore these differences" (API reference,
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_CreateStateMachine.html)."""

    def same(asked: Any, kept: Any, default: Any) -> bool:
        return (asked or default) == (kept or default)

    return (
        _canonical(definition) == _canonical(machine.definition)
        and same(kwargs.get("sm_type"), machine.type, "STANDARD")
        and same(kwargs.get("loggingConfiguration"), machine.loggingConfiguration, {"level": "OFF"})
        and same(
            kwargs.get("tracingConfiguration"), machine.tracingConfiguration, {"enabled": False}
        )
    )


def _canonical(definition: Any) -> Any:
    try:
        return json.loads(definition) if isinstance(definition, str) else definition
    except ValueError:
        return definition


@patches.wrap(StepFunctionsParserBackend, "create_state_machine")
def create_state_machine(original, self, name, definition, roleArn, *args, **kwargs):  # noqa: N803
    existing = next((m for m in self.state_machines if m.name == name), None)
    if existing is not None and not _same_configuration(existing, definition, kwargs):
        # The message LocalStack's provider (vendored in moto) gives, with the code AWS documents.
        raise AWSError(
            f"State Machine Already Exists: '{existing.arn}'", "StateMachineAlreadyExists", 400
        )
    _check_role(self, roleArn)
    return original(self, name, definition, roleArn, *args, **kwargs)


@patches.wrap(StepFunctionsParserBackend, "update_state_machine")
def update_state_machine(original, self, arn, definition=None, role_arn=None, *args, **kwargs):
    _check_role(self, role_arn)
    return original(self, arn, definition, role_arn, *args, **kwargs)


@patches.replace(StepFunctionsParserBackend, "describe_execution")
def describe_execution(self, execution_arn: str) -> Any:
    self._validate_execution_arn(execution_arn)
    machine = self._get_state_machine_for_execution(execution_arn)
    execution = _EXECUTIONS.find(machine.executions, execution_arn)
    if execution is None:
        raise ExecutionDoesNotExist("Execution Does Not Exist: '" + execution_arn + "'")
    return execution


@patches.wrap(StepFunctionsParserBackend, "_get_executions")
def _get_executions(original, self, execution_status=None):
    # callers reach into the live interpreter: executions restored from disk have none
    return [
        e
        for e in original(self, execution_status)
        if e.exec_worker is not None and e.exec_worker.env is not None
    ]


@patches.replace(StepFunctionResponse, "get_execution_history")
def get_execution_history(self):
    history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
    events = list(history["events"])
    if self._get_param("reverseOrder"):
        events.reverse()
    start = int(self._get_param("nextToken") or 0)
    size = _page_size(self._get_param("maxResults"))
    page = {"events": events[start : start + size]}
    if self._get_param("includeExecutionData") is False:
        page["events"] = [_without_data(event) for event in page["events"]]
    if start + size < len(events):
        page["nextToken"] = str(start + size)
    return ActionResult(page)


def _page_size(asked: Any) -> int:
    """maxResults: "The default is 100 and the maximum allowed page size is 1000. A value of 0
    uses the default." (API_GetExecutionHistory.html); a larger one is a ValidationException,
    in the wording of AWS's request validation."""
    size = int(asked or 0)
    if size > 1000:
        raise AWSError(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy "
            "constraint: Member must have value less than or equal to 1000",
            "ValidationException",
            400,
        )
    return size or 100


_EXECUTION_DATA = ("input", "inputDetails", "output", "outputDetails")


def _without_data(event: dict) -> dict:
    """`event` without its execution data: "whether execution data (input or output of a
    history event) is returned" (docs.aws.amazon.com/step-functions/latest/apireference/
    API_GetExecutionHistory.html, includeExecutionData). Recorded events are shared, never
    changed: this copies the one details member it trims."""
    out = dict(event)
    for key, details in event.items():
        if key.endswith("EventDetails") and isinstance(details, dict):
            if any(field in details for field in _EXECUTION_DATA):
                out[key] = {k: v for k, v in details.items() if k not in _EXECUTION_DATA}
    return out
