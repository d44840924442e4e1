"""Step Functions state data carried cheaply: JSON copies, and one serialisation per input.

moto 5.2.5's interpreter deep-copies a state's data at every step (state entry and exit,
InputPath, Parameters paths, ResultPath, OutputPath, the size quota check, Parallel branches,
Map iterations, timeouts) with `copy.deepcopy`, and serialises the input three times per state
(StateEntered, the 256 KB quota check, StateExited). With ~30 KB of input (a page of S3
versions) that was most of an execution's server CPU.

- In the modules that copy state data, `copy.deepcopy` becomes `json_copy`: state data are JSON
  values, so dicts and lists are rebuilt and str/int/float/bool/None shared (immutable); any
  other object (a datetime an integration left there, a failure event on the stack) still gets
  `copy.deepcopy`. Unlike `deepcopy`, two references to one container become two containers:
  on AWS state data travel as JSON text between steps, so nothing is ever shared either.
- The input a state sees is never mutated in place: moto only replaces it (`States.reset`,
  which copies) and hands out copies. So its compact JSON is cached on the `States` per input
  object: a state's StateExited and the next state's StateEntered serialise it once, with no
  copy, and the quota check (moto measures `json.dumps` with its default `", "` / `": "`
  separators) needs no copy either: that text is at least the compact one's length and at
  most twice it, so only an input between 128 KB and 256 KB compact is serialised again.
- `OutputPath: "$"` (every state's default) copied the state's output twice: once to sample
  it, once when `States.reset` made it the next input. It is copied once now, by `reset`; the
  stack is left as moto leaves it.
"""

from __future__ import annotations

import copy
import sys
import threading
from typing import Any

from moto.stepfunctions.parser.api import (
    HistoryEventExecutionDataDetails,
    StateEnteredEventDetails,
    StateExitedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.path import output_path, result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.intrinsic.function.statesfunction.json_manipulation import (  # noqa: E501
    json_merge,
)
from moto.stepfunctions.parser.asl.component.state import state
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import state_parallel
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
)
from moto.stepfunctions.parser.asl.eval import states
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.quotas import MAX_STATE_SIZE_UTF8_BYTES, is_within_size_quota

from localaws.core.patching import Patches

patches = Patches("stepfunctions.state_data")
_ATOMIC = frozenset((str, int, float, bool, type(None)))
_CACHE = "_localaws_input_json"
_COMPACT = (",", ":")


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts and lists rebuilt), `copy.deepcopy` for anything else."""
    cls = type(value)
    if cls is dict:
        out = value.copy()  # then the few values that are containers
        for k, v in value.items():
            if type(v) not in _ATOMIC:
                out[k] = json_copy(v)
        return out
    if cls is list:
        return [v if type(v) in _ATOMIC else json_copy(v) for v in value]
    if cls in _ATOMIC:
        return value
    return copy.deepcopy(value)


class _CopyForStateData:
    """Stands in for the `copy` module inside the interpreter's modules that copy state data."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: Any, memo: dict | None = None) -> Any:
        return json_copy(value) if memo is None else copy.deepcopy(value, memo)


for _module in (
    states,
    string_expression,
    result_path,
    state_parallel,
    execute_state,
    state_map,
    json_merge,
    state_task_service,
):
    patches.set(_module, "copy", _CopyForStateData())


def input_json(states_: states.States) -> str:
    """The compact JSON of the state input, serialised once per input object."""
    value = states_._states_data["input"]
    cached = states_.__dict__.get(_CACHE)
    if cached is not None and cached[0] is value:
        return cached[1]
    text = to_json_str(value, separators=_COMPACT)
    states_.__dict__[_CACHE] = (value, text)  # holds `value`: its id cannot be reused
    return text


@patches.replace(state.CommonStateField, "_get_state_entered_event_details")
def _get_state_entered_event_details(self: Any, env: Any) -> StateEnteredEventDetails:
    return StateEnteredEventDetails(
        name=self.name,
        input=input_json(env.states),
        inputDetails=HistoryEventExecutionDataDetails(truncated=False),
    )


@patches.replace(state.CommonStateField, "_get_state_exited_event_details")
def _get_state_exited_event_details(self: Any, env: Any) -> StateExitedEventDetails:
    details = StateExitedEventDetails(
        name=self.name,
        output=input_json(env.states),
        outputDetails=HistoryEventExecutionDataDetails(truncated=False),
    )
    assigned = env.variable_store.get_assigned_variables()
    env.variable_store.reset_tracing()
    if assigned:  # as moto's original does
        details["assignedVariables"] = assigned
        details["assignedVariablesDetails"] = {"truncated": False}
    return details


# Two `get_input()` calls get the input itself, found by their caller: the one
# `CommonStateField._eval_body` makes itself, the value of its size quota check (only measured:
# `within_size_quota` finds that object and measures the cached JSON), and the one in
# `ExecutionState._evaluate_with_timeout`, which `reset` of the task's frame copies anyway.
_MEASURED = (state.__file__, "_eval_body")
_LENT_TO = {_MEASURED, (execute_state.__file__, "_evaluate_with_timeout")}
_lent = threading.local()


@patches.replace(states.States, "get_input")
def get_input(self: states.States, query: str | None = None) -> Any:
    """moto's `get_input` (a copy of the input, or of what `query` selects in it), but for the
    callers above, which get the input itself."""
    value = self._states_data["input"]
    if query is None:
        caller = sys._getframe(1).f_code
        site = (caller.co_filename, caller.co_name)
        if site in _LENT_TO:
            if site == _MEASURED:
                _lent.measured = (value, self)
            return value
    return self._extract(query, value)


def within_size_quota(value: Any) -> bool:
    """moto's `is_within_size_quota`, from the cached compact JSON when `value` is a lent input."""
    lent = getattr(_lent, "measured", None)
    _lent.measured = None
    if lent is None or lent[0] is not value or lent[1]._states_data["input"] is not value:
        return is_within_size_quota(value)
    compact = len(input_json(lent[1]).encode("utf-8"))
    if compact >= MAX_STATE_SIZE_UTF8_BYTES:
        return False
    if 2 * compact < MAX_STATE_SIZE_UTF8_BYTES:  # each separator gains one space at most
        return True
    return is_within_size_quota(value)


for _module in (state, state_task_service, state_task_lambda):
    patches.set(_module, "is_within_size_quota", within_size_quota)


@patches.wrap(output_path.OutputPath, "_eval_body")
def _output_path(original: Any, self: Any, env: Any) -> None:
    sampler = self.string_sampler
    if type(sampler) is string_expression.StringJsonPath and sampler.json_path == "$":
        env.states.reset(env.stack[-1])  # reset copies: the next input shares nothing
        return
    original(self, env)
