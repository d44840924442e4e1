"""The one runner of the platform's state machines: start, wait with progress, check.

`run_state_machine` starts an execution of the create / deploy / delete state machine, shows
its current state while it runs (helpers.progress) and returns the finished `Execution`;
`Execution.check` raises a named error (helpers.errors) carrying the execution's error and
cause when it did not succeed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from helpers.errors import ExecutionFailed, TenantExists, TenantNotFound, TenantNotReady
from helpers.naming import state_machine_arn as _state_machine_arn
from helpers.progress import Progress, ProgressTarget
from helpers.session import AwsSession

# State machine error names that have their own exception class.
NAMED_ERRORS: dict[str, type[ExecutionFailed]] = {
    "TenantAlreadyExists": TenantExists,
    "TenantNotFound": TenantNotFound,
    "TenantNotReady": TenantNotReady,
}
LABELS = {"create": "create-tenant", "deploy": "deploy-tenant", "delete": "delete-tenant"}


@dataclass
class Execution:
    """A finished state machine execution."""

    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    seconds: float
    history: Callable[[], list[str]] = field(default=list, repr=False, compare=False)

    @cached_property
    def states(self) -> list[str]:
        """The names of the states entered, in order. Read from the execution history when
        first asked for: a caller that does not look (no progress display) does not pay for
        a history of hundreds of events."""
        return self.history()

    def check(self, what: str, failure: type[ExecutionFailed] = ExecutionFailed) -> Execution:
        """Return self if it succeeded, else raise `failure` (or the error's own class)."""
        if self.status == "SUCCEEDED":
            return self
        error = self.error or self.status
        cause = self.cause or ""
        cls = NAMED_ERRORS.get(error, failure)
        raise cls(f"{what} failed: {error}: {cause}", error, cause, self.arn)


def state_machine_arn(session: AwsSession, kind: str) -> str:
    """ARN of the platform's `kind` ("create", "deploy", "delete") state machine."""
    return _state_machine_arn(kind, session.region, session.account_id)


def summary(label: str, execution: Execution) -> str:
    """The line that stays, e.g. "create-tenant acme: 9 states, Succeeded in 0.4 s"."""
    status = execution.status.capitalize()
    line = f"{label}: {len(execution.states)} states, {status} in {execution.seconds:.1f} s"
    return line if execution.status == "SUCCEEDED" else f"{line} ({execution.error})"


def run_state_machine(
    session: AwsSession,
    kind: str,
    payload: dict,
    *,
    name_hint: str = "",
    progress: ProgressTarget = True,
    timeout: float = 900,
) -> Execution:
    """Start the `kind` state machine with `payload`, wait for it to finish and return it.

    While it runs, `progress` shows its current state; afterwards one summary line. A failed
    execution is returned, not raised: call `.check(what)` to raise its named error. An
    execution whose output names `continuedIn` (the delete continuing as new) is followed:
    the result is the last one's, with the states of all and the time since the start.
    """
    sfn = session.client("stepfunctions")
    label = f"{LABELS.get(kind, kind)} {name_hint}".strip()
    display = Progress(progress)
    name = f"{kind}-{name_hint}-{uuid.uuid4().hex[:12]}".replace("--", "-")[:80]
    started = time.monotonic()
    machine = state_machine_arn(session, kind)
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except sfn.exceptions.ExecutionAlreadyExists:
        # The name is fresh, so the execution is this call's own: an earlier attempt that
        # boto3 retried (e.g. after a read timeout) had already started it.
        arn = machine.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    execution = _wait(sfn, arn, label, display, started, timeout, kind)
    # A delete past its history budget hands the rest to a new execution of itself.
    while execution.status == "SUCCEEDED" and (
        following := (execution.output or {}).get("continuedIn")
    ):
        earlier = execution.history
        execution = _wait(sfn, following, label, display, started, timeout, kind)
        execution.history = _joined(earlier, execution.history)
    if display.enabled:
        display.finish(summary(label, execution))
    return execution


def _joined(first: Callable[[], list[str]], then: Callable[[], list[str]]) -> Callable:
    return lambda: first() + then()


def _wait(
    sfn: Any, arn: str, label: str, display: Progress, started: float, timeout: float, kind: str
) -> Execution:
    """Poll execution `arn` until it ends (showing progress); return it."""
    delays = poll_delays(started)
    entered = EnteredStates(sfn, arn)
    while True:
        time.sleep(next(delays))
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise ExecutionFailed(
                f"{kind} execution {arn} still running after {timeout:.0f}s",
                error="Timeout",
                execution_arn=arn,
            )
        if display.live:
            states = entered.refresh()
            current = states[-1] if states else "starting"
            display.update(f"{label}: {current} ({len(states)} states, {elapsed:.1f} s)")
    output = described.get("output")
    return Execution(
        arn=arn,
        status=described["status"],
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        seconds=time.monotonic() - started,
        history=entered.refresh,
    )


class EnteredStates:
    """The names of the states an execution entered, read incrementally: `refresh` asks only
    for the events since the last refresh (newest first, a page at a time, without their input
    and output), so a progress display polling a long execution does not read (and make the
    service serialize) its whole history on every poll."""

    PAGE = 50  # events per request after the first read; a poll usually finds fewer

    def __init__(self, sfn: Any, arn: str) -> None:
        self._sfn, self._arn = sfn, arn
        self._names: list[str] = []
        self._last_id = 0

    def refresh(self) -> list[str]:
        """All entered states so far, in order (a copy)."""
        new: list[dict] = []
        token = None
        while True:
            kwargs: dict[str, str] = {"nextToken": token} if token else {}
            page = self._sfn.get_execution_history(
                executionArn=self._arn,
                maxResults=self.PAGE if self._last_id else 1000,  # a first read: all
                reverseOrder=True,
                includeExecutionData=False,
                **kwargs,
            )
            fresh = [e for e in page["events"] if e["id"] > self._last_id]
            new += fresh
            token = page.get("nextToken")
            if len(fresh) < len(page["events"]) or not token:
                break
        if new:
            self._last_id = max(e["id"] for e in new)
        self._names += [
            e["stateEnteredEventDetails"]["name"]
            for e in sorted(new, key=lambda e: e["id"])
            if "stateEnteredEventDetails" in e
        ]
        return list(self._names)


def poll_delays(started: float, first: float = 0.05, growth: float = 1.5) -> Iterator[float]:
    """Seconds to sleep before each DescribeExecution: `first`, growing by `growth` up to
    0.25 s while the run is younger than 10 s (since `started`, a `time.monotonic()`), then 1 s.

    Each poll costs the server a request (~4 ms of its CPU on localaws): polling every 0.1 s
    made the polls a third of a tenant's create on a busy server, where executions run
    longer and so were polled more. This schedule polls a 1.5 s run 9 times (was 17) and
    reports a run at most 0.25 s after it ended: the notebooks wait on three runs in a row.
    """
    delay = first
    while True:
        yield delay
        young = time.monotonic() - started < 10
        delay = min(delay * growth, 0.25) if young else 1.0


def entered_states(sfn: Any, arn: str) -> list[str]:
    """The names of the states the execution entered so far, in order."""
    return EnteredStates(sfn, arn).refresh()
