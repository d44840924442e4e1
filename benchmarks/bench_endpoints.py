"""Endpoints and the deploy state machine on localaws.

1. Deploy state machine, start to SUCCEEDED (target <= 3 s): first deploy (CreateEndpoint) and
   redeploys (UpdateEndpoint), alternating two approved versions of one tenant.
2. InvokeEndpoint latency, one client, one raw customer record per request (a CSV line as
   uploaded, without the label: the endpoint validates it and builds the features; targets
   p50 <= 5 ms, p99 <= 20 ms), measured client side over HTTP with boto3; beside it the same
   model served by the XGBoost built-in algorithm with the preprocessed feature vector.
3. Throughput with 8 concurrent clients (requests per second).
4. UpdateEndpoint swap under load (8 clients): failed requests (target 0) and swap time.
5. The pooled tier: the tenant moved to the shared multi-model endpoint (deploy tier=pooled),
   then its artifact copied under LOCALAWS_BENCH_TARGETS (default 50) new keys: the first
   invoke of each is a cold load (target p50 <= 100 ms), then warm invokes of one TargetModel
   (target p50 <= 5 ms), one raw record each, client side.
Versions are built as the pipeline builds them (the project's preprocess/train job code on the
tenant's generated data) and registered directly, so the figures exclude pipeline time.
Writes benchmarks/results/endpoints.json and prints a table. Environment:
LOCALAWS_BENCH_INVOKES (default 1000), LOCALAWS_BENCH_DEPLOYS (default 5).
"""

from __future__ import annotations

import io
import os
import statistics
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path

from benchmarks.common import percentile, print_table, publish
from localaws.ephemeral import running

INVOKES = int(os.environ.get("LOCALAWS_BENCH_INVOKES", "1000"))
DEPLOYS = int(os.environ.get("LOCALAWS_BENCH_DEPLOYS", "5"))
TARGETS = int(os.environ.get("LOCALAWS_BENCH_TARGETS", "50"))
CLIENTS = 8
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _ms(values: list[float], q: float) -> float:
    """The `q` percentile of `values` (seconds) in ms, rounded to 0.01."""
    return round(percentile(values, q, rule="round") * 1000, 2)


def register_version(aws, tenant: str, workdir: Path, num_round: int) -> str:
    """Train on the tenant's data with the pipeline's job code; register as the pipeline does."""
    from helpers.data import generate_churn
    from helpers.naming import model_package_group, tenant_bucket
    from pipeline_steps import preprocess, train

    run = uuid.uuid4().hex[:12]
    (workdir / run / "in").mkdir(parents=True)
    generate_churn(tenant, rows=2000).to_csv(workdir / run / "in" / "churn.csv", index=False)
    preprocess.run(workdir / run / "in", workdir / run / "out")
    train.train(workdir / run / "out" / "train", workdir / run / "model", {"num_round": num_round})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(workdir / run / "model", arcname=".")
    bucket, prefix = tenant_bucket(tenant, aws.account_id, aws.region), f"pipeline/{run}"
    s3 = aws.client("s3")
    model_key = f"{prefix}/model/bench-{run}/output/model.tar.gz"  # the training job's layout
    s3.put_object(Bucket=bucket, Key=model_key, Body=buf.getvalue())
    for name in ("test/test.csv", "test/sample.json", "train/preprocessing.json"):
        s3.put_object(
            Bucket=bucket, Key=f"{prefix}/{name}", Body=(workdir / run / "out" / name).read_bytes()
        )
    s3.put_object(Bucket=bucket, Key=f"{prefix}/evaluation/evaluation.json", Body=b"{}")
    return aws.client("sagemaker").create_model_package(
        ModelPackageGroupName=model_package_group(tenant),
        InferenceSpecification={
            "Containers": [
                {
                    "Image": XGB_IMAGE,
                    "ModelDataUrl": f"s3://{bucket}/{model_key}",
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    },
                }
            ],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={
            "input-schema": f"s3://{bucket}/{prefix}/train/preprocessing.json"
        },
        ModelMetrics={
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": f"s3://{bucket}/{prefix}/evaluation/evaluation.json",
                }
            }
        },
    )["ModelPackageArn"]


def _latencies(client, endpoint: str, body: str, count: int) -> list[float]:
    """`count` InvokeEndpoint calls of `body` (text/csv) after 20 warm-up calls; seconds each."""
    for _ in range(20):  # warm-up: connection, model in cache
        client.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    out = []
    for _ in range(count):
        started = time.perf_counter()
        client.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)[
            "Body"
        ].read()
        out.append(time.perf_counter() - started)
    return out


