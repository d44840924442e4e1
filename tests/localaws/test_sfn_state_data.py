"""State data carried by JSON copies (`stepfunctions.state_data`): no state sees another's
mutation, history events show each state's data, the 256 KB quota measured as before."""

from __future__ import annotations

import copy
import datetime
import inspect
import json
from pathlib import Path

import boto3
import moto.stepfunctions.parser as sfn_parser
import pytest
from botocore.loaders import Loader
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from test_stepfunctions import chain, make_role, run, task, uid

from localaws.services.stepfunctions import state_data
from localaws.services.stepfunctions.state_data import json_copy

# Modules of the pinned moto's interpreter (`asl/`) that call `copy.deepcopy`: those that copy
# state data get `json_copy`; the others copy its own objects (program state, history, jobs).
COPIES_STATE_DATA = {
    "asl/eval/states.py",
    "asl/component/common/string/string_expression.py",
    "asl/component/common/path/result_path.py",
    "asl/component/state/exec/state_parallel/state_parallel.py",
    "asl/component/state/exec/execute_state.py",
    "asl/component/state/exec/state_map/state_map.py",
    "asl/component/intrinsic/function/statesfunction/json_manipulation/json_merge.py",
    "asl/component/state/exec/state_task/service/state_task_service.py",
}
COPIES_OTHER = {
    "asl/eval/environment.py",
    "asl/eval/event/event_manager.py",
    "asl/component/state/exec/state_map/iteration/job.py",
    "asl/component/state/exec/state_map/result_writer/result_writer_decl.py",
    "asl/component/state/exec/state_map/item_reader/item_reader_decl.py",
    "asl/component/state/exec/state_task/mock_eval_utils.py",
}


def _containers(value, found: list) -> list:
    if isinstance(value, dict | list):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


def test_every_deepcopy_of_the_interpreter_is_known():
    root = Path(sfn_parser.__file__).parent
    users = {
        p.relative_to(root).as_posix()
        for p in (root / "asl").rglob("*.py")
        if "copy.deepcopy(" in p.read_text(encoding="utf-8")
    }
    assert users == COPIES_STATE_DATA | COPIES_OTHER


def test_json_copy_equals_deepcopy_and_shares_no_container():
    # JSON the project did not make: botocore's model of the Step Functions API
    data = Loader().load_service_model("stepfunctions", "service-2")
    clone = json_copy(data)
    assert clone == data == copy.deepcopy(data)
    originals = {id(c) for c in _containers(data, [])}
    assert not originals & {id(c) for c in _containers(clone, [])}


def test_json_copy_deep_copies_other_objects_and_unshares_containers():
    class Box:
        def __init__(self) -> None:
            self.items = [1]

    shared = {"n": 1}
    when = datetime.datetime(2026, 11, 30, tzinfo=datetime.UTC)
    value = {"a": shared, "b": shared, "when": when, "box": [Box()], "t": (1, [2])}
    clone = json_copy(value)
    assert clone["a"] == clone["b"] == shared
    assert clone["a"] is not clone["b"] and clone["a"] is not shared  # as JSON text would be
    assert clone["when"] == when
    assert clone["box"][0] is not value["box"][0] and clone["box"][0].items == [1]
    assert clone["t"] == (1, [2]) and clone["t"][1] is not value["t"][1]


@pytest.fixture(scope="module")
def sfn(localaws):
    return boto3.Session().client("stepfunctions", region_name="us-east-1")


@pytest.fixture(scope="module")
def role(localaws):
    iam = boto3.Session().client("iam", region_name="us-east-1")
    return make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])


def _entered_inputs(sfn, arn: str) -> dict[str, list]:
    """Each state's inputs from its StateEntered events, checked against the exited outputs."""
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered: dict[str, list] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            entered.setdefault(details["name"], []).append(json.loads(details["input"]))
    return entered


