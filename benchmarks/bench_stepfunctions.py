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
import socket
import statistics
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

from localaws.cli import env_vars, start, stop
from localaws.config import Config

RESULTS = Path(__file__).resolve().parent / "results" / "stepfunctions.json"
RUNS = int(os.environ.get("LOCALAWS_BENCH_SFN_RUNS", "200"))
WARMUP = 10
POLL_SECONDS = 0.002
TARGET_P50_MS = 100.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": round(pick(0.5) * 1000, 2), "p99_ms": round(pick(0.99) * 1000, 2),
            "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2), "n": len(ordered)}


def _setup(client) -> str:
    """Table, bucket, role and the two-task state machine; returns its ARN."""
    client("dynamodb").create_table(
        TableName="bench", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    client("s3").create_bucket(Bucket="bench-sfn")
    client("s3").put_object(Bucket="bench-sfn", Key="config.json", Body=b'{"ok": true}')
    iam = client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "states.amazonaws.com"}}]}
    role = iam.create_role(RoleName="bench-sfn", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="bench-sfn", PolicyName="tasks", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"},
            {"Effect": "Allow", "Action": "s3:GetObject",
             "Resource": "arn:aws:s3:::bench-sfn/*"}]}))
    definition = {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "bench", "Item": {"pk": {"S.$": "$$.Execution.Name"}}},
                "ResultPath": None, "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket": "bench-sfn", "Key": "config.json"},
                "ResultSelector": {"body.$": "$.Body"}, "End": True}}}
    return client("stepfunctions").create_state_machine(
        name="bench-two-tasks", definition=json.dumps(definition),
        roleArn=role["Role"]["Arn"])["stateMachineArn"]


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
        raise RuntimeError(f"benchmark execution {arn} ended {desc['status']}: "
                           f"{desc.get('error')} {desc.get('cause')}")
    return elapsed, (desc["stopDate"] - desc["startDate"]).total_seconds()


def measure(runs: int = RUNS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-sfn-") as state_dir:
        config = Config(state_dir=Path(state_dir), port=_free_port())
        start(config)
        try:
            env = env_vars(config)
            session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name="us-east-1")

            def client(name: str):
                return session.client(name, endpoint_url=config.endpoint_url,
                                      config=BotoConfig(retries={"max_attempts": 1}))

            machine = _setup(client)
            sfn = client("stepfunctions")
            first, _ = _run_once(sfn, machine)
            for _ in range(WARMUP - 1):
                _run_once(sfn, machine)
            samples = [_run_once(sfn, machine) for _ in range(runs)]
        finally:
            stop(config)
    client_side = _percentiles([s[0] for s in samples])
    server_side = _percentiles([s[1] for s in samples])
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


def print_table(result: dict) -> None:
    rows = [("client-observed", result["client_observed"]),
            ("server-side", result["server_side"])]
    print(f"Step Functions two-task execution ({result['client_observed']['n']} runs; "
          f"first execution {result['first_execution_ms']} ms)")
    print(f"{'measure':<18}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'max ms':>9}")
    for label, figures in rows:
        print(f"{label:<18}{figures['p50_ms']:>9}{figures['p99_ms']:>9}"
              f"{figures['mean_ms']:>9}{figures['max_ms']:>9}")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"target p50 <= {result['target_p50_ms']:.0f} ms: {verdict} "
          f"(machine load {result['load_average_1m']} on {result['cpus']} CPUs)")


def main() -> dict:
    result = measure()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"written to {RESULTS}")
    return result


if __name__ == "__main__":
    main()