def _pooled(aws, tenant: str, row: str) -> dict:
    """Move `tenant` to the pooled tier; cold loads and warm invokes by TargetModel."""
    import boto3

    from helpers import deploy

    moved = deploy.deploy(aws, tenant, tier="pooled", progress=False)
    pool, target = moved.endpoint, str(moved.target_model)
    bucket = f"{pool}-{aws.account_id}-{aws.region}"
    s3 = aws.client("s3")
    client = boto3.Session(region_name=aws.region).client("sagemaker-runtime")
    cold = []
    for i in range(TARGETS):
        key = f"{tenant}/cold-{i}.tar.gz"
        s3.copy_object(Bucket=bucket, Key=key, CopySource=f"{bucket}/{target}")
        started = time.perf_counter()
        client.invoke_endpoint(
            EndpointName=pool, TargetModel=key, ContentType="text/csv", Body=row
        )["Body"].read()
        cold.append(time.perf_counter() - started)
        s3.delete_object(Bucket=bucket, Key=key)
    for _ in range(20):  # warm-up
        client.invoke_endpoint(
            EndpointName=pool, TargetModel=target, ContentType="text/csv", Body=row
        )
    warm = []
    for _ in range(INVOKES):
        started = time.perf_counter()
        client.invoke_endpoint(
            EndpointName=pool, TargetModel=target, ContentType="text/csv", Body=row
        )["Body"].read()
        warm.append(time.perf_counter() - started)
    return {
        "deploy_to_pooled_seconds": round(moved.seconds, 3),
        "cold_load_ms": {"targets": TARGETS, "p50": _ms(cold, 0.5), "p99": _ms(cold, 0.99)},
        "warm_invoke_ms": {"requests": INVOKES, "p50": _ms(warm, 0.5), "p99": _ms(warm, 0.99)},
        "target_cold_p50": 100.0,
        "target_warm_p50": 5.0,
    }


def vector_endpoint(aws, tenant: str, version: str) -> str:
    """The version's artifact served by the XGBoost built-in algorithm (feature vectors in)."""
    from helpers import deploy

    sm = aws.client("sagemaker")
    container = sm.describe_model_package(ModelPackageName=version)["InferenceSpecification"][
        "Containers"
    ][0]
    name = f"mt-{tenant}-vectors"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=deploy.tenant_item(aws, tenant)["tenant-role"],
        PrimaryContainer={"Image": container["Image"], "ModelDataUrl": container["ModelDataUrl"]},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        time.sleep(0.05)
    return name


def _load(
    aws,
    endpoint: str,
    row: str,
    seconds: float,
    failures: list,
    latencies: list,
    stop: threading.Event | None = None,
) -> None:
    """One client invoking `endpoint` until `seconds` pass or `stop` is set."""
    import boto3

    client = boto3.Session(region_name=aws.region).client("sagemaker-runtime")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not (stop and stop.is_set()):
        started = time.perf_counter()
        try:
            client.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=row)[
                "Body"
            ].read()
            latencies.append(time.perf_counter() - started)
        except Exception as exc:  # counted, not raised: the figure is the failure count
            failures.append(repr(exc))


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-endpoints-") as workdir, running():
        return _run(Path(workdir))


