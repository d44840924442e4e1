"""Task states without a timeout run in their execution's thread; declared timeouts still hold;
moto keeps no finished thread (`stepfunctions.task_threads`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import moto.stepfunctions.parser as sfn_parser
import pytest
from compute_helpers import own_server
from test_stepfunctions import chain, make_role, task, uid, wait_done

from localaws.services.stepfunctions import task_threads


def test_every_module_that_keeps_threads_gets_the_list_that_keeps_nothing():
    root = Path(sfn_parser.__file__).parent
    appenders = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "TMP_THREADS.append(" in p.read_text(encoding="utf-8")
    }
    covered = {
        Path(m.__file__).relative_to(root).as_posix()
        for m in task_threads.KEEPERS
        if m is not task_threads.parser_utils
    }
    assert appenders == covered
    kept = task_threads._KeepsNothing()
    kept.append(object())
    assert kept == []


def test_the_interpreter_starts_no_other_thread_by_the_name_made_inline():
    """`Thread` of moto's execute_state module becomes `_task_thread`: its only caller must be
    the task's work in `_evaluate_with_timeout` (else that caller could run inline too)."""
    import ast

    from moto.stepfunctions.parser.asl.component.state.exec import execute_state

    source = Path(execute_state.__file__).read_text(encoding="utf-8")
    method = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "_evaluate_with_timeout"
    )
    assert source.count("Thread(") == ast.get_source_segment(source, method).count("Thread(") == 1


def _threads(pid: int) -> int:
    """The server's thread count once it is quiet: the least of a few reads (a request's
    thread ends with its answer; an execution's lasts while it waits)."""
    counts = []
    for _ in range(8):
        time.sleep(0.05)
        status = Path(f"/proc/{pid}/status").read_text()
        counts.append(int(status.split("Threads:")[1].split()[0]))
    return min(counts)


def _token(s3, bucket: str, key: str) -> str:
    """The task token an `Ask` state puts at `key`, once it is there."""
    deadline = time.monotonic() + 30
    while not s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents"):
        assert time.monotonic() < deadline, "the task never asked"
        time.sleep(0.05)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def _answer(sfn, arn: str, tokens: list[str]) -> None:
    for token in tokens:
        sfn.send_task_success(taskToken=token, output=json.dumps({"done": True}))
    assert wait_done(sfn, arn)["status"] == "SUCCEEDED"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A localaws of this module's own (its thread count is read), a role, a bucket and
    `machine(state)`: a state machine of one state."""
    with own_server(tmp_path_factory.mktemp("threads") / "state") as (config, info, session):
        s3, sfn, iam = (
            session.client(name, endpoint_url=config.endpoint_url)
            for name in ("s3", "stepfunctions", "iam")
        )
        role = make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
        bucket = uid("sfn-threads")
        s3.create_bucket(Bucket=bucket)

        def machine(state: dict) -> str:
            return sfn.create_state_machine(
                name=uid("sm"), definition=json.dumps(chain(("Only", state))), roleArn=role
            )["stateMachineArn"]

        yield int(info["pid"]), s3, sfn, bucket, machine


def _ask(bucket: str, key_path: str, **timeout) -> dict:
    """A task that puts its token at the key `key_path` selects, then waits for an answer."""
    return task(
        "aws-sdk:s3:putObject.waitForTaskToken",
        {"Bucket": bucket, "Key.$": key_path, "Body.$": "$$.Task.Token"},
        **timeout,
    )


def test_a_task_without_timeout_runs_in_its_execution_thread_one_with_a_timeout_does_not(
    server,
):
    pid, s3, sfn, bucket, machine = server
    untimed = machine(_ask(bucket, "$.key"))
    timed = machine(_ask(bucket, "$.key", TimeoutSeconds=300))
    for name in (untimed, timed):  # once each first: what the server starts lazily
        key = uid("warm")
        arn = sfn.start_execution(stateMachineArn=name, input=json.dumps({"key": key}))
        _answer(sfn, arn["executionArn"], [_token(s3, bucket, key)])

    before = _threads(pid)
    first = sfn.start_execution(stateMachineArn=untimed, input='{"key": "untimed"}')
    tokens = [_token(s3, bucket, "untimed")]
    with_untimed = _threads(pid)
    second = sfn.start_execution(stateMachineArn=timed, input='{"key": "timed"}')
    tokens.append(_token(s3, bucket, "timed"))
    with_both = _threads(pid)
    # An execution runs on its worker's thread (its program has no timeout); a task with a
    # timeout adds its own thread, a task without none.
    assert (with_untimed - before, with_both - with_untimed) == (1, 2)
    _answer(sfn, first["executionArn"], tokens[:1])
    _answer(sfn, second["executionArn"], tokens[1:])


def test_a_map_over_one_item_runs_it_in_its_own_thread_over_more_in_theirs(server):
    pid, s3, sfn, bucket, machine = server
    each = machine(
        {
            "Type": "Map",
            "ItemsPath": "$.keys",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Ask",
                "States": {"Ask": {**_ask(bucket, "$"), "End": True}},
            },
        }
    )
    warm = sfn.start_execution(stateMachineArn=each, input='{"keys": ["warm-map"]}')
    _answer(sfn, warm["executionArn"], [_token(s3, bucket, "warm-map")])

    before = _threads(pid)
    one = sfn.start_execution(stateMachineArn=each, input='{"keys": ["one"]}')
    one_token = _token(s3, bucket, "one")
    with_one = _threads(pid)
    two = sfn.start_execution(stateMachineArn=each, input='{"keys": ["two-a", "two-b"]}')
    two_tokens = [_token(s3, bucket, "two-a"), _token(s3, bucket, "two-b")]
    with_both = _threads(pid)
    # The execution's thread; over two items, a worker's thread for each.
    assert (with_one - before, with_both - with_one) == (1, 3)
    _answer(sfn, one["executionArn"], [one_token])
    _answer(sfn, two["executionArn"], two_tokens)
    output = sfn.describe_execution(executionArn=two["executionArn"])["output"]
    assert json.loads(output) == [{"done": True}, {"done": True}]


@pytest.fixture(scope="module")
def role(localaws):
    iam = boto3.Session().client("iam", region_name="us-east-1")
    return make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])


def test_a_declared_timeout_still_ends_the_task_with_states_timeout(clients, role):
    s3, sfn = clients("s3"), clients("stepfunctions")
    bucket = uid("sfn-timeout")
    s3.create_bucket(Bucket=bucket)
    ask = task(
        "aws-sdk:s3:putObject.waitForTaskToken",
        {"Bucket": bucket, "Key": "token", "Body.$": "$$.Task.Token"},
        TimeoutSeconds=1,
    )
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(chain(("Ask", ask))), roleArn=role
    )["stateMachineArn"]
    began = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    described = wait_done(sfn, arn, timeout=30)
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Timeout"
    assert time.monotonic() - began >= 1.0
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1  # it did ask, then gave up


def test_a_machine_s_timeout_still_ends_its_execution_as_timed_out(clients, role):
    s3, sfn = clients("s3"), clients("stepfunctions")
    bucket = uid("sfn-machine-timeout")
    s3.create_bucket(Bucket=bucket)
    definition = {
        **chain(("Ask", _ask(bucket, "$.key"))),
        "TimeoutSeconds": 1,  # the program's, not the task's: moto's joined thread ends it
    }
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    began = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=machine, input='{"key": "k"}')["executionArn"]
    described = wait_done(sfn, arn, timeout=30)
    assert described["status"] == "TIMED_OUT"
    assert time.monotonic() - began >= 1.0
