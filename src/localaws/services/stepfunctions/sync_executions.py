"""StartSyncExecution, which moto 5.2.5 does not answer (its responses have no handler: a 500).

As the API reference documents it (docs.aws.amazon.com/step-functions/latest/apireference/
API_StartSyncExecution.html): an EXPRESS state machine's execution runs to its end within the
request, and the answer carries its status (SUCCEEDED, FAILED or TIMED_OUT) with its output,
or its error and cause; a STANDARD state machine is refused with StateMachineTypeNotSupported
(the message is LocalStack's, whose Step Functions tests are validated against AWS).

botocore sends this action to the `sync-` host prefix (`sync-states.<region>.amazonaws.com`):
a client of localaws needs `Config(inject_host_prefix=False)`, which `helpers.session` sets.
"""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import ActionResult
from moto.stepfunctions.parser.api import ExecutionStatus, StateMachineTypeNotSupported
from moto.stepfunctions.responses import StepFunctionResponse

from localaws.core.patching import Patches

patches = Patches("stepfunctions.sync_executions")
_STATUS = {  # SyncExecutionStatus has no ABORTED: an express execution cannot be stopped
    ExecutionStatus.SUCCEEDED: "SUCCEEDED",
    ExecutionStatus.FAILED: "FAILED",
    ExecutionStatus.TIMED_OUT: "TIMED_OUT",
    ExecutionStatus.ABORTED: "FAILED",
}


def _ended(execution: Any) -> None:
    """Wait for `execution` to end (polled: its worker thread sets the status last)."""
    pause = 0.001
    while execution.exec_status in (None, ExecutionStatus.RUNNING):
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


@patches.add(StepFunctionResponse, "start_sync_execution")
def start_sync_execution(self) -> ActionResult:
    """The StartSyncExecution action."""
    arn = self._get_param("stateMachineArn")
    backend = self.stepfunction_backend
    if backend.describe_state_machine(arn).type != "EXPRESS":
        raise StateMachineTypeNotSupported(
            "This operation is not supported by this type of state machine"
        )
    execution = backend.start_execution(
        arn, self._get_param("name"), self._get_param("input", if_none="{}")
    )
    _ended(execution)
    response = {
        "executionArn": execution.execution_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "startDate": execution.start_date,
        "stopDate": execution.stop_date,
        "status": _STATUS[execution.exec_status],
        "input": execution.execution_input,
        "inputDetails": {"included": True},
    }
    if execution.exec_status == ExecutionStatus.SUCCEEDED:
        response["output"] = execution.output
        response["outputDetails"] = {"included": True}
    for field in ("error", "cause"):
        if getattr(execution, field) is not None:
            response[field] = getattr(execution, field)
    return ActionResult(response)
