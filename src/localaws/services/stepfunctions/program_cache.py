"""Parse a state machine's definition once per definition text, not at every execution start.

moto 5.2.5's `ExecutionWorker._get_evaluation_entrypoint` runs the ANTLR parser (pure Python)
each time an execution starts: 0.2-0.5 s for the platform's 36-72 KB definitions, about half
of the server's CPU with many tenants. The program is kept per definition text (LRU) and every
execution evaluates that one program. The component tree holds no evaluation state: moto
keeps it in each execution's `Environment` (and evaluates one Map iterator program in many
threads at once, `iteration.job.JobPool`). The one attribute a component sets on itself, its
lazily drawn `heap_key`, is drawn for every component before the program is shared, so two
executions never race to draw it. (Each execution used to unpickle its own copy: 10-15 % of
the server's CPU in the platform's state machine runs.) Parsed after `field_paths` changed the
preprocessor, so the cached program is the one a fresh parse would give. CreateStateMachine
and UpdateStateMachine parse the definition to validate it (as AWS does); that parse is the
one cached, so an execution never parses a definition again. The program's pickle is kept on
disk (`program_store`), so another server process reads it back instead of parsing; an invalid
definition is never stored, so it is parsed (and rejected) every time.
"""

from __future__ import annotations

import functools
import logging
import pickle
import threading

from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localaws.core.patching import Patches
from localaws.services.stepfunctions import program_store

LOG = logging.getLogger(__name__)
patches = Patches("stepfunctions.program_cache", after=("stepfunctions.field_paths",))
CACHE_SIZE = 64
_parse_lock = threading.Lock()


@functools.lru_cache(maxsize=CACHE_SIZE)
def _pristine(definition: str) -> EvalComponent:
    """The parsed program, its heap keys drawn."""
    stored = _stored(definition)
    if stored is not None:
        return _keyed(stored)
    parsed = _keyed(AmazonStateLanguageParser.parse(definition)[0])
    try:
        blob = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unusual component: parsed again elsewhere
        LOG.debug("state machine program does not pickle (%r); not stored on disk", exc)
    else:
        program_store.store(definition, blob)
    return parsed


def _keyed(program: EvalComponent) -> EvalComponent:
    """`program` with the heap key of every component in it drawn (see the module's doc)."""
    seen: set[int] = set()
    pending: list = [program]
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, EvalComponent):
            item.heap_key  # noqa: B018 - drawn now, once, by this thread
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            pending.extend(item)
        elif hasattr(item, "__dict__") and type(item).__module__.startswith("moto."):
            pending.extend(vars(item).values())
    return program


def _stored(definition: str) -> EvalComponent | None:
    """The program of `definition` from the on-disk cache, or None (then it is parsed)."""
    blob = program_store.load(definition)
    if blob is None:
        return None
    try:
        parsed = pickle.loads(blob)
    except Exception as exc:  # noqa: BLE001 - a stale or damaged entry: parse and rewrite it
        LOG.debug("state machine program entry does not unpickle (%r)", exc)
        return None
    if not isinstance(parsed, EvalComponent):
        return None
    LOG.info(
        "state machine program %s read from %s",
        program_store.key(definition)[:12],
        program_store.cache_dir(),
    )
    return parsed


def program(definition: str) -> EvalComponent:
    """The evaluation program of `definition` (parsed once, shared by its executions)."""
    with _parse_lock:  # one parse per text, even when executions start together
        return _pristine(definition)


@patches.wrap(StepFunctionsParserBackend, "_validate_definition")
def _validate_definition(original, definition: str) -> None:
    try:
        with _parse_lock:
            _pristine(definition)
    except Exception:  # noqa: BLE001 - moto's own parse names what is wrong (InvalidDefinition)
        original(definition)
        raise


@patches.replace(ExecutionWorker, "_get_evaluation_entrypoint")
def _get_evaluation_entrypoint(self) -> EvalComponent:
    return program(self._evaluation_details.state_machine_details.definition)


patches.refresh(_pristine.cache_clear)
