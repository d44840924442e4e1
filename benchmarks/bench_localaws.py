"""localaws benchmarks: start time, request latency, Step Functions round trip, memory, and
the server CPU of a PutObject and of a ListObjectVersions page as a bucket fills up.

Writes benchmarks/results/localaws.json and prints a table. Each figure comes from a server
of its own (free port, temporary state directory), stopped afterwards.
Environment: LOCALAWS_BENCH_GIB (default 1) sizes the large-object memory test,
LOCALAWS_BENCH_OPS (default 300) the number of timed requests per operation,
LOCALAWS_BENCH_VERSIONS (default 0,2000,10000) the bucket sizes of the S3 growth figures.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from benchmarks.common import client_factory, print_table, publish, summary
from benchmarks.process_usage import cpu_seconds
from localaws.cli import start, stop
from localaws.core.config import Config
from localaws.ephemeral import free_port, running

OPS = int(os.environ.get("LOCALAWS_BENCH_OPS", "300"))
GIB = float(os.environ.get("LOCALAWS_BENCH_GIB", "1"))
VERSIONS = [int(n) for n in os.environ.get("LOCALAWS_BENCH_VERSIONS", "0,2000,10000").split(",")]


def _pid(config: Config) -> int:
    return json.loads(config.pid_file.read_text())["pid"]


def _rss_mib(config: Config) -> tuple[float, float]:
    """(current RSS, peak RSS) of the server process in MiB."""
    fields = {}
    for line in Path(f"/proc/{_pid(config)}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def _timed_start(config: Config) -> float:
    began = time.perf_counter()
    start(config)
    return time.perf_counter() - began


def _timed(call, n: int) -> list[float]:
    samples = []
    for i in range(n):
        began = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - began)
    return samples


def bench_start(root: Path) -> dict:
    # Its own server rather than running(): the start itself is what is measured.
    config = Config(state_dir=root / "start", port=free_port())
    cold = _timed_start(config)
    s3 = client_factory(config, max_attempts=1)("s3")
    s3.create_bucket(Bucket="bench-start")
    for i in range(50):
        s3.put_object(Bucket="bench-start", Key=f"k{i}", Body=b"x" * 1024)
    stop(config)
    warm = _timed_start(config)
    idempotent = _timed_start(config)  # already running: idempotent
    stop(config)
    return {
        "start_fresh_s": round(cold, 3),
        "start_with_state_s": round(warm, 3),
        "start_when_running_s": round(idempotent, 3),
    }


def bench_requests(root: Path) -> dict:
    with running(root / "requests") as config:
        client = client_factory(config, max_attempts=1)
        s3, ddb = client("s3"), client("dynamodb")
        s3.create_bucket(Bucket="bench")
        ddb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        body = os.urandom(1024)
        for i in range(20):  # warm-up: first calls load code paths
            s3.put_object(Bucket="bench", Key=f"warm{i}", Body=body)
            s3.get_object(Bucket="bench", Key=f"warm{i}")["Body"].read()
            ddb.put_item(TableName="bench", Item={"pk": {"S": f"warm{i}"}})
            ddb.get_item(TableName="bench", Key={"pk": {"S": f"warm{i}"}})
        results = {
            "s3_put_1KiB": _timed(
                lambda i: s3.put_object(Bucket="bench", Key=f"k{i}", Body=body), OPS
            ),
            "s3_get_1KiB": _timed(
                lambda i: s3.get_object(Bucket="bench", Key=f"k{i}")["Body"].read(), OPS
            ),
            "dynamodb_put": _timed(
                lambda i: ddb.put_item(
                    TableName="bench", Item={"pk": {"S": f"k{i}"}, "v": {"S": "x" * 100}}
                ),
                OPS,
            ),
            "dynamodb_get": _timed(
                lambda i: ddb.get_item(TableName="bench", Key={"pk": {"S": f"k{i}"}}), OPS
            ),
        }
        return {name: summary(samples) for name, samples in results.items()}


def bench_state_machine(root: Path, runs: int = 30) -> dict:
    with running(root / "sfn") as config:
        client = client_factory(config, max_attempts=1)
        iam, sfn, ddb = client("iam"), client("stepfunctions"), client("dynamodb")
        ddb.create_table(
            TableName="sfn",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        trust = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        )
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(
            RoleName="bench",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        definition = json.dumps(
            {
                "StartAt": "Put",
                "States": {
                    "Put": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:putItem",
                        "Parameters": {"TableName": "sfn", "Item": {"pk": {"S.$": "$.id"}}},
                        "ResultPath": None,
                        "Next": "Get",
                    },
                    "Get": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::dynamodb:getItem",
                        "Parameters": {"TableName": "sfn", "Key": {"pk": {"S.$": "$.id"}}},
                        "End": True,
                    },
                },
            }
        )
        machine = sfn.create_state_machine(name="bench", definition=definition, roleArn=role)[
            "stateMachineArn"
        ]

        def run(i: int) -> None:
            arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"id": f"r{i}"}))[
                "executionArn"
            ]
            while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
                time.sleep(0.005)
            assert status == "SUCCEEDED", status

        run(-1)  # warm-up
        return {"two_task_state_machine": summary(_timed(run, runs))}


def bench_versions_growth(root: Path) -> list[dict]:
    """Server CPU per PutObject and per ListObjectVersions page (MaxKeys 100, the delete
    state machine's) in a versioned bucket already holding N versions: flat is the target."""
    figures = []
    with running(root / "versions") as config:
        s3 = client_factory(config, max_attempts=1)("s3")
        s3.create_bucket(Bucket="bench-versions")
        s3.put_bucket_versioning(
            Bucket="bench-versions", VersioningConfiguration={"Status": "Enabled"}
        )
        pid, held = _pid(config), 0

        def put(names: list[str]) -> None:
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(lambda k: s3.put_object(Bucket="bench-versions", Key=k), names))

        for size in sorted(VERSIONS):
            put([f"fill/{i // 2:06d}.csv" for i in range(held, size)])  # two versions a name
            held = max(held, size)
            probes = [f"probe/{size}/{i:04d}" for i in range(max(50, OPS // 3))]
            began = cpu_seconds(pid)
            put(probes)
            put_ms = (cpu_seconds(pid) - began) * 1000 / len(probes)
            held += len(probes)
            pages = 10
            began = cpu_seconds(pid)
            for _ in range(pages):
                s3.list_object_versions(Bucket="bench-versions", MaxKeys=100)
            page_ms = (cpu_seconds(pid) - began) * 1000 / pages
            figures.append(
                {"versions": size, "put_cpu_ms": round(put_ms, 2), "page_cpu_ms": round(page_ms, 2)}
            )
    return figures


def bench_memory(root: Path) -> dict:
    source = root / "large.bin"
    size = int(GIB * 1024**3)
    block = os.urandom(8 * 1024 * 1024)
    with running(root / "memory") as config:
        with open(source, "wb") as out:
            for offset in range(0, size, len(block)):
                out.write(block[: min(len(block), size - offset)])
        s3 = client_factory(config, max_attempts=1)("s3")
        s3.create_bucket(Bucket="bench-large")
        idle, _ = _rss_mib(config)
        began = time.perf_counter()
        s3.upload_file(
            str(source),
            "bench-large",
            "large.bin",
            Config=TransferConfig(multipart_chunksize=64 * 1024**2, max_concurrency=2),
        )
        upload_s = time.perf_counter() - began
        after, peak = _rss_mib(config)
        head = s3.head_object(Bucket="bench-large", Key="large.bin")
        assert head["ContentLength"] == size
        Path(f"/proc/{_pid(config)}/clear_refs").write_text("5")  # reset the peak (VmHWM)
        began = time.perf_counter()
        body = s3.get_object(Bucket="bench-large", Key="large.bin")["Body"]
        received = sum(len(chunk) for chunk in iter(lambda: body.read(8 * 1024**2), b""))
        download_s = time.perf_counter() - began
        assert received == size
        _, download_peak = _rss_mib(config)
    source.unlink(missing_ok=True)
    return {
        "stored_gib": GIB,
        "upload_s": round(upload_s, 1),
        "server_rss_idle_mib": round(idle),
        "server_rss_after_mib": round(after),
        "server_rss_peak_mib": round(peak),
        "download_s": round(download_s, 1),
        "server_rss_peak_during_download_mib": round(download_peak),
    }


def _print_table(results: dict) -> None:
    rows = [
        ("start (fresh state)", f"{results['start']['start_fresh_s']:.2f} s", "<= 3 s"),
        ("start (with state)", f"{results['start']['start_with_state_s']:.2f} s", "<= 3 s"),
        ("start (already running)", f"{results['start']['start_when_running_s']:.3f} s", ""),
    ]
    for name, figures in {**results["requests"], **results["state_machine"]}.items():
        target = "p50 <= 100 ms" if name.startswith("two_task") else "p50 <= 5 ms"
        rows.append(
            (name, f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms", target)
        )
    mem = results["memory"]
    rows.append(
        (
            f"server RSS after storing {mem['stored_gib']} GiB",
            f"{mem['server_rss_after_mib']} MiB (idle {mem['server_rss_idle_mib']}, "
            f"peak {mem['server_rss_peak_mib']})",
            "not + 1 GiB",
        )
    )
    rows.append(
        (
            "server RSS peak reading it back",
            f"{mem['server_rss_peak_during_download_mib']} MiB",
            "not + 1 GiB",
        )
    )
    for row in results.get("versions_growth", []):
        rows.append(
            (
                f"S3 server CPU at {row['versions']:,} versions",
                f"PUT {row['put_cpu_ms']:.1f} ms, list page {row['page_cpu_ms']:.1f} ms",
                "flat in N",
            )
        )
    print_table(rows, ("localaws", "measured", "target"))


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="localaws-bench-") as tmp:
        root = Path(tmp)
        results = {
            "start": bench_start(root),
            "requests": bench_requests(root),
            "state_machine": bench_state_machine(root),
            "memory": bench_memory(root),
            "versions_growth": bench_versions_growth(root),
        }
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    results["cpus"] = os.cpu_count()
    publish("localaws", results, _print_table)
    return results


if __name__ == "__main__":
    main()
