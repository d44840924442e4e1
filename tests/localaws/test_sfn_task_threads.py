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


def _waiting(s3, sfn, machine: str, bucket: str, key: str) -> tuple[str, str]:
    """Start `machine` (its one state puts its task token at `key`); wait for the token."""
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"key": key}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while not s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents"):
        assert time.monotonic() < deadline, "the task never asked"
        time.sleep(0.05)
    return arn, s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()


def test_a_task_without_timeout_runs_in_its_execution_thread_one_with_a_timeout_does_not(
    tmp_path,
):
    with own_server(tmp_path / "state") as (config, info, session):
        s3, sfn, iam = (
            session.client(name, endpoint_url=config.endpoint_url)
            for name in ("s3", "stepfunctions", "iam")
        )
        role = make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
        bucket = uid("sfn-threads")
        s3.create_bucket(Bucket=bucket)

        def machine(**timeout) -> str:
            ask = task(
                "aws-sdk:s3:putObject.waitForTaskToken",
                {"Bucket": bucket, "Key.$": "$.key", "Body.$": "$$.Task.Token"},
                **timeout,
            )
            return sfn.create_state_machine(
                name=uid("sm"), definition=json.dumps(chain(("Ask", ask))), roleArn=role
            )["stateMachineArn"]

        untimed, timed = machine(), machine(TimeoutSeconds=300)
        for name in (untimed, timed):  # once each first: what the server starts lazily
            arn, token = _waiting(s3, sfn, name, bucket, uid("warm"))
            sfn.send_task_success(taskToken=token, output="{}")
            assert wait_done(sfn, arn)["status"] == "SUCCEEDED"

        pid = int(info["pid"])
        before = _threads(pid)
        first = _waiting(s3, sfn, untimed, bucket, "untimed")
        with_untimed = _threads(pid)
        second = _waiting(s3, sfn, timed, bucket, "timed")
        with_both = _threads(pid)
        # An execution runs on two threads of moto's (its worker's and its program's); a task
        # with a timeout adds its own, a task without none.
        assert (with_untimed - before, with_both - with_untimed) == (2, 3)
        for arn, token in (first, second):
            sfn.send_task_success(taskToken=token, output=json.dumps({"done": arn[-8:]}))
            described = wait_done(sfn, arn)
            assert described["status"] == "SUCCEEDED"
            assert json.loads(described["output"]) == {"done": arn[-8:]}


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
