"""The States.TaskFailed event a task reports when its call fails without a service error."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails


def task_failed(task: Any, env: Any, cause: str) -> FailureEvent:
    """A States.TaskFailed failure of `task` (a moto StateTaskService) with `cause`."""
    return FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(
            taskFailedEventDetails=TaskFailedEventDetails(
                resource=task._get_sfn_resource(),
                resourceType=task._get_sfn_resource_type(),
                error=StatesErrorNameType.StatesTaskFailed.to_name(),
                cause=cause,
            )
        ),
    )
