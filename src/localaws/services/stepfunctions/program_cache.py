"""Parse a state machine's definition once per definition text, not at every execution start.

moto 5.2.5's `ExecutionWorker._get_evaluation_entrypoint` runs the ANTLR parser (pure Python)
each time an execution starts: 0.2-0.5 s for the platform's 36-72 KB definitions, about half
of the server's CPU with many tenants. The program is kept per definition text (LRU), pickled,
and each execution unpickles its own copy, so no evaluation state is shared between
executions. Unpickling is what `copy.deepcopy` does (same reduce protocol, shared references
kept) in C: 5-10x cheaper, which matters for the 72 KB deploy machine (deepcopy was the largest
part of its server CPU). A program that does not pickle is deep-copied as before. Parsed after
`field_paths` changed the preprocessor, so the cached program is the one a fresh parse would
give. CreateStateMachine and UpdateStateMachine parse the definition to validate it (as AWS
does); that parse is the one cached, so an execution never parses a definition again. The
pickle is also kept on disk (`program_store`), so another server process reads it back instead
of parsing; an invalid definition is never stored, so it is parsed (and rejected) every time.
"""

from __future__ import annotations

import copy
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
def _pristine(definition: str) -> tuple[EvalComponent, bytes | None]:
    """The parsed program and its pickle (None if it does not pickle)."""
    stored = _stored(definition)
    if stored is not None:
        return stored
    parsed = AmazonStateLanguageParser.parse(definition)[0]
    try:
        blob: bytes | None = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - an unusual component: deep copies still work
        LOG.debug("state machine program does not pickle (%r); deep-copying it", exc)
        blob = None
    if blob is not None:
        program_store.store(definition, blob)
    return parsed, blob


def _stored(definition: str) -> tuple[EvalComponent, bytes] | None:
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
    return parsed, blob


def program(definition: str) -> EvalComponent:
    """A private copy of the evaluation program of `definition` (parsed once)."""
    with _parse_lock:  # one parse per text, even when executions start together
        pristine, blob = _pristine(definition)
    return pickle.loads(blob) if blob is not None else copy.deepcopy(pristine)


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
