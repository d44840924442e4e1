"""Step Functions executions and persistence: durable ends, no zombies after a restart.

- When the executing interpreter finishes an execution (in its worker thread), its final
  status is saved at once (`state.changed("stepfunctions_parser")`).
- At start, executions that were RUNNING when the server stopped or died are marked FAILED
  with error `States.Runtime` and a cause saying so (they cannot resume: their thread died).
"""

from __future__ import annotations

import datetime
import logging

from localaws import state

log = logging.getLogger("localaws.recovery")

# Services saved after restore callbacks ran (callbacks for others call state.changed).
SERVICES_WITH_RUNNING_WORK = ("stepfunctions", "stepfunctions_parser", "sagemaker")
INTERRUPTED_ERROR = "States.Runtime"
INTERRUPTED_CAUSE = "localaws stopped while this execution was running; it was not resumed"

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.stepfunctions.parser.backend import execution

    original = execution.BaseExecutionWorkerCommunication.terminated

    def terminated(self) -> None:
        original(self)
        try:
            state.changed("stepfunctions_parser")
        except Exception:  # noqa: BLE001 - a save failure is logged, the execution still ends
            log.exception("saving a finished execution failed")

    execution.BaseExecutionWorkerCommunication.terminated = terminated
    state.on_restore(fail_interrupted_executions)
    _installed = True


def fail_interrupted_executions() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    now = datetime.datetime.now(tz=datetime.UTC)
    count = 0
    for _, _, backend in stepfunctions_parser_backends.iter_backends():
        for machine in backend.state_machines:
            for run in getattr(machine, "executions", []):
                if getattr(run, "exec_status", None) == ExecutionStatus.RUNNING:
                    run.exec_status = ExecutionStatus.FAILED
                    run.error = INTERRUPTED_ERROR
                    run.cause = INTERRUPTED_CAUSE
                    run.stop_date = now
                    count += 1
    if count:
        log.info("marked %d interrupted Step Functions executions FAILED", count)
