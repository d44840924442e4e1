"""IAM enforcement cost: request latency with full enforcement vs before it (p50/p99).

"Before" is the tree at `$LOCALAWS_BENCH_BASELINE` (default 724de7a: credentials checked for
every service, policies for S3 only, without conditions), extracted with `git archive` and
run as a server of its own; "after" is this tree. Both serve the same tenant-like workload,
requests alternating between the two servers so that load from elsewhere hits both alike:
an assumed role with an inline policy on its bucket, table and endpoint, a bucket policy
denying every principal but that role and the admin (`aws:PrincipalArn` condition), doing
S3 PUT and GET (1 KiB), DynamoDB GetItem and InvokeEndpoint (a tiny XGBoost model).
Also, in a server run inside this process (figures free of HTTP and load noise), the time
each request spends in the steps enforcement added (finding the caller's policies, the
service's request -> checks table, the evaluator), and the evaluator alone per check.
Writes benchmarks/results/iam.json.
Environment: LOCALAWS_BENCH_OPS (default 300) timed requests per operation and server.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

from benchmarks.common import client_factory, environment, print_table, publish, summary
from localaws.ephemeral import running

OPS = int(os.environ.get("LOCALAWS_BENCH_OPS", "300"))
BASELINE = os.environ.get("LOCALAWS_BENCH_BASELINE", "724de7a")
REPO = Path(__file__).resolve().parents[1]
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ACCOUNT = "123456789012"


def _baseline_src(root: Path) -> Path:
    """The baseline tree's `src/`, extracted from git."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE, "src"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root / "baseline", filter="data")
    return root / "baseline" / "src"


def _model_tar() -> bytes:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(3)
    x = rng.normal(size=(100, 4))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)), 4)
    data = bytes(booster.save_raw(raw_format="ubj"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _tenant_workload(config) -> dict:
    """Set up the tenant-like role and resources on one server; the role's timed calls."""
    admin = client_factory(config, max_attempts=1)
    admin_arn = admin("sts").get_caller_identity()["Arn"]
    bucket, table, endpoint = "bench-tenant", "bench-tenants", "bench-tenant"
    role_arn = admin("iam").create_role(
        RoleName="bench-tenant",
        AssumeRolePolicyDocument=_doc(
            {"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}
        ),
    )["Role"]["Arn"]
    admin("iam").put_role_policy(
        RoleName="bench-tenant",
        PolicyName="tenant",
        PolicyDocument=_doc(
            {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Effect": "Allow",
                "Action": "dynamodb:GetItem",
                "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}",
                "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["t1"]}},
            },
            {
                "Effect": "Allow",
                "Action": ["sagemaker:InvokeEndpoint", "sagemaker:DescribeEndpoint"],
                "Resource": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{endpoint}",
            },
        ),
    )
    s3, ddb, sm = admin("s3"), admin("dynamodb"), admin("sagemaker")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(
        Bucket=bucket,
        Policy=_doc(
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                "Condition": {"StringNotLike": {"aws:PrincipalArn": [role_arn, admin_arn]}},
            }
        ),
    )
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=_model_tar())
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName=table, Item={"pk": {"S": "t1"}, "v": {"S": "x" * 100}})
    sm.create_model(
        ModelName=endpoint,
        ExecutionRoleArn=role_arn,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": endpoint,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sm.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] != "InService":
        assert time.monotonic() < deadline, "endpoint did not come up"
        time.sleep(0.05)
    creds = admin("sts").assume_role(RoleArn=role_arn, RoleSessionName="bench")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )
    retries = BotoConfig(retries={"max_attempts": 1})
    role = {
        n: session.client(n, endpoint_url=config.endpoint_url, config=retries)
        for n in ("s3", "dynamodb", "sagemaker-runtime")
    }
    body = os.urandom(1024)
    return {
        "s3_put_1KiB": lambda i: role["s3"].put_object(Bucket=bucket, Key=f"k{i}", Body=body),
        "s3_get_1KiB": lambda i: role["s3"].get_object(Bucket=bucket, Key=f"k{i}")["Body"].read(),
        "dynamodb_getitem": lambda i: role["dynamodb"].get_item(
            TableName=table, Key={"pk": {"S": "t1"}}
        ),
        "invoke_endpoint": lambda i: (
            role["sagemaker-runtime"]
            .invoke_endpoint(EndpointName=endpoint, Body=b"1,1,0,0", ContentType="text/csv")["Body"]
            .read()
        ),
    }


