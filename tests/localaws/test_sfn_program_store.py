"""Parsed state machine programs on disk (`program_store`): read back by another server process,
a damaged entry parsed again, an edited definition or code a miss, executions unchanged.

Every test points the cache at its own temporary directory (never the user's ~/.cache)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from test_stepfunctions import make_role

from localaws import cli
from localaws.ephemeral import running
from localaws.services.stepfunctions import program_cache, program_store


def machine(tag: str) -> str:
    """A definition using Choice, Map, Retry and Catch; `tag` makes the text (and key) new."""
    return json.dumps(
        {
            "Comment": f"program store test {tag}",
            "StartAt": "Route",
            "States": {
                "Route": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.mode", "StringEquals": "map", "Next": "Each"}],
                    "Default": "Plain",
                },
                "Plain": {"Type": "Pass", "Result": "plain", "ResultPath": "$.result", "End": True},
                "Each": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "MaxConcurrency": 1,
                    "Iterator": {
                        "StartAt": "Check",
                        "States": {
                            "Check": {
                                "Type": "Choice",
                                "Choices": [
                                    {"Variable": "$", "NumericGreaterThan": 2, "Next": "TooBig"}
                                ],
                                "Default": "Keep",
                            },
                            "Keep": {"Type": "Pass", "End": True},
                            "TooBig": {"Type": "Fail", "Error": "Test.TooBig", "Cause": "over 2"},
                        },
                    },
                    "Retry": [
                        {
                            "ErrorEquals": ["Test.TooBig"],
                            "IntervalSeconds": 1,
                            "MaxAttempts": 1,
                            "BackoffRate": 1.0,
                        }
                    ],
                    "Catch": [
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}
                    ],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        }
    )


# ----------------------------------------------------------------- in this process (fast)
@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache directory, this process's in-memory programs forgotten before and after."""
    root = tmp_path / "programs"
    monkeypatch.setenv(program_store.CACHE_ENV, str(root))
    program_cache._pristine.cache_clear()
    yield root
    program_cache._pristine.cache_clear()


@pytest.fixture
def parses(monkeypatch) -> list[str]:
    """The definitions the ASL parser is called on from now on."""
    seen: list[str] = []
    original = AmazonStateLanguageParser.parse

    def counting(definition: str, *args, **kwargs):
        seen.append(definition)
        return original(definition, *args, **kwargs)

    monkeypatch.setattr(AmazonStateLanguageParser, "parse", staticmethod(counting))
    return seen


def entry(root: Path, definition: str) -> Path:
    return root / f"{program_store.key(definition)}{program_store.SUFFIX}"


def test_a_stored_program_is_read_back_without_parsing(cache, parses):
    definition = machine("read-back")
    parsed = program_cache._pristine(definition)
    blob = program_store.load(definition)
    assert parses == [definition] and entry(cache, definition).is_file()
    program_cache._pristine.cache_clear()  # as a new process: memory empty, disk full

    loaded = program_cache._pristine(definition)
    assert parses == [definition]  # not parsed again
    assert type(loaded) is type(parsed)
    assert pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL) == blob


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # a torn write
        lambda data: b"",
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # one bit flipped
        lambda data: b"not a program at all",
    ],
    ids=["torn", "empty", "bitflip", "garbage"],
)
def test_a_damaged_entry_is_parsed_again_and_rewritten(cache, parses, damage):
    definition = machine(f"damaged-{uuid.uuid4().hex[:6]}")
    program_cache._pristine(definition)
    blob = program_store.load(definition)
    path = entry(cache, definition)
    path.write_bytes(damage(path.read_bytes()))
    program_cache._pristine.cache_clear()

    program_cache._pristine(definition)
    assert parses == [definition, definition]
    # the rewritten entry is whole: the same program (its heap keys drawn anew)
    assert type(pickle.loads(program_store.load(definition))) is type(pickle.loads(blob))


