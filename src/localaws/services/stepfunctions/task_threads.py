"""Step Functions threads: what waits for no timeout runs in the thread that would wait for it;
no finished thread is kept.

moto 5.2.5's interpreter starts a thread for the work of every Task state
(`ExecutionState._evaluate_with_timeout`), only to stop waiting for it at the state's
`TimeoutSeconds`; the calling thread waits for it meanwhile. A state that declares no timeout
(moto's default, 99,999,999 s) gets nothing from that thread but its cost: creating, starting
and joining it, a few percent of the server's CPU in a tenant's deploy or delete. Such a
state's work now runs in the calling thread; the events, outputs and errors are the same,
because moto's own method still does everything around it. A state with `TimeoutSeconds` or
`TimeoutSecondsPath` keeps moto's thread, and its timeout.

moto also runs each program (an execution's, a Map iteration's, a Parallel branch's) in a thread
of its own that the calling thread joins, with the program's `TimeoutSeconds` if it has one. A
program without one now runs in the calling thread.

A Map state starts a thread per iteration worker, and waits for them: a Map over one item (the
tenant state machines' usual case: one policy, one model version, one artifact) now runs its
one iteration in the Map's own thread, the same events in the same order. Over more items the
workers keep their threads (an iteration's states nest deep: each worker starts a fresh stack).

moto also appends every thread it starts (executions, Map iterations, Parallel branches,
callbacks, tasks) to `TMP_THREADS`, a list that nothing reads or empties: every thread object
stayed for the server's life, for the cyclic collector to walk again and again. The interpreter's
modules now get a list that keeps nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    inline_iteration_component,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branch_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.test_state.program import test_state_program
from moto.stepfunctions.parser.backend import execution_worker

from localaws.core.patching import Patches

patches = Patches("stepfunctions.task_threads")
_inline = threading.local()


class _KeepsNothing(list):
    """A list that forgets what is appended to it."""

    def append(self, item: Any) -> None:
        pass


class _InCallingThread:
    """What `_evaluate_with_timeout` takes for its task thread: `start` runs the work."""

    def __init__(self, target: Callable[[], None]) -> None:
        self._target = target

    def start(self) -> None:
        self._target()


def _task_thread(*args: Any, **kwargs: Any) -> Any:
    """The thread `_evaluate_with_timeout` asks for: the calling thread when its state has no
    timeout (`_evaluate` marked it so), else a real one."""
    if getattr(_inline, "next", False):
        _inline.next = False
        return _InCallingThread(kwargs["target"])
    return threading.Thread(*args, **kwargs)


@patches.wrap(execute_state.ExecutionState, "_evaluate_with_timeout")
def _evaluate(original: Any, self: Any, env: Any) -> None:
    _inline.next = self.timeout.is_default_value()
    try:
        original(self, env)
    finally:
        _inline.next = False


patches.set(execute_state, "Thread", _task_thread)


@patches.wrap(program.Program, "eval")
def _program_eval(original: Any, self: Any, env: Any) -> None:
    if self.timeout_seconds:  # moto's thread, joined until the timeout
        return original(self, env)
    env.next_state_name = self.start_at.start_at_name
    return super(program.Program, self).eval(env)


@patches.wrap(inline_iteration_component.InlineIterationComponent, "_launch_worker")
def _launch_worker(original: Any, self: Any, env: Any, eval_input: Any, job_pool: Any) -> Any:
    if len(eval_input.input_items) != 1:
        return original(self, env, eval_input, job_pool)
    worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
    worker.eval()  # the one job, done before the Map awaits it
    return worker


#: The modules of the pinned moto that append to `TMP_THREADS` (each imported it by name).
KEEPERS = (
    parser_utils,
    program,
    execute_state,
    inline_iteration_component,
    branch_worker,
    state_task_service_callback,
    test_state_program,
    execution_worker,
)
_KEPT = _KeepsNothing()
for _module in KEEPERS:
    patches.set(_module, "TMP_THREADS", _KEPT)