def _run(workdir: Path) -> dict:
    import boto3

    from helpers import deploy, tenants
    from helpers.session import connect
    from helpers.stack import deploy_stack

    aws = connect("local")
    deploy_stack(aws)
    tenant = "bench"
    tenants.create_tenant(aws, tenant)
    versions = [register_version(aws, tenant, workdir, n) for n in (20, 40)]

    deploy_seconds, kinds = [], []
    for i in range(DEPLOYS):
        time.sleep(1.0)  # deployment names carry the second
        result = deploy.deploy(aws, tenant, version=versions[i % 2], progress=False)
        deploy_seconds.append(result.seconds)
        kinds.append("create" if i == 0 else "update")

    _, records = deploy.sample_rows(aws, tenant, n=1)
    row = records.to_csv(header=False, index=False).strip()  # a raw record, as uploaded
    endpoint = f"mt-{tenant}"
    client = boto3.Session(region_name=aws.region).client("sagemaker-runtime")
    single = _latencies(client, endpoint, row, INVOKES)
    deployed = deploy.tenant_item(aws, tenant)["tenant-deployed-version"]
    execution = (
        aws.client("sagemaker")
        .describe_model_package(ModelPackageName=deployed)["ModelMetrics"]["ModelQuality"][
            "Statistics"
        ]["S3Uri"]
        .split("/")[-3]
    )
    test_csv = aws.client("s3").get_object(
        Bucket=deploy.tenant_item(aws, tenant)["tenant-bucket"],
        Key=f"pipeline/{execution}/test/test.csv",
    )["Body"]
    vector = test_csv.read().decode().split("\n", 1)[0].split(",", 1)[1]  # label dropped
    vectors = _latencies(client, vector_endpoint(aws, tenant, deployed), vector, INVOKES)

    # Reference: a SageMaker control-plane read through the same server (moto + IAM + HTTP).
    sm_client = boto3.Session(region_name=aws.region).client("sagemaker")
    baseline = []
    for _ in range(min(INVOKES, 300)):
        started = time.perf_counter()
        sm_client.describe_endpoint(EndpointName=endpoint)
        baseline.append(time.perf_counter() - started)

    failures: list = []
    latencies: list = []
    threads = [
        threading.Thread(target=_load, args=(aws, endpoint, row, 5.0, failures, latencies))
        for _ in range(CLIENTS)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    throughput = len(latencies) / (time.perf_counter() - started)

    sm = aws.client("sagemaker")
    current = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    name = f"mt-{tenant}-swap-{uuid.uuid4().hex[:6]}"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=deploy.tenant_item(aws, tenant)["tenant-role"],
        PrimaryContainer={"ModelPackageName": versions[0]},
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    swap_failures: list = []
    swap_latencies: list = []
    stop_event = threading.Event()
    threads = [
        threading.Thread(
            target=_load, args=(aws, endpoint, row, 60.0, swap_failures, swap_latencies, stop_event)
        )
        for _ in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)
    swap_started = time.perf_counter()
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=name)
    while (desc := sm.describe_endpoint(EndpointName=endpoint))["EndpointStatus"] == "Updating":
        time.sleep(0.01)
    swap_seconds = time.perf_counter() - swap_started
    time.sleep(1.0)
    stop_event.set()
    for t in threads:
        t.join()
    assert desc["EndpointConfigName"] == name and current != name, desc

    results = {
        "deploy_state_machine_seconds": {
            "runs": [round(s, 3) for s in deploy_seconds],
            "kinds": kinds,
            "p50": round(statistics.median(deploy_seconds), 3),
            "max": round(max(deploy_seconds), 3),
            "target": 3.0,
        },
        "invoke_one_client_ms": {
            "requests": INVOKES,
            "p50": _ms(single, 0.5),
            "p99": _ms(single, 0.99),
            "target_p50": 5.0,
            "target_p99": 20.0,
            "reference_describe_endpoint_p50": _ms(baseline, 0.5),
            "body": "one raw customer record (CSV line as uploaded, no label)",
        },
        "invoke_preprocessed_vector_one_client_ms": {
            "requests": INVOKES,
            "p50": _ms(vectors, 0.5),
            "p99": _ms(vectors, 0.99),
            "body": "the same customer's feature vector, XGBoost built-in algorithm",
        },
        "invoke_8_clients": {
            "requests": len(latencies),
            "failed": len(failures),
            "requests_per_second": round(throughput, 1),
            "p50_ms": _ms(latencies, 0.5),
            "p99_ms": _ms(latencies, 0.99),
        },
        "update_swap_under_load": {
            "clients": CLIENTS,
            "requests": len(swap_latencies),
            "failed": len(swap_failures),
            "swap_seconds": round(swap_seconds, 3),
            "target_failed": 0,
        },
        "pooled_tier": _pooled(aws, tenant, row),
        "machine": {"cpus": os.cpu_count()},
    }
    publish("endpoints", results, _print_table)
    return results


def _print_table(r: dict) -> None:
    d, one, vec, many, swap = (
        r["deploy_state_machine_seconds"],
        r["invoke_one_client_ms"],
        r["invoke_preprocessed_vector_one_client_ms"],
        r["invoke_8_clients"],
        r["update_swap_under_load"],
    )
    rows = [
        ("deploy state machine start->SUCCEEDED p50", f"{d['p50']:.2f} s", "<= 3 s"),
        ("deploy state machine max (runs: " + ", ".join(d["kinds"]) + ")", f"{d['max']:.2f} s", ""),
        ("InvokeEndpoint raw record p50, 1 client", f"{one['p50']:.2f} ms", "<= 5 ms"),
        ("InvokeEndpoint raw record p99, 1 client", f"{one['p99']:.2f} ms", "<= 20 ms"),
        ("  beside it: preprocessed vector p50", f"{vec['p50']:.2f} ms", ""),
        ("  beside it: preprocessed vector p99", f"{vec['p99']:.2f} ms", ""),
        (
            "reference: DescribeEndpoint p50, same server",
            f"{one['reference_describe_endpoint_p50']:.2f} ms",
            "",
        ),
        (
            f"throughput, {CLIENTS} clients",
            f"{many['requests_per_second']:.0f} req/s",
            f"{many['failed']} failed",
        ),
        (
            f"UpdateEndpoint swap under load ({swap['requests']} requests)",
            f"{swap['failed']} failed",
            "0 failed",
        ),
        ("UpdateEndpoint swap time", f"{swap['swap_seconds']:.2f} s", ""),
    ]
    if pooled := r.get("pooled_tier"):
        cold, warm = pooled["cold_load_ms"], pooled["warm_invoke_ms"]
        rows += [
            ("deploy to the pooled tier", f"{pooled['deploy_to_pooled_seconds']:.2f} s", ""),
            (
                f"pooled cold load p50 ({cold['targets']} targets)",
                f"{cold['p50']:.2f} ms",
                "<= 100 ms",
            ),
            ("pooled warm invoke p50 (TargetModel)", f"{warm['p50']:.2f} ms", "<= 5 ms"),
            ("pooled warm invoke p99", f"{warm['p99']:.2f} ms", ""),
        ]
    print()
    print_table(rows, ("measure", "result", "target"), align="<><")


if __name__ == "__main__":
    main()
