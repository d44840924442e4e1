"""Pipeline executions: start, stop, retry, and the scheduler that runs their steps.

Entry points (called by the SageMaker API patches): `parse` and `parameters` (from
`pipeline_definition`), `start`, `retry`, `stop`, `is_running`, `step_summaries`.

Steps start as soon as their dependencies (DependsOn, and every step whose properties they
reference) have succeeded, in parallel threads up to MaxParallelExecutionSteps. Steps in a
condition's IfSteps / ElseSteps run only in the branch that the outcome selects. A failing step
lets running steps finish and starts no new ones; the execution then fails with the step's
reason. RetryPolicies, StopPipelineExecution and RetryPipelineExecution (re-runs the failed and
stopped steps, keeps succeeded ones) follow AWS. What one step does is `pipeline_steps`; the
definition language is `pipeline_definition`.

State lives on moto's FakePipelineExecution (``localaws_steps``: plain dicts, picklable);
threads and events live here.
"""

from __future__ import annotations

import threading
import time
import traceback

from localaws.compute.pipeline_definition import (
    DONE,
    RUNNING,
    StepError,
    check,
    dependencies,
    parameters,
    parse,
)
from localaws.compute.pipeline_steps import StepExecutor, now
from localaws.core import hooks

__all__ = [
    "DONE",
    "RUNNING",
    "is_running",
    "parameters",
    "parse",
    "retry",
    "start",
    "step_summaries",
    "stop",
]


class _Runtime:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None


_runtimes: dict[str, _Runtime] = {}
_runtimes_lock = threading.Lock()


# --------------------------------------------------------------------------- execution
def start(backend, pipeline, execution, overrides: list[dict] | None) -> None:
    """Begin running a just-created execution; one that cannot run is Failed with the reason."""
    definition = parse(execution.pipeline_definition_for_execution)
    execution.localaws_parameters = parameters(definition, overrides)
    execution.localaws_steps = {}
    execution.pipeline_execution_failure_reason = None
    try:
        check(definition)
    except ValueError as exc:
        execution.pipeline_execution_status = "Failed"
        execution.pipeline_execution_failure_reason = str(exc)
        hooks.changed("sagemaker", execution)
        return
    execution.pipeline_execution_status = "Executing"
    _launch(backend, pipeline, execution)


def retry(backend, pipeline, execution) -> None:
    """Re-run the failed and stopped steps of a finished execution (ValueError if it cannot)."""
    check(parse(execution.pipeline_definition_for_execution))
    for name, record in list(execution.localaws_steps.items()):
        if record["StepStatus"] in ("Failed", "Stopped"):
            execution.localaws_attempts = getattr(execution, "localaws_attempts", {})
            execution.localaws_attempts[name] = record.get("AttemptCount", 1)
            del execution.localaws_steps[name]
    execution.pipeline_execution_status = "Executing"
    execution.pipeline_execution_failure_reason = None
    execution.last_modified_time = now()
    _launch(backend, pipeline, execution)


def stop(execution) -> None:
    runtime = _runtimes.get(execution.arn)
    execution.pipeline_execution_status = "Stopping"
    execution.last_modified_time = now()
    if runtime:
        runtime.stop.set()
        runtime.wake.set()


def is_running(execution_arn: str) -> bool:
    return execution_arn in _runtimes


def _launch(backend, pipeline, execution) -> None:
    runtime = _Runtime()
    with _runtimes_lock:
        _runtimes[execution.arn] = runtime
    runtime.thread = threading.Thread(
        target=_Interpreter(backend, pipeline, execution, runtime).run,
        daemon=True,
        name=f"localaws-pipeline-{execution.arn[-12:]}",
    )
    runtime.thread.start()


