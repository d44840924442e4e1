"""Step Functions executions: consistent status, logged workers, persisted and pickled.

What moto 5.2.5 lacks and this adds:
- DescribeExecution never sees SUCCEEDED without output (the status is set last);
- the end of an execution is reported to `localaws.core.hooks` so it is persisted;
- worker threads log a crash and are not kept forever;
- executions pickle (history kept; an ended one pickled once, and restored with only the
  fields that find and list it, the rest decoded on first use; one cut off by a restart
  reads as FAILED, saved so at start);
- reading a history (GetExecutionHistory, each save of a running execution) copies the list,
  not every event in it: moto deep-copied the whole history on each read, though an event is
  never changed once recorded (`EventManager._publish_history_event` builds it, appends it).

`_restore_execution` is named in saved state (pickles of ended executions): keep its module
path, or bump the state format.
"""

from __future__ import annotations

import copy
import datetime
import logging
import pickle
import threading
import zlib
from typing import Any

from moto.stepfunctions.parser.api import ExecutionStatus, GetExecutionHistoryOutput
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import (
    ProgramEnded,
    ProgramError,
    ProgramStopped,
    ProgramTimedOut,
)
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from localaws.core import hooks
from localaws.core.patching import Patches
from localaws.services.stepfunctions.state_data import input_json

LOG = logging.getLogger(__name__)
_RESTART_CAUSE = "localaws stopped while this execution was running"
patches = Patches("stepfunctions.execution")


@patches.replace(BaseExecutionWorkerCommunication, "_reflect_execution_status")
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
        execution.output = input_json(execution.exec_worker.env.states)  # as the last StateExited
    elif status == ExecutionStatus.FAILED:
        execution.error = ended.error.get("error")
        execution.cause = ended.error.get("cause")
    execution.stop_date = datetime.datetime.now(tz=datetime.UTC)
    execution.exec_status = status


@patches.wrap(BaseExecutionWorkerCommunication, "terminated")
def terminated(original, self) -> None:
    original(self)
    try:
        hooks.changed("stepfunctions", self.execution)
    except Exception:  # persistence trouble must not kill the interpreter thread
        LOG.exception("could not record the end of %s", self.execution.exec_arn)


@patches.replace(EventManager, "get_event_history")
def get_event_history(self) -> list:
    with self._mutex:
        return list(self._history_event_list)


@patches.replace(ExecutionWorker, "start")
def start(self) -> None:
    # moto's version also keeps every worker thread in a module list forever.
    threading.Thread(target=self._run_logged, daemon=True).start()


@patches.add(ExecutionWorker, "_run_logged")
def _run_logged(self) -> None:
    try:
        self._execution_logic()
    except Exception:
        LOG.exception("Step Functions execution worker crashed")
        raise


@patches.replace(Execution, "__getstate__")
def __getstate__(self) -> dict:
    _decode(self)
    state = self.__dict__.copy()
    worker = state.pop("exec_worker", None)
    state["exec_worker"] = None
    if worker is not None and worker.env is not None:
        state["_saved_history"] = worker.env.event_manager.get_event_history()
    return state


@patches.add(Execution, "__setstate__")
def __setstate__(self, state: dict) -> None:
    self.__dict__.update(state)
    if self.exec_status == ExecutionStatus.RUNNING:
        self.exec_status = ExecutionStatus.FAILED
        self.error = "States.Runtime"
        self.cause = _RESTART_CAUSE
        self.stop_date = datetime.datetime.now(tz=datetime.UTC)
        if _cut_off is not None:
            _cut_off.append(self)


_cut_off: list | None = []  # executions a restore marked FAILED, until they are saved


@hooks.on_restore
def _save_cut_off() -> None:
    """Save the executions the restore marked FAILED (only those: not every execution)."""
    global _cut_off
    cut, _cut_off = _cut_off or [], None
    if cut:
        hooks.changed("stepfunctions", *cut)


@patches.wrap(Execution, "to_history_output")
def to_history_output(original, self):
    if self.exec_worker is None:
        return GetExecutionHistoryOutput(events=list(self.__dict__.get("_saved_history", [])))
    return original(self)


@patches.wrap(Execution, "stop")
def stop(original, self, stop_date, error, cause):
    if self.exec_worker is None:
        return
    return original(self, stop_date, error, cause)


@patches.replace(Execution, "__reduce_ex__")
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
    light = {name: self.__dict__[name] for name in _LIGHT if name in self.__dict__}
    return _restore_execution, (type(self), blob, light)


# What a restored ended execution holds before its first other use: what finds it (by ARN,
# by name), lists it and checks a repeated StartExecution; the rest (its history, its copy
# of the state machine: ~1 ms to unpickle each) is decoded from its blob on first use.
_LIGHT = (
    "name",
    "exec_arn",
    "execution_arn",
    "state_machine_arn",
    "exec_status",
    "start_date",
    "stop_date",
    "execution_input",
)
_decoding = threading.Lock()


def _restore_execution(cls: type, blob: bytes, light: dict | None = None) -> Any:
    """Rebuild an ended execution pickled by `Execution.__reduce_ex__` (keeps its bytes);
    with `light` (its small fields) the rest is decoded on first use (`_decode`)."""
    execution = cls.__new__(cls)
    if light is None:  # pickled before `light` existed
        execution.__dict__.update(pickle.loads(zlib.decompress(blob)))
    else:
        execution.__dict__.update(light)
        execution.__dict__["_localaws_lazy"] = True
    execution._localaws_blob = blob
    return execution


def _decode(execution: Any) -> None:
    """Fill in a lazily restored execution from its blob (fields set since are kept)."""
    state = execution.__dict__
    if not state.get("_localaws_lazy"):
        return
    with _decoding:
        if state.get("_localaws_lazy"):
            for name, value in pickle.loads(zlib.decompress(state["_localaws_blob"])).items():
                state.setdefault(name, value)
            del state["_localaws_lazy"]


@patches.add(Execution, "__getattr__")
def __getattr__(self, name: str) -> Any:
    # Only reached for attributes not in __dict__: those of a lazily restored execution.
    if self.__dict__.get("_localaws_lazy"):
        _decode(self)
        if name in self.__dict__:
            return self.__dict__[name]
    raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