def bench_requests(root: Path) -> dict:
    baseline_src = _baseline_src(root)
    with environment(), ExitStack() as stack:  # running() leaves its variables set: undo all
        with environment(PYTHONPATH=os.pathsep.join([str(baseline_src), str(REPO)])):
            before = stack.enter_context(running(root / "before"))
        after = stack.enter_context(running(root / "after"))
        calls = {"before": _tenant_workload(before), "after": _tenant_workload(after)}
        samples: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        for op in calls["after"]:
            for which in ("before", "after"):  # warm-up: first calls load code paths
                for i in range(20):
                    calls[which][op](OPS + i)
            for i in range(OPS):
                for which in ("before", "after"):
                    began = time.perf_counter()
                    calls[which][op](i)
                    samples[which].setdefault(op, []).append(time.perf_counter() - began)
    out = {}
    for op in samples["after"]:
        b, a = summary(samples["before"][op]), summary(samples["after"][op])
        out[op] = {"before": b, "after": a, "added_p50_ms": round(a["p50_ms"] - b["p50_ms"], 2)}
    return out


def bench_authorization_steps(root: Path, n: int = 200) -> dict:
    """Per request: the median time of each step enforcement added, in microseconds."""
    import logging
    import statistics
    import threading
    from unittest import mock

    from werkzeug.serving import make_server

    from localaws import server, services
    from localaws.core.config import Config
    from localaws.core.patching import undo_all
    from localaws.ephemeral import free_port
    from localaws.services.iam import enforcement

    spent: dict[str, list[float]] = {}

    def timed(name: str, fn):
        def call(*args, **kwargs):
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent.setdefault(name, []).append(time.perf_counter() - began)

        return call

    steps = ("caller_for_key", "checks_for", "evaluate")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    config = Config(state_dir=root / "in-process", port=free_port())
    with environment(), ExitStack() as stack:
        app = server.create_app(config)
        stack.callback(undo_all, services.groups())
        httpd = make_server(config.host, config.port, app, threaded=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        stack.callback(httpd.shutdown)
        for step in steps:
            original = getattr(enforcement, step)
            stack.enter_context(mock.patch.object(enforcement, step, timed(step, original)))
        calls = _tenant_workload(config)
        out = {}
        for op, call in calls.items():
            spent.clear()
            for i in range(n):
                call(i)
            medians = {s: statistics.median(spent[s]) * 1e6 for s in steps}
            out[op] = {f"{s}_us": round(v, 1) for s, v in medians.items()}
            out[op]["sum_p50_us"] = round(sum(medians.values()), 1)
    return out


def bench_evaluator(n: int = 20000) -> dict:
    """The evaluator alone: a tenant role's GetObject against its bucket policy."""
    from localaws.services.iam.policy import Caller, Check, PolicySource, evaluate

    role = f"arn:aws:iam::{ACCOUNT}:role/mt-tenant-acme"
    bucket = "mt-acme-123456789012-us-east-1"
    identity = _doc(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"},
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"arn:aws:s3:::{bucket}/*",
        },
        {"Effect": "Allow", "Action": "sagemaker:InvokeEndpoint", "Resource": "*"},
    )
    bucket_policy = _doc(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            "Condition": {"StringNotLike": {"aws:PrincipalArn": [role, "arn:aws:iam::1:user/a"]}},
        }
    )
    caller = Caller(
        f"arn:aws:sts::{ACCOUNT}:assumed-role/mt-tenant-acme/s",
        role,
        ACCOUNT,
        [PolicySource("tenant-access", "role", identity)],
        {"tenant-id": "acme"},
    )
    check = Check(
        "s3:GetObject",
        f"arn:aws:s3:::{bucket}/data/raw/churn.csv",
        resource_policy=PolicySource(bucket, "resource", bucket_policy),
    )
    assert evaluate(caller, check).allowed
    began = time.perf_counter()
    for _ in range(n):
        evaluate(caller, check)
    return {"per_check_us": round((time.perf_counter() - began) / n * 1e6, 1), "n": n}


def _print(results: dict) -> None:
    rows = [
        (
            op,
            r["before"]["p50_ms"],
            r["after"]["p50_ms"],
            r["added_p50_ms"],
            r["before"]["p99_ms"],
            r["after"]["p99_ms"],
        )
        for op, r in results["requests"].items()
    ]
    print_table(
        rows,
        ["operation", "p50 before", "p50 after", "added p50", "p99 before", "p99 after"],
        "<>>>>>",
    )
    steps = results["authorization_steps"]
    print_table(
        [(op, *r.values()) for op, r in steps.items()],
        ["in-process, p50 us", "caller", "checks", "evaluate", "sum"],
        "<>>>>",
    )
    print(f"evaluator alone: {results['evaluator']['per_check_us']} us per check")


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-iam-") as scratch:
        results = {
            "baseline": BASELINE,
            "ops": OPS,
            "requests": bench_requests(Path(scratch)),
            "authorization_steps": bench_authorization_steps(Path(scratch)),
            "evaluator": bench_evaluator(),
        }
    publish("iam", results, _print)
    return results


if __name__ == "__main__":
    main()
