"""Step Functions state data: server CPU per state when the input carries ~30 KB of JSON.

A machine of 20 DynamoDB getItem tasks (each reads a key from its input, ResultPath into it,
as the tenant delete machine does with a page of S3 versions) runs with a large input (100
ListObjectVersions records, ~30 KB) and with a small one; the difference is what carrying the
state data costs. Measured as the server's CPU seconds (with its workers), steadier than wall
time on a shared machine. Writes benchmarks/results/sfn_state_data.json and prints a table.
Environment: LOCALAWS_BENCH_SFN_DATA_RUNS (default 30) executions per input.
"""

from __future__ import annotations

import json
import os
import time

from benchmarks.bench_stepfunctions import create_table, states_role
from benchmarks.common import client_factory, print_table, publish
from benchmarks.process_usage import cpu_seconds
from localaws.cli import own_server
from localaws.ephemeral import running

RUNS = int(os.environ.get("LOCALAWS_BENCH_SFN_DATA_RUNS", "30"))
TASKS = 20
VERSIONS = 100
POLL_SECONDS = 0.05  # DescribeExecution returns the input: rare polls, little noise


def versions_page(n: int = VERSIONS) -> list[dict]:
    """`n` records shaped as S3 ListObjectVersions returns them (dates already text)."""
    return [
        {
            "Key": f"tenants/acme/data/part-{i:05d}.csv",
            "VersionId": f"{i:032x}"[:32],
            "IsLatest": i % 3 == 0,
            "LastModified": "2026-11-30T09:15:00.000Z",
            "ETag": f'"{i * 7919:032x}"',
            "Size": 1000 + i,
            "StorageClass": "STANDARD",
            "Owner": {"DisplayName": "webfile", "ID": "75aa57f09aa0c8caeab4f8c24e99d10f8e7f"},
        }
        for i in range(n)
    ]


def _definition() -> dict:
    states: dict[str, dict] = {}
    for i in range(TASKS):
        states[f"Get{i}"] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {"TableName": "bench-data", "Key": {"pk": {"S.$": "$.key"}}},
            "ResultPath": "$.last",
            **({"Next": f"Get{i + 1}"} if i + 1 < TASKS else {"End": True}),
        }
    return {"StartAt": "Get0", "States": states}


def _setup(client) -> str:
    create_table(client, "bench-data")
    role_arn = states_role(
        client, "bench-data", [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}]
    )
    return client("stepfunctions").create_state_machine(
        name="bench-state-data", definition=json.dumps(_definition()), roleArn=role_arn
    )["stateMachineArn"]


def _run(sfn, machine: str, payload: str) -> None:
    arn = sfn.start_execution(stateMachineArn=machine, input=payload)["executionArn"]
    while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(POLL_SECONDS)
    if desc["status"] != "SUCCEEDED":
        raise RuntimeError(f"{arn} ended {desc['status']}: {desc.get('cause')}")


def _cpu_per_state(sfn, machine: str, payload: str, pid: int, runs: int) -> float:
    _run(sfn, machine, payload)  # warm-up
    before = cpu_seconds(pid)
    for _ in range(runs):
        _run(sfn, machine, payload)
    return (cpu_seconds(pid) - before) / (runs * TASKS)


def measure(runs: int = RUNS) -> dict:
    large = json.dumps({"key": "k", "versions": versions_page()})
    small = json.dumps({"key": "k"})
    with running() as config:
        info = own_server(config)
        assert info is not None
        client = client_factory(config, max_attempts=1)
        machine = _setup(client)
        sfn = client("stepfunctions")
        pid = int(info["pid"])
        per_state = {
            name: _cpu_per_state(sfn, machine, payload, pid, runs)
            for name, payload in (("small", small), ("large", large))
        }
    return {
        "benchmark": f"{TASKS} dynamodb:getItem tasks, ResultPath into the input",
        "input_bytes": {"small": len(small), "large": len(large)},
        "runs": runs,
        "server_cpu_ms_per_state": {k: round(v * 1000, 3) for k, v in per_state.items()},
        "state_data_cpu_ms_per_state": round((per_state["large"] - per_state["small"]) * 1000, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_results(result: dict) -> None:
    print(f"Step Functions state data ({result['runs']} runs of {TASKS} tasks per input)")
    cpu = result["server_cpu_ms_per_state"]
    print_table(
        [(name, result["input_bytes"][name], cpu[name]) for name in ("small", "large")],
        ("input", "bytes", "server CPU ms / state"),
        align="<>>",
    )
    print(f"carrying ~30 KB of state data: {result['state_data_cpu_ms_per_state']} ms / state")


def main() -> dict:
    result = measure()
    publish("sfn_state_data", result, print_results)
    return result


if __name__ == "__main__":
    main()
