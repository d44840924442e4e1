"""Step Functions' hard quota of 25,000 events in a Standard execution's history.

AWS (docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html): once an execution
has 24,999 events it waits for the next one; if event 25,000 is ExecutionSucceeded the
execution succeeds, otherwise ExecutionFailed is logged as event 25,000 and the execution
fails. The guide names no error; real executions cut off this way end with `States.Runtime`
and the cause below (reported from AWS accounts: github.com/loads/ardere/issues/86,
cloudonaut.io/step-functions-pitfall-maximum-number-of-history-events), the failure event's
previousEventId being event 24,999.

moto 5.2.5 records events without bound. Each Standard execution's `EventManager` gets a
`_Quota` (a counter and a lock); Map and Parallel frames share their execution's manager, so
their iterations count as AWS counts them (a distributed Map's child runs get managers of
their own, as on AWS they are executions of their own; Express executions have no quota). At
the limit it logs ExecutionFailed, fails the execution's environment (which stops every frame
and wakes Wait states) and drops every later event; the error stays even if a state fails or
the timeout fires while the program winds down. As with moto's StopExecution, a state already
past its `is_running` check finishes its current step.

`LOCALAWS_SFN_HISTORY_LIMIT` in the server's environment lowers the limit, for tests only (so
they run small); it is read when the group is applied, and a bad value stops the start.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import (
    EventHistoryContext,
    EventManager,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from localaws.core.patching import Patches

HISTORY_LIMIT = 25_000
ENV = "LOCALAWS_SFN_HISTORY_LIMIT"


def configured_limit() -> int:
    """The limit in force: `HISTORY_LIMIT`, or the test-only `LOCALAWS_SFN_HISTORY_LIMIT`."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return HISTORY_LIMIT
    if not text.isdigit() or not 2 <= int(text) <= HISTORY_LIMIT:
        raise ValueError(
            f"{ENV} (test-only) must be a whole number from 2 to {HISTORY_LIMIT}, got {text!r}"
        )
    return int(text)


patches = Patches("stepfunctions.history_limit")
ERROR = "States.Runtime"
_ATTRIBUTE = "_localaws_quota"
_limit = HISTORY_LIMIT


@patches.refresh
def _read_limit() -> None:
    global _limit
    _limit = configured_limit()


def cause(limit: int) -> str:
    return f"The execution reached the maximum number of history events ({limit})."


class _Quota:
    """One execution's event count against the limit; `failure` once the limit was reached."""

    __slots__ = ("count", "environment", "failure", "limit", "lock")

    def __init__(self, limit: int, environment: Environment) -> None:
        self.limit = limit
        self.environment = environment
        self.count = 0
        self.failure: ExecutionFailedEventDetails | None = None
        self.lock = threading.Lock()


def _quota(manager: EventManager) -> _Quota | None:
    return manager.__dict__.get(_ATTRIBUTE)


@patches.wrap(ExecutionWorker, "_get_evaluation_environment")
def _get_evaluation_environment(original: Callable[..., Environment], self: Any) -> Environment:
    environment = original(self)
    if environment.is_standard_workflow():
        setattr(environment.event_manager, _ATTRIBUTE, _Quota(_limit, environment))
    return environment


@patches.wrap(EventManager, "add_event")
def add_event(
    original: Callable[..., int],
    self: EventManager,
    context: EventHistoryContext,
    event_type: HistoryEventType,
    event_details: EventDetails | None = None,
    timestamp: Any = None,
    update_source_event_id: bool = True,
) -> int:
    quota = _quota(self)
    if quota is None:
        return original(self, context, event_type, event_details, timestamp, update_source_event_id)
    with quota.lock:
        if quota.count >= quota.limit:
            return quota.count  # the history is closed: nothing more is recorded
        quota.count += 1
        if quota.count < quota.limit or event_type == HistoryEventType.ExecutionSucceeded:
            return original(
                self, context, event_type, event_details, timestamp, update_source_event_id
            )
        quota.failure = ExecutionFailedEventDetails(error=ERROR, cause=cause(quota.limit))
        original(
            self,
            EventHistoryContext(previous_event_id=quota.count - 1),
            HistoryEventType.ExecutionFailed,
            EventDetails(executionFailedEventDetails=quota.failure),  # type: ignore[typeddict-item]
        )
    quota.environment.set_error(quota.failure)  # outside the lock: it takes the frames' locks
    return quota.count


@patches.wrap(Environment, "set_error")
def set_error(
    original: Callable[..., None], self: Environment, error: ExecutionFailedEventDetails
) -> None:
    quota = _quota(self.event_manager)
    if quota is not None and quota.failure is not None:
        error = quota.failure  # the history limit ended the execution: no later error hides it
    original(self, error)


@patches.wrap(Environment, "set_timed_out")
def set_timed_out(original: Callable[..., None], self: Environment) -> None:
    quota = _quota(self.event_manager)
    if quota is not None and quota.failure is not None:
        self.set_error(quota.failure)
    else:
        original(self)
