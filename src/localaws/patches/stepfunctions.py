"""Step Functions: executions run, their tasks call this server as the execution role.

What moto 5.2.5's interpreter lacks and this adds:
- tasks call `http://127.0.0.1:$MOTO_PORT` with the state machine role's keys (cached
  clients), `aws-sdk:sagemakerruntime:*` included; stream bodies come back as text;
- error names as AWS spells them (`S3.NoSuchBucketException`, `SageMaker.*`, `Iam.*`);
- a start without `name` gets a UUID, as on AWS;
- one backend for the API and CloudFormation, so stacks' state machines run;
- a role Step Functions may not assume is refused (AccessDeniedException), as on AWS;
- executions pickle (history kept; one cut off by a restart reads as FAILED);
- the end of an execution is reported to `localaws.core.hooks` so it is persisted.
"""

from __future__ import annotations

import copy
import datetime
import json
import logging
import pickle
import sys
import uuid
import zlib
from typing import Any

from localaws import sfn_clients

LOG = logging.getLogger(__name__)
_RESTART_CAUSE = "localaws stopped while this execution was running"


def _client_for(region: str, service: str, state_credentials: Any = None):
    return sfn_clients.client_for(region, service, state_credentials)


def _patch_clients() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_factory,  # noqa: F401  (imports every integration module)
    )
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if original is _client_for:
        return
    boto_client.boto_client_for = _client_for
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.stepfunctions"):
            continue
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = _client_for


def _patch_aws_sdk() -> None:
    from botocore.exceptions import BotoCoreError, ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
        StatesErrorName,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
        StateTaskService,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES.update(sfn_clients.BOTO_SERVICE_NAMES)
    if getattr(StateTaskServiceAwsSdk, "_localaws", False):
        return
    StateTaskServiceAwsSdk._normalise_service_error_name = staticmethod(
        sfn_clients.error_service_name
    )

    def _eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        client = sfn_clients.client_for(
            resource_runtime_part.region, self.resource.api_name, state_credentials
        )
        action = self._get_boto_service_action()
        params = sfn_clients.to_boto_params(client, action, normalised_parameters)
        response = getattr(client, action)(**params) or {}
        env.stack.append(sfn_clients.to_state_value(response))

    original_from_error = StateTaskServiceAwsSdk._from_error

    def _from_error(self, env, ex):
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
            error = StatesErrorNameType.StatesTaskFailed.to_name()
            return FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=EventDetails(
                    taskFailedEventDetails=TaskFailedEventDetails(
                        resource=self._get_sfn_resource(),
                        resourceType=self._get_sfn_resource_type(),
                        error=error,
                        cause=str(ex),
                    )
                ),
            )
        return original_from_error(self, env, ex)

    StateTaskServiceAwsSdk._eval_service_task = _eval_service_task
    StateTaskServiceAwsSdk._from_error = _from_error
    StateTaskServiceAwsSdk._localaws = True