def _output(described: dict):
    assert described["status"] == "SUCCEEDED", described.get("cause")
    return json.loads(described["output"])


TWICE = {"one.$": "$.acc", "two.$": "$.acc"}


def test_pass_states_writing_into_shared_objects_see_their_own_data(sfn, role):
    definition = chain(
        ("First", {"Type": "Pass", "Result": {"v": 1}, "ResultPath": "$.acc.first"}),
        (
            "Twice",
            {
                "Type": "Pass",
                "Parameters": {"one.$": "$.acc", "two.$": "$.acc"},
                "ResultPath": "$.p",
            },
        ),
        ("Touch", {"Type": "Pass", "Result": "x", "ResultPath": "$.p.one.touched"}),
        (
            "Merge",
            {
                "Type": "Pass",
                "Parameters": {
                    "m.$": "States.JsonMerge($.a, $.b, false)",
                    "a.$": "$.a",
                    "s.$": "States.StringToJson(States.JsonToString($.b))",
                },
                "ResultPath": "$.merged",
            },
        ),
        (
            "Branch",
            {
                "Type": "Choice",
                "Choices": [{"Variable": "$.acc.first.v", "NumericEquals": 1, "Next": "Last"}],
                "Default": "Wrong",
            },
        ),
        ("Wrong", {"Type": "Fail", "Error": "Wrong"}),
        ("Last", {"Type": "Pass"}),
    )
    del definition["States"]["Branch"]["Next"], definition["States"]["Wrong"]["Next"]
    start = {"acc": {"n": 0}, "a": {"k": 1}, "b": {"k": 2, "z": 3}}
    described = run(sfn, definition, role, start)
    acc = {"n": 0, "first": {"v": 1}}
    touched = {**start, "acc": acc, "p": {"one": {**acc, "touched": "x"}, "two": acc}}
    merged = {"m": {"k": 2, "z": 3}, "a": {"k": 1}, "s": {"k": 2, "z": 3}}
    assert _output(described) == {**touched, "merged": merged}
    entered = _entered_inputs(sfn, described["executionArn"])
    assert entered["First"] == [start]
    assert entered["Touch"] == [{**start, "acc": acc, "p": {"one": acc, "two": acc}}]
    assert entered["Merge"] == [touched]
    assert entered["Last"] == [{**touched, "merged": merged}]


def test_parallel_branches_and_map_iterations_get_their_own_copies(sfn, role):
    mark = {"Type": "Pass", "Result": "A", "ResultPath": "$.shared.by", "End": True}
    parallel = {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "Mark", "States": {"Mark": mark}},
            {
                "StartAt": "Later",  # reads the input after branch A wrote into its own
                "States": {
                    "Later": {"Type": "Wait", "Seconds": 1, "Next": "Keep"},
                    "Keep": {"Type": "Pass", "End": True},
                },
            },
        ],
        "ResultPath": "$.branches",
    }
    each = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "MaxConcurrency": 1,
        "ItemSelector": {"i.$": "$$.Map.Item.Value", "shared.$": "$.shared"},
        "ItemProcessor": {
            "StartAt": "Own",
            "States": {
                "Own": {
                    "Type": "Pass",
                    "Parameters": {"i.$": "$.i"},
                    "ResultPath": "$.shared.by",
                    "End": True,
                }
            },
        },
        "ResultPath": "$.results",
    }
    start = {"shared": {"n": 0}, "items": [1, 2, 3]}
    described = run(sfn, chain(("Both", parallel), ("Each", each)), role, start)
    out = _output(described)
    assert out["shared"] == {"n": 0}
    assert out["branches"] == [{**start, "shared": {"n": 0, "by": "A"}}, start]
    assert out["results"] == [{"i": i, "shared": {"n": 0, "by": {"i": i}}} for i in (1, 2, 3)]


