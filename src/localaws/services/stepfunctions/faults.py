"""Test-only fault injection: kill this server (SIGKILL) when an execution enters a named state.

`LOCALAWS_FAULT_KILL_AT_STATE=<state>` (or `<state machine name>:<state>`) in the server's
environment makes the first execution that enters that state kill the whole process, as a
`kill -9` would, before the state does anything: tests then restart localaws and check that
re-running the operation repairs it. Unset (the default), this costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

from moto.stepfunctions.parser.asl.component.state.state import CommonStateField

from localaws.core.patching import Patches

patches = Patches("stepfunctions.faults")
ENV = "LOCALAWS_FAULT_KILL_AT_STATE"


def _machine_name(env) -> str:
    try:
        return env.states.context_object.context_object_data["StateMachine"]["Name"]
    except (AttributeError, KeyError, TypeError):
        return ""


@patches.wrap(CommonStateField, "_eval_body")
def _eval_body(original, self, env) -> None:
    target = os.environ.get(ENV)
    if target:
        machine, _, state = target.rpartition(":")
        if self.name == state and machine in ("", _machine_name(env)):
            os.kill(os.getpid(), signal.SIGKILL)
    return original(self, env)
