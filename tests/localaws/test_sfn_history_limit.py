"""Step Functions' history quota over HTTP: event 25,000 (here a lowered limit, by the test-only
LOCALAWS_SFN_HISTORY_LIMIT) is ExecutionSucceeded or the execution fails with ExecutionFailed
(docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator

import boto3
import pytest
from compute_helpers import make_role

from localaws.cli import CliError
from localaws.ephemeral import running
from localaws.services.stepfunctions import history_limit

LIMIT = 40
# 1 ExecutionStarted + 4 events per round (Pass and Choice entered / exited) + Succeed's
# entered / exited + ExecutionSucceeded: 4 * rounds + 4 events.
LOOP = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "Pass",
            "Parameters": {"n.$": "States.MathAdd($.n, 1)", "rounds.$": "$.rounds"},
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThanPath": "$.rounds", "Next": "Count"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}
MAP = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 4,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Step",
                "States": {"Step": {"Type": "Pass", "End": True}},
            },
            "End": True,
        }
    },
}
# Parallel branches record into the one history; one branch waits an hour, so only the
# limit's failure (which wakes it) ends the execution in time, FAILED and not TIMED_OUT.
PARALLEL = {
    "StartAt": "Both",
    "TimeoutSeconds": 3600,
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Sleep",
                    "States": {"Sleep": {"Type": "Wait", "Seconds": 3600, "End": True}},
                },
                {
                    # a moment's head start for the other branch: it is waiting when the
                    # limit is reached (branches run on threads of their own)
                    "StartAt": "Settle",
                    "States": {
                        "Settle": {"Type": "Wait", "Seconds": 1, "Next": "Spin"},
                        "Spin": {"Type": "Pass", "Next": "Again"},
                        "Again": {
                            "Type": "Choice",
                            "Choices": [
                                {"Variable": "$.spin", "BooleanEquals": True, "Next": "Spin"}
                            ],
                            "Default": "Stop",
                        },
                        "Stop": {"Type": "Succeed"},
                    },
                },
            ],
            "End": True,
        }
    },
}


def _machine(sfn, iam, name: str, definition: dict) -> str:
    role = make_role(iam, name=f"{name}-role")
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)[
        "stateMachineArn"
    ]


def _run(sfn, machine: str, payload: dict) -> tuple[dict, list[dict]]:
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(payload))["executionArn"]
    deadline, pause = time.monotonic() + 600, 0.02
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
    events, token = [], None
    while True:
        page = sfn.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        if not (token := page.get("nextToken")):
            return described, events


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Iterator[tuple]:
    """A private localaws whose history limit is LIMIT events; its sfn and iam clients."""
    os.environ[history_limit.ENV] = str(LIMIT)
    try:
        with running(tmp_path_factory.mktemp("history-limit")):
            session = boto3.Session(region_name="us-east-1")
            yield session.client("stepfunctions"), session.client("iam")
    finally:
        os.environ.pop(history_limit.ENV, None)


@pytest.fixture(scope="module")
def loop(small) -> str:
    return _machine(*small, "history-loop", LOOP)


def _assert_cut_off(described: dict, events: list[dict], limit: int) -> None:
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Runtime"
    assert described["cause"] == history_limit.cause(limit)
    assert "maximum number of history events" in described["cause"]
    assert len(events) == limit
    assert [e["id"] for e in events] == list(range(1, limit + 1))
    last = events[-1]
    assert last["type"] == "ExecutionFailed"
    assert last["previousEventId"] == limit - 1
    assert last["executionFailedEventDetails"] == {
        "error": "States.Runtime",
        "cause": history_limit.cause(limit),
    }


@pytest.mark.slow  # a server of its own with a lowered limit
def test_a_loop_past_the_limit_fails_with_exactly_the_limit_of_events(small, loop):
    sfn, _ = small
    described, events = _run(sfn, loop, {"n": 0, "rounds": 1000})
    _assert_cut_off(described, events, LIMIT)
    assert "ExecutionSucceeded" not in [e["type"] for e in events]


@pytest.mark.slow  # a server of its own with a lowered limit
def test_a_loop_whose_last_event_is_the_limit_and_succeeded_succeeds(small, loop):
    sfn, _ = small
    rounds = (LIMIT - 4) // 4
    described, events = _run(sfn, loop, {"n": 0, "rounds": rounds})
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"n": rounds, "rounds": rounds}
    assert len(events) == LIMIT
    assert events[-1]["type"] == "ExecutionSucceeded"


@pytest.mark.slow  # a server of its own with a lowered limit
def test_one_round_more_fails_at_the_limit(small, loop):
    sfn, _ = small
    described, events = _run(sfn, loop, {"n": 0, "rounds": (LIMIT - 4) // 4 + 1})
    _assert_cut_off(described, events, LIMIT)


@pytest.mark.slow  # a server of its own with a lowered limit
def test_map_iterations_count_in_the_one_history(small):
    sfn, iam = small
    machine = _machine(sfn, iam, "history-map", MAP)
    few, _ = _run(sfn, machine, {"items": list(range(3))})
    assert few["status"] == "SUCCEEDED"
    described, events = _run(sfn, machine, {"items": list(range(30))})
    _assert_cut_off(described, events, LIMIT)
    assert "MapIterationStarted" in [e["type"] for e in events]


@pytest.mark.slow  # a server of its own with a lowered limit
def test_parallel_branches_count_and_the_failure_wakes_a_waiting_branch(small):
    sfn, iam = small
    machine = _machine(sfn, iam, "history-parallel", PARALLEL)
    described, events = _run(sfn, machine, {"spin": True})
    _assert_cut_off(described, events, LIMIT)
    assert "WaitStateEntered" in [e["type"] for e in events]


@pytest.mark.slow  # a server of its own with a lowered limit
def test_a_server_with_a_bad_limit_does_not_start(tmp_path):
    os.environ[history_limit.ENV] = "ten"
    try:
        with pytest.raises(CliError, match=f"{history_limit.ENV}.*'ten'"), running(tmp_path):
            pass
    finally:
        os.environ.pop(history_limit.ENV, None)


def test_a_bad_limit_is_refused_with_its_name(monkeypatch):
    for bad in ("0", "1", "25001", "-5", "ten"):
        monkeypatch.setenv(history_limit.ENV, bad)
        with pytest.raises(ValueError, match=history_limit.ENV):
            history_limit.configured_limit()
    monkeypatch.setenv(history_limit.ENV, "2")
    assert history_limit.configured_limit() == 2
    monkeypatch.delenv(history_limit.ENV)
    assert history_limit.configured_limit() == history_limit.HISTORY_LIMIT == 25_000


@pytest.mark.slow  # 20-40 s: moto records about 1,000 events a second
def test_the_full_size_quota_cuts_an_endless_loop_at_25000(tmp_path, monkeypatch):
    # A server of its own at the default limit: the module's `small` server (and its
    # lowered limit in the environment) may still be up when this test runs.
    monkeypatch.delenv(history_limit.ENV, raising=False)
    with running(tmp_path):
        session = boto3.Session(region_name="us-east-1")
        sfn, iam = session.client("stepfunctions"), session.client("iam")
        machine = _machine(sfn, iam, "history-full", LOOP)
        described, events = _run(sfn, machine, {"n": 0, "rounds": 100_000})
    _assert_cut_off(described, events, 25_000)
