"""Test-only fault injection: kill this server (SIGKILL) when an execution enters a named state.

A kill point is `<state>` or `<state machine name>:<state>`. The first execution that enters
that state kills the whole process, as a `kill -9` would, before the state does anything: tests
then restart localaws and check that re-running the operation repairs it. Two ways to arm one,
both read from the server's environment at its start, both unset by default:

- `LOCALAWS_FAULT_KILL_AT_STATE=<kill point>`: armed for the server's whole life;
- `LOCALAWS_FAULT_KILL_FILE=<path>`: armed while the file at `<path>` holds a kill point,
  written by the test while the server runs (write it whole, e.g. to a temporary name then
  rename). The server deletes the file before it kills itself, so the restarted server is
  unarmed, and one restart per kill point suffices.

Unset (the default), a state entry costs two dictionary look-ups; with the file armed, a
failed `open` when the file is absent.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

from localaws.core.patching import Patches

patches = Patches("stepfunctions.faults")
ENV = "LOCALAWS_FAULT_KILL_AT_STATE"
FILE_ENV = "LOCALAWS_FAULT_KILL_FILE"


def _machine_name(env) -> str:
    try:
        return env.states.context_object.context_object_data["StateMachine"]["Name"]
    except (AttributeError, KeyError, TypeError):
        return ""


def _hits(target: str, state: str, env) -> bool:
    machine, _, name = target.strip().rpartition(":")
    return state == name and machine in ("", _machine_name(env))


def _armed_file() -> tuple[Path, str] | None:
    """The kill file and the kill point it holds, if `FILE_ENV` names one that exists."""
    path = os.environ.get(FILE_ENV)
    if not path:
        return None
    try:
        return Path(path), Path(path).read_text()
    except FileNotFoundError:
        return None


@patches.wrap(CommonStateField, "_eval_body")
def _eval_body(original, self, env) -> None:
    target = os.environ.get(ENV)
    if target and _hits(target, self.name, env):
        os.kill(os.getpid(), signal.SIGKILL)
    armed = _armed_file()
    if armed and _hits(armed[1], self.name, env):
        armed[0].unlink(missing_ok=True)  # disarmed before the kill: the restart runs clean
        os.kill(os.getpid(), signal.SIGKILL)
    return original(self, env)