def test_a_writer_killed_before_its_rename_leaves_no_entry(cache, parses):
    definition = machine("killed-writer")
    killed = subprocess.run(  # kill -9 with the entry written to its temporary file
        [
            sys.executable,
            "-c",
            "import os, signal, sys\n"
            "from localaws.services.stepfunctions import program_store\n"
            "os.replace = lambda *args: os.kill(os.getpid(), signal.SIGKILL)\n"
            "program_store.store(sys.argv[1], b'a program')\n",
            definition,
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [scratch] = cache.iterdir()
    assert scratch.name.startswith(".tmp-") and program_store.load(definition) is None

    os.utime(scratch, (0, 0))  # left by a writer killed long ago
    parsed = program_cache._pristine(definition)
    blob = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    assert parses == [definition] and program_store.load(definition) == blob
    assert [p.name for p in cache.iterdir()] == [entry(cache, definition).name]


def test_a_valid_pickle_that_is_not_a_program_is_a_miss(cache, parses):
    definition = machine("not-a-program")
    program_store.store(definition, pickle.dumps({"not": "a program"}))
    parsed = program_cache._pristine(definition)
    assert parses == [definition] and type(parsed).__name__ == "Program"


def test_an_edited_definition_is_a_miss(cache, parses):
    program_cache._pristine(machine("original"))
    edited = machine("original").replace('"plain"', '"edited"')
    assert program_store.load(edited) is None
    program_cache._pristine(edited)
    assert parses == [machine("original"), edited]
    assert len(list(cache.glob(f"*{program_store.SUFFIX}"))) == 2


def test_an_edit_of_the_stepfunctions_package_changes_every_key(tmp_path):
    package = Path(program_store.__file__).parent
    copy = tmp_path / "stepfunctions"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert program_store.source_digest(copy) == program_store.code_digest()
    with open(copy / "field_paths.py", "a") as source:
        source.write("\n# an edit\n")
    assert program_store.source_digest(copy) != program_store.code_digest()


def test_the_cache_keeps_the_newest_entries(cache, monkeypatch):
    monkeypatch.setattr(program_store, "MAX_ENTRIES", 3)
    definitions = [machine(f"bounded-{i}") for i in range(5)]
    for i, definition in enumerate(definitions):
        path = program_store.store(definition, f"blob {i}".encode())
        assert path is not None
        stamp = time.time() - 100 + i  # distinct ages even on a coarse clock
        os.utime(path, (stamp, stamp))
    (cache / ".tmp-left-by-a-kill").write_bytes(b"partial")
    os.utime(cache / ".tmp-left-by-a-kill", (0, 0))
    program_store.store(machine("bounded-last"), b"last")
    kept = {p.name for p in cache.iterdir()}
    assert kept == {entry(cache, d).name for d in [*definitions[3:], machine("bounded-last")]}


def test_an_unwritable_cache_is_no_error(tmp_path, monkeypatch, parses):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(program_store.CACHE_ENV, str(blocker / "programs"))
    program_cache._pristine.cache_clear()
    try:
        parsed = program_cache._pristine(machine("unwritable"))
    finally:
        program_cache._pristine.cache_clear()
    assert type(parsed).__name__ == "Program" and parses == [machine("unwritable")]


def test_the_default_location_is_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(program_store.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert program_store.cache_dir() == tmp_path / "localaws" / "sfn-programs"


# ------------------------------------------------------------- two server processes (slow)
INPUTS = {
    "plain": {"mode": "plain"},
    "map": {"mode": "map", "items": [1, 2]},
    "retry-then-catch": {"mode": "map", "items": [1, 2, 3]},
}
EXPECTED = {
    "plain": {"mode": "plain", "result": "plain"},
    "map": [1, 2],
    "retry-then-catch": {
        "mode": "map",
        "items": [1, 2, 3],
        "error": {"Error": "Test.TooBig", "Cause": "over 2"},
    },
}


def run_all(definition: str) -> tuple[dict, dict]:
    """On the server the environment points at: create the machine, run every input; the
    outputs and the history event types of each run."""
    session = boto3.Session(region_name="us-east-1")
    iam, sfn = session.client("iam"), session.client("stepfunctions")
    role = make_role(iam, [{"Effect": "Allow", "Action": "logs:CreateLogGroup", "Resource": "*"}])
    arn = sfn.create_state_machine(name="store", definition=definition, roleArn=role)[
        "stateMachineArn"
    ]
    outputs, histories = {}, {}
    for name, payload in INPUTS.items():
        execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))
        deadline = time.monotonic() + 60
        while (desc := sfn.describe_execution(executionArn=execution["executionArn"]))[
            "status"
        ] == "RUNNING":
            assert time.monotonic() < deadline, f"{name} still running"
            time.sleep(0.05)
        assert desc["status"] == "SUCCEEDED", desc
        outputs[name] = json.loads(desc["output"])
        events = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        histories[name] = [e["type"] for e in events]
    with pytest.raises(ClientError) as invalid:
        sfn.create_state_machine(name="bad", definition='{"StartAt": "Nowhere"}', roleArn=role)
    assert invalid.value.response["Error"]["Code"] == "InvalidDefinition"
    return outputs, histories


@pytest.mark.slow
def test_a_second_server_runs_the_program_it_read_from_disk(tmp_path, monkeypatch):
    root = tmp_path / "programs"
    monkeypatch.setenv(program_store.CACHE_ENV, str(root))
    definition = machine(uuid.uuid4().hex)  # new to this process and its fork server
    with running(tmp_path / "first") as config:
        parsed_outputs, parsed_histories = run_all(definition)
        first_log = config.log_file.read_text()
    key = program_store.key(definition)
    assert {p.name for p in root.iterdir()} == {f"{key}{program_store.SUFFIX}"}  # not the bad one
    assert f"program {key[:12]} read from" not in first_log  # the first server parsed it

    # A plain start (a new interpreter, not a fork of a process that may hold the program).
    monkeypatch.setattr(cli, "launcher", cli.launch)
    with running(tmp_path / "second") as config:
        disk_outputs, disk_histories = run_all(definition)
        second_log = config.log_file.read_text()
    assert f"program {key[:12]} read from {root}" in second_log
    assert parsed_outputs == disk_outputs == EXPECTED
    assert parsed_histories == disk_histories
    assert disk_histories["retry-then-catch"].count("MapStateStarted") == 2  # retried once
