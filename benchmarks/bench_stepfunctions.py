"""Step Functions on localaws: a two-task state machine, StartExecution to SUCCEEDED.

The machine writes a DynamoDB item (optimized integration) and reads an S3 object (AWS SDK
integration), both signed as its role. Measured over HTTP from a client: StartExecution,
then DescribeExecution every 2 ms until the execution ends (target p50 <= 100 ms). The
server-side duration (stopDate - startDate) is reported beside it.
Writes benchmarks/results/stepfunctions.json and prints a table. Environment:
LOCALAWS_BENCH_SFN_RUNS (default 200) executions timed, after 10 warm-up runs.
"""

from __future__ import annotations

import json
import os
import time

from benchmarks.common import client_factory, print_table, publish, summary
from localaws.ephemeral import running

RUNS = int(os.environ.get("LOCALAWS_BENCH_SFN_RUNS", "200"))
WARMUP = 10
POLL_SECONDS = 0.002
TARGET_P50_MS = 100.0


def create_table(client, name: str) -> None:
    """An on-demand DynamoDB table keyed by the string `pk`."""
    client("dynamodb").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )


def states_role(client, name: str, statements: list[dict]) -> str:
    """A role Step Functions can assume, allowed `statements`; returns its ARN."""
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "states.amazonaws.com"},
            }
        ],
    }
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName=name,
        PolicyName="tasks",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return role["Role"]["Arn"]


def _setup(client) -> str:
    """Table, bucket, role and the two-task state machine; returns its ARN."""
    create_table(client, "bench")
    client("s3").create_bucket(Bucket="bench-sfn")
    client("s3").put_object(Bucket="bench-sfn", Key="config.json", Body=b'{"ok": true}')
    role_arn = states_role(
        client,
        "bench-sfn",
        [
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bench-sfn/*"},
        ],
    )
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "bench", "Item": {"pk": {"S.$": "$$.Execution.Name"}}},
                "ResultPath": None,
                "Next": "Get",
            },
            "Get": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "bench-sfn", "Key": "config.json"},
                "ResultSelector": {"body.$": "$.Body"},
                "End": True,
            },
        },
    }
    return client("stepfunctions").create_state_machine(
        name="bench-two-tasks", definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]


def _run_once(sfn, machine: str) -> tuple[float, float]:
    """(client-observed seconds, server-side seconds) of one execution."""
    began = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            break
        time.sleep(POLL_SECONDS)
    elapsed = time.perf_counter() - began
    if desc["status"] != "SUCCEEDED":
        raise RuntimeError(
            f"benchmark execution {arn} ended {desc['status']}: "
            f"{desc.get('error')} {desc.get('cause')}"
        )
    return elapsed, (desc["stopDate"] - desc["startDate"]).total_seconds()


def measure(runs: int = RUNS) -> dict:
    with running() as config:
        client = client_factory(config, max_attempts=1)
        machine = _setup(client)
        sfn = client("stepfunctions")
        first, _ = _run_once(sfn, machine)
        for _ in range(WARMUP - 1):
            _run_once(sfn, machine)
        samples = [_run_once(sfn, machine) for _ in range(runs)]
    client_side = summary([s[0] for s in samples], extras=("mean", "max"))
    server_side = summary([s[1] for s in samples], extras=("mean", "max"))
    return {
        "benchmark": "two-task state machine, StartExecution to SUCCEEDED over HTTP",
        "tasks": ["dynamodb:putItem (optimized)", "aws-sdk:s3:getObject"],
        "poll_interval_ms": POLL_SECONDS * 1000,
        "first_execution_ms": round(first * 1000, 2),
        "client_observed": client_side,
        "server_side": server_side,
        "target_p50_ms": TARGET_P50_MS,
        "meets_target": client_side["p50_ms"] <= TARGET_P50_MS,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def print_results(result: dict) -> None:
    print(
        f"Step Functions two-task execution ({result['client_observed']['n']} runs; "
        f"first execution {result['first_execution_ms']} ms)"
    )
    keys = ("p50_ms", "p99_ms", "mean_ms", "max_ms")
    print_table(
        [
            (label, *(result[field][k] for k in keys))
            for label, field in (
                ("client-observed", "client_observed"),
                ("server-side", "server_side"),
            )
        ],
        ("measure", "p50 ms", "p99 ms", "mean ms", "max ms"),
        align="<>>>>",
    )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"target p50 <= {result['target_p50_ms']:.0f} ms: {verdict} "
        f"(machine load {result['load_average_1m']} on {result['cpus']} CPUs)"
    )


def main() -> dict:
    result = measure()
    publish("stepfunctions", result, print_results)
    return result


if __name__ == "__main__":
    main()