class _Interpreter(StepExecutor):
    """Schedules the steps of one execution, each in its own thread, until none can start."""

    def __init__(self, backend, pipeline, execution, runtime: _Runtime) -> None:
        super().__init__(backend, pipeline, execution, runtime.stop)
        self.runtime = runtime
        self.lock = threading.Lock()

    # -- main loop -------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - never leave an execution Executing
            traceback.print_exc()
            self.execution.pipeline_execution_status = "Failed"
            self.execution.pipeline_execution_failure_reason = f"InternalServerError: {exc}"
        finally:
            with _runtimes_lock:
                _runtimes.pop(self.execution.arn, None)
            self.changed()

    def _state_of(self, name: str) -> str:
        """Succeeded/Failed/Stopped/running/skipped/pending for step `name`."""
        record = self.records().get(name)
        if record:
            return "running" if record["StepStatus"] in RUNNING else record["StepStatus"]
        entry = self.entries[name]
        if entry["branch"]:
            cond, side = entry["branch"]
            cond_state = self._state_of(cond)
            if cond_state == "skipped":
                return "skipped"
            if cond_state == "Succeeded":
                outcome = self.records()[cond]["Metadata"]["Condition"]["Outcome"]
                if (outcome == "True") != (side == "if"):
                    return "skipped"
        for dep in dependencies(entry):
            if dep != (entry["branch"] or ("",))[0] and self._state_of(dep) == "skipped":
                return "skipped"
        return "pending"

    def _loop(self) -> None:
        limit = int(
            (self.execution.parallelism_configuration or {}).get("MaxParallelExecutionSteps") or 50
        )
        while True:
            self.runtime.wake.clear()
            with self.lock:
                states = {name: self._state_of(name) for name in self.entries}
                running = [n for n, s in states.items() if s == "running"]
                failed = [n for n, s in states.items() if s == "Failed"]
                ready = []
                if not failed and not self.runtime.stop.is_set():
                    ready = [
                        n
                        for n, s in states.items()
                        if s == "pending"
                        and all(states[d] == "Succeeded" for d in dependencies(self.entries[n]))
                    ]
                ready = ready[: max(0, limit - len(running))]
                for name in ready:
                    self._begin(name)
            for name in ready:
                threading.Thread(
                    target=self._run_step, args=(name,), daemon=True, name=f"localaws-step-{name}"
                ).start()
            if not running and not ready:
                break
            self.runtime.wake.wait(1.0)
        self._conclude()

    def _conclude(self) -> None:
        records = self.records()
        failed = [(n, r) for n, r in records.items() if r["StepStatus"] == "Failed"]
        if failed:
            name, record = failed[0]
            self.execution.pipeline_execution_status = "Failed"
            self.execution.pipeline_execution_failure_reason = (
                f"Step failure: One or multiple steps failed. Step '{name}': "
                f"{record.get('FailureReason') or 'failed'}"
            )[:1024]
        elif self.runtime.stop.is_set():
            self.execution.pipeline_execution_status = "Stopped"
        else:
            self.execution.pipeline_execution_status = "Succeeded"

    def _begin(self, name: str) -> None:
        step = self.entries[name]["step"]
        attempts = getattr(self.execution, "localaws_attempts", {}).get(name, 0)
        record = {
            "StepName": name,
            "StepStatus": "Executing",
            "StartTime": now(),
            "Metadata": {},
            "AttemptCount": attempts + 1,
        }
        for key in ("DisplayName", "Description"):
            if step.get(key):
                record[f"Step{key}"] = step[key]
        self.records()[name] = record
        self.changed(durable=False)

    def _run_step(self, name: str) -> None:
        step = self.entries[name]["step"]
        record = self.records()[name]
        policies = step.get("RetryPolicies") or []
        attempt, started = 0, time.monotonic()
        while True:
            try:
                status, reason = self.execute(step, record), None
            except StepError as exc:
                status, reason = ("Stopped" if self.runtime.stop.is_set() else "Failed"), str(exc)
                delay = _retry_delay(policies, exc.retry_type, attempt, time.monotonic() - started)
                if status == "Failed" and delay is not None and not self.runtime.stop.is_set():
                    attempt += 1
                    record["AttemptCount"] = record.get("AttemptCount", 1) + 1
                    record["Metadata"] = {}
                    self.changed()
                    if not self.runtime.stop.wait(delay):
                        continue
                    status = "Stopped"
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
            break
        with self.lock:
            record["StepStatus"] = status
            record["EndTime"] = now()
            if reason and status == "Failed":
                record["FailureReason"] = reason[:1024]
            self.changed()
        self.runtime.wake.set()


def _retry_delay(
    policies: list[dict], retry_type: str | None, attempt: int, elapsed: float
) -> float | None:
    if not retry_type:
        return None
    for policy in policies:
        if retry_type in policy.get("ExceptionType", []):
            max_attempts = policy.get("MaxAttempts")
            if max_attempts is not None and attempt >= int(max_attempts):
                return None
            expire = policy.get("ExpireAfterMin")
            if expire is not None and elapsed > 60 * float(expire):
                return None
            return (
                float(policy.get("IntervalSeconds", 1))
                * float(policy.get("BackoffRate", 2.0)) ** attempt
            )
    return None


# --------------------------------------------------------------------------- API views
def step_summaries(execution, sort_order: str = "Descending") -> list[dict]:
    records = list((getattr(execution, "localaws_steps", None) or {}).values())
    records.sort(key=lambda r: r["StartTime"], reverse=sort_order != "Ascending")
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]