def test_result_selector_values_are_independent(sfn, role):
    ddb = boto3.Session().client("dynamodb", region_name="us-east-1")
    table = uid("sfn-data")
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "k"}, "v": {"N": "7"}})
    get = task(
        "dynamodb:getItem",
        {"TableName": table, "Key": {"pk": {"S": "k"}}},
        ResultSelector={"a.$": "$.Item", "b.$": "$.Item"},
        ResultPath="$.sel",
    )
    definition = chain(
        ("Get", get), ("Touch", {"Type": "Pass", "Result": 1, "ResultPath": "$.sel.a.added"})
    )
    out = _output(run(sfn, definition, role, {}))
    item = {"pk": {"S": "k"}, "v": {"N": "7"}}
    assert out == {"sel": {"a": {**item, "added": 1}, "b": item}}


@pytest.mark.parametrize(
    ("data", "parameters", "within"),
    [
        ({"l": [1] * 60_000}, None, True),  # 120 KB as compact JSON, 180 KB with spaces
        ({"l": [1] * 100_000}, None, False),  # 200 KB compact, 300 KB as moto measures it
        ({"s": "x" * 200_000}, None, True),  # 200 KB either way
        ({"s": "x" * 150_000}, {"a.$": "$.s", "b.$": "$.s"}, False),  # 300 KB compact
    ],
)
def test_state_size_quota_as_moto_measures_it(sfn, role, data, parameters, within):
    # moto measures `json.dumps` with its default separators against 256 KB
    state = {"Type": "Pass", **({"Parameters": parameters} if parameters else {})}
    described = run(sfn, chain(("Big", state)), role, data)
    if within:
        assert described["status"] == "SUCCEEDED", described.get("cause")
    else:
        assert described["status"] == "FAILED"
        assert described["error"] == "States.DataLimitExceeded"
        assert "Big" in described["cause"]


def test_a_lent_input_is_measured_only_while_it_is_the_input():
    states = type("States", (), {})()
    states._states_data = {"input": {"a": 1}}
    state_data._lent.measured = (states._states_data["input"], states)
    value = states._states_data["input"]
    states._states_data["input"] = {"a": "y" * 300_000}  # replaced since: measure `value` itself
    assert state_data.within_size_quota(value)
    assert getattr(state_data._lent, "measured", None) is None


@pytest.mark.parametrize(
    "function",
    [CommonStateField._eval_body, ExecutionState._evaluate_with_timeout],
    ids=["quota check", "task frame"],
)
def test_the_inputs_lent_uncopied_go_where_the_pinned_moto_only_reads_them(function):
    # the input itself goes to the one `get_input()` each of these makes (see state_data)
    function = inspect.unwrap(function)
    code = function.__code__
    assert (code.co_filename, code.co_name) in state_data._LENT_TO
    assert inspect.getsource(function).count("get_input(") == 1


def test_output_paths_root_and_selected(sfn, role):
    """`OutputPath: "$"` (copied once) and a selecting OutputPath give what moto gave; the next
    state writing into its input changes no earlier state's output."""
    definition = chain(
        ("Make", {"Type": "Pass", "Result": {"keep": {"v": 1}, "drop": 2}, "OutputPath": "$"}),
        ("Select", {"Type": "Pass", "OutputPath": "$.keep"}),
        ("Write", {"Type": "Pass", "Result": "w", "ResultPath": "$.written"}),
        ("Again", {"Type": "Pass", "Result": "x", "ResultPath": "$.written"}),
    )
    described = run(sfn, definition, role, {"in": 0})
    assert _output(described) == {"v": 1, "written": "x"}
    events = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    exited = {
        e["stateExitedEventDetails"]["name"]: json.loads(e["stateExitedEventDetails"]["output"])
        for e in events
        if "stateExitedEventDetails" in e
    }
    assert exited == {
        "Make": {"keep": {"v": 1}, "drop": 2},
        "Select": {"v": 1},
        "Write": {"v": 1, "written": "w"},
        "Again": {"v": 1, "written": "x"},
    }