def _patch_optimized_passthrough() -> None:
    """Optimized integrations moto only forwards (`arn:aws:states:::sagemaker:createModel`):
    JSON results, and errors named `SageMaker.<Error>Exception` (unmodelled ones
    `SageMaker.AmazonSageMakerException`, as that integration names them); SageMaker's
    gets `.sync` for jobs (localaws.sfn_sagemaker)."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (  # noqa: E501
        StateTaskServiceUnsupported,
    )

    if getattr(StateTaskServiceUnsupported, "_localaws", False):
        return
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: E501
        StateTaskServiceAwsSdk,
    )

    def _eval_service_task(
        self, env, resource_runtime_part, normalised_parameters, state_credentials
    ):
        client = sfn_clients.client_for(
            resource_runtime_part.region, self._get_boto_service_name(), state_credentials
        )
        action = self._get_boto_service_action()
        params = sfn_clients.to_boto_params(client, action, normalised_parameters)
        env.stack.append(sfn_clients.to_state_value(getattr(client, action)(**params) or {}))

    original_from_error = StateTaskServiceUnsupported._from_error

    def _from_error(self, env, ex):
        if not isinstance(ex, ClientError):
            return original_from_error(self, env, ex)
        service = sfn_clients.error_service_name(self.resource.api_name)
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
        return StateTaskServiceAwsSdk._get_task_failure_event(
            self, env=env, error=error, cause=cause
        )

    StateTaskServiceUnsupported._eval_service_task = _eval_service_task
    StateTaskServiceUnsupported._from_error = _from_error
    StateTaskServiceUnsupported._localaws = True

    from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory

    from localaws.sfn_sagemaker import StateTaskServiceSageMaker

    original_factory = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str):
        if service_name == "sagemaker":
            return StateTaskServiceSageMaker()
        return original_factory(service_name)

    state_task_factory.state_task_service_for = state_task_service_for


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
    from moto.core.exceptions import AWSError
    from moto.iam.models import iam_backends

    if role_arn is None:
        return
    iam = iam_backends[backend.account_id][backend.partition]
    role = next((r for r in iam.roles.values() if r.arn == role_arn), None)
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


def _patch_backend() -> None:
    import moto.stepfunctions as sfn_package
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions import responses as sfn_responses
    from moto.stepfunctions import urls as sfn_urls
    from moto.stepfunctions.parser.models import (
        StepFunctionsParserBackend,
        stepfunctions_parser_backends,
    )

    # One backend for the API, CloudFormation and persistence (moto keeps two otherwise).
    sfn_models.stepfunctions_backends = stepfunctions_parser_backends
    sfn_responses.stepfunctions_backends = stepfunctions_parser_backends
    sfn_package.stepfunctions_backends = stepfunctions_parser_backends

    if getattr(StepFunctionsParserBackend, "_localaws", False):
        return
    # moto derives a backend's URL module from its class's module; the parser has none.
    StepFunctionsParserBackend._url_module = property(lambda self: sfn_urls)
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self, state_machine_arn, name=None, execution_input=None, trace_header=None
    ):
        return original_start(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    original_create = StepFunctionsParserBackend.create_state_machine
    original_update = StepFunctionsParserBackend.update_state_machine

    def create_state_machine(self, name, definition, roleArn, *args, **kwargs):
        _check_role(self, roleArn)
        return original_create(self, name, definition, roleArn, *args, **kwargs)

    def update_state_machine(self, arn, definition=None, role_arn=None, *args, **kwargs):
        _check_role(self, role_arn)
        return original_update(self, arn, definition, role_arn, *args, **kwargs)

    original_executions = StepFunctionsParserBackend._get_executions

    def _get_executions(self, execution_status=None):
        # callers reach into the live interpreter: executions restored from disk have none
        return [
            e
            for e in original_executions(self, execution_status)
            if e.exec_worker is not None and e.exec_worker.env is not None
        ]

    StepFunctionsParserBackend._get_executions = _get_executions
    StepFunctionsParserBackend.start_execution = start_execution
    StepFunctionsParserBackend.create_state_machine = create_state_machine
    StepFunctionsParserBackend.update_state_machine = update_state_machine
    StepFunctionsParserBackend._localaws = True


def _patch_execution() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus, GetExecutionHistoryOutput
    from moto.stepfunctions.parser.asl.eval.program_state import (
        ProgramEnded,
        ProgramError,
        ProgramStopped,
        ProgramTimedOut,
    )
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend import execution as execution_module
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    Execution = execution_module.Execution
    if getattr(Execution, "_localaws", False):
        return

    comm = execution_module.BaseExecutionWorkerCommunication
    original_terminated = comm.terminated

    def _reflect_execution_status(self) -> None:
        # moto flips the status before it sets output/error, so a DescribeExecution in
        # between saw SUCCEEDED without output: set everything, the status last.
        execution = self.execution
        ended = execution.exec_worker.env.program_state()
        status = {
            ProgramEnded: ExecutionStatus.SUCCEEDED,
            ProgramStopped: ExecutionStatus.ABORTED,
            ProgramError: ExecutionStatus.FAILED,
            ProgramTimedOut: ExecutionStatus.TIMED_OUT,
        }.get(type(ended))
        if status is None:
            raise RuntimeWarning(f"Execution ended with unsupported state {type(ended)}.")
        if status == ExecutionStatus.SUCCEEDED:
            # JSON text: moto's API hands a str output on as is ("hello" must be '"hello"')
            execution.output = to_json_str(
                execution.exec_worker.env.states.get_input(), separators=(",", ":")
            )
        elif status == ExecutionStatus.FAILED:
            execution.error = ended.error.get("error")
            execution.cause = ended.error.get("cause")
        execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
        execution.exec_status = status

    def terminated(self) -> None:
        original_terminated(self)
        from localaws.core import hooks

        try:
            hooks.changed("stepfunctions")
        except Exception:  # persistence trouble must not kill the interpreter thread
            LOG.exception("could not record the end of %s", self.execution.exec_arn)

    comm._reflect_execution_status = _reflect_execution_status
    comm.terminated = terminated

    def start(self) -> None:
        # moto's version also keeps every worker thread in a module list forever.
        import threading

        threading.Thread(target=self._run_logged, daemon=True).start()

    def _run_logged(self) -> None:
        try:
            self._execution_logic()
        except Exception:
            LOG.exception("Step Functions execution worker crashed")
            raise

    ExecutionWorker.start = start
    ExecutionWorker._run_logged = _run_logged

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        worker = state.pop("exec_worker", None)
        state["exec_worker"] = None
        if worker is not None and worker.env is not None:
            state["_saved_history"] = list(worker.env.event_manager.get_event_history())
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.FAILED
            self.error = "States.Runtime"
            self.cause = _RESTART_CAUSE
            self.stop_date = datetime.datetime.now(tz=datetime.UTC)

    original_history = Execution.to_history_output

    def to_history_output(self):
        if self.exec_worker is None:
            return GetExecutionHistoryOutput(events=list(self.__dict__.get("_saved_history", [])))
        return original_history(self)

    original_stop = Execution.stop

    def stop(self, stop_date, error, cause):
        if self.exec_worker is None:
            return
        return original_stop(self, stop_date, error, cause)

    def __reduce_ex__(self, protocol):
        # An ended execution never changes: pickle it once, then hand the bytes to every
        # later save (persistence pickles the whole backend on each change).
        if self.exec_status in (None, ExecutionStatus.RUNNING):
            return object.__reduce_ex__(self, protocol)
        blob = self.__dict__.get("_localaws_blob")
        if blob is None:
            state = __getstate__(self)
            state.pop("_localaws_blob", None)
            machine = copy.copy(state["state_machine"])
            machine.backend = None  # the snapshot needs no way back to the live backend
            machine.executions = []
            state["state_machine"] = machine
            try:
                blob = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)
            except Exception:  # something unusual inside: let the caller's pickler cope
                return object.__reduce_ex__(self, protocol)
            self._localaws_blob = blob
        return _restore_execution, (type(self), blob)

    Execution.__getstate__ = __getstate__
    Execution.__setstate__ = __setstate__
    Execution.__reduce_ex__ = __reduce_ex__
    Execution.to_history_output = to_history_output
    Execution.stop = stop
    Execution._localaws = True


def _restore_execution(cls: type, blob: bytes) -> Any:
    """Rebuild an ended execution pickled by `Execution.__reduce_ex__` (keeps its bytes)."""
    execution = cls.__new__(cls)
    execution.__dict__.update(pickle.loads(zlib.decompress(blob)))
    execution._localaws_blob = blob
    return execution


def _patch_history_paging() -> None:
    """GetExecutionHistory honours reverseOrder, maxResults and nextToken (moto ignored them)."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse, "_localaws", False):
        return

    def get_execution_history(self):
        history = self.stepfunction_backend.get_execution_history(self._get_param("executionArn"))
        events = list(history["events"])
        if self._get_param("reverseOrder"):
            events.reverse()
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 0) or 1000
        page = {"events": events[start : start + size]}
        if start + size < len(events):
            page["nextToken"] = str(start + size)
        return ActionResult(page)

    StepFunctionResponse.get_execution_history = get_execution_history
    StepFunctionResponse._localaws = True


def apply() -> None:
    """Install the Step Functions extensions (idempotent)."""
    _patch_clients()
    _patch_aws_sdk()
    _patch_optimized_passthrough()
    _patch_backend()
    _patch_execution()
    _patch_history_paging()
