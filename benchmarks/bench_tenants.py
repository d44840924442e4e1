"""Tenant onboarding and offboarding on localaws, through the real state machines.

Measures, on a fresh localaws with the platform stack deployed:
- create-tenant executions, StartExecution to SUCCEEDED as a client sees it (p50 / p95;
  target p50 <= 0.5 s) and the server-side duration (stopDate - startDate);
- 100 tenants onboarded one after another, then 100 more 8 at a time (target <= 60 s each);
- delete-tenant executions (p50 / p95) over the first LOCALAWS_BENCH_DELETES (default 30)
  tenants, each checked to leave nothing behind;
- delete at size: one tenant with LOCALAWS_BENCH_OBJECT_VERSIONS (default 10,000) object
  versions and delete markers and LOCALAWS_BENCH_MODEL_VERSIONS (default 100) model versions
  (target <= 60 s), with the execution's state count (history stays far below 25,000 events).
Endpoint transitions run at their default duration (LOCALAWS_ENDPOINT_DELAY_S, default 0).
Writes benchmarks/results/tenants.json and prints a table. Environment:
LOCALAWS_BENCH_TENANTS (default 100) tenants per onboarding run.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import print_table, publish, summary
from localaws.ephemeral import running

TENANTS = int(os.environ.get("LOCALAWS_BENCH_TENANTS", "100"))
DELETES = min(TENANTS, int(os.environ.get("LOCALAWS_BENCH_DELETES", "30")))
OBJECT_VERSIONS = int(os.environ.get("LOCALAWS_BENCH_OBJECT_VERSIONS", "10000"))
MODEL_VERSIONS = int(os.environ.get("LOCALAWS_BENCH_MODEL_VERSIONS", "100"))
WORKERS = 8
TARGETS = {
    "create_p50_s": 0.5,
    "onboard_sequential_s": 60.0,
    "onboard_parallel_s": 60.0,
    "delete_at_size_s": 60.0,
}


def _p50_p95(stats: dict) -> str:
    return f"{stats['p50_s']:.3f} s / {stats['p95_s']:.3f} s"


def _stats(samples: list[float]) -> dict[str, float]:
    return summary(samples, (0.5, 0.95), extras=("mean", "max"), unit="s", digits=3)


def _run(session, kind: str, tenant: str) -> tuple[float, float]:
    """One execution: (client-side seconds, server-side seconds); raises if it failed."""
    from helpers import tenants

    execution = tenants.run_state_machine(
        session, kind, {"tenant": {"name": tenant}}, name_hint=tenant, progress=False
    )
    if execution.status != "SUCCEEDED":
        raise RuntimeError(f"{kind} {tenant}: {execution.error}: {execution.cause}")
    described = session.client("stepfunctions").describe_execution(executionArn=execution.arn)
    server = (described["stopDate"] - described["startDate"]).total_seconds()
    return execution.seconds, server


def measure() -> dict:
    from helpers import stack, tenants
    from helpers.session import connect

    session = connect("local")
    started = time.monotonic()
    stack.deploy_stack(session)
    deploy_s = time.monotonic() - started
    for warm in ("warm-a", "warm-b"):  # first calls per service pay imports
        _run(session, "create", warm)
        _run(session, "delete", warm)

    sequential = [f"seq-{i:04d}" for i in range(TENANTS)]
    started = time.monotonic()
    timings = [_run(session, "create", t) for t in sequential]
    onboard_sequential = time.monotonic() - started

    parallel = [f"par-{i:04d}" for i in range(TENANTS)]
    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        parallel_timings = list(pool.map(lambda t: _run(session, "create", t), parallel))
    onboard_parallel = time.monotonic() - started

    deleted = sequential[:DELETES]
    deletes = [_run(session, "delete", t) for t in deleted]
    left = sum(1 for t in deleted if any(tenants.tenant_leftovers(session, t).values()))
    at_size = _delete_at_size(session)
    return {
        "tenants_per_run": TENANTS,
        "workers": WORKERS,
        "stack_deploy_s": round(deploy_s, 3),
        "create_client": _stats([c for c, _ in timings]),
        "create_client_first_20": _stats([c for c, _ in timings[:20]]),
        "create_client_last_20": _stats([c for c, _ in timings[-20:]]),
        "create_server": _stats([s for _, s in timings]),
        "create_client_under_8_workers": _stats([c for c, _ in parallel_timings]),
        "onboard_sequential_s": round(onboard_sequential, 2),
        "onboard_parallel_s": round(onboard_parallel, 2),
        "delete_client": _stats([c for c, _ in deletes]),
        "delete_server": _stats([s for _, s in deletes]),
        "deleted_tenants_with_leftovers": left,
        "delete_at_size": at_size,
        "targets": TARGETS,
    }


def _delete_at_size(session) -> dict:
    """Delete one tenant holding OBJECT_VERSIONS object versions (a tenth of them delete
    markers) and MODEL_VERSIONS model versions; the time of the delete alone."""
    from helpers import tenants
    from helpers.naming import model_package_group

    tenant = "big-0001"
    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    s3, sm = session.client("s3"), session.client("sagemaker")
    markers = OBJECT_VERSIONS // 10
    keys = (OBJECT_VERSIONS - markers) // 2

    def write(i: int) -> None:
        key = f"pipeline/exec-{i // 7:05d}/step-{i % 7}/output-{i:06d}.csv"
        for _ in range(2):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        if i < markers:
            s3.delete_object(Bucket=bucket, Key=key)

    def register(_: int) -> None:
        sm.create_model_package(
            ModelPackageGroupName=model_package_group(tenant),
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": f"s3://{bucket}/m"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(write, range(keys)))
        list(pool.map(register, range(MODEL_VERSIONS)))
    setup_s = time.monotonic() - started
    execution = tenants.delete_tenant(session, tenant, progress=False)
    left = tenants.tenant_leftovers(session, tenant)
    return {
        "object_versions": keys * 2 + markers,
        "model_versions": MODEL_VERSIONS,
        "setup_s": round(setup_s, 2),
        "delete_s": round(execution.seconds, 2),
        "states_entered": len(execution.states),
        "leftovers": sum(len(v) for v in left.values()),
    }


def main() -> dict:
    with running():
        results = measure()
    publish("tenants", results, _print_table)
    return results


def _print_table(results: dict) -> None:
    rows = [
        (
            "create tenant p50 / p95 (client)",
            _p50_p95(results["create_client"]),
            f"p50 <= {TARGETS['create_p50_s']} s",
        ),
        (
            "create tenant p50 / p95 (server)",
            _p50_p95(results["create_server"]),
            "",
        ),
        (
            f"{TENANTS} tenants sequentially",
            f"{results['onboard_sequential_s']:.1f} s",
            f"<= {TARGETS['onboard_sequential_s']:.0f} s",
        ),
        (
            f"{TENANTS} tenants, {WORKERS} at a time",
            f"{results['onboard_parallel_s']:.1f} s",
            f"<= {TARGETS['onboard_parallel_s']:.0f} s",
        ),
        (
            "create p50 under 8 workers",
            f"{results['create_client_under_8_workers']['p50_s']:.3f} s",
            "",
        ),
        (
            "delete tenant p50 / p95 (client)",
            _p50_p95(results["delete_client"]),
            "",
        ),
        (
            "create p50, first 20 / last 20",
            f"{results['create_client_first_20']['p50_s']:.3f} s / "
            f"{results['create_client_last_20']['p50_s']:.3f} s",
            "",
        ),
        (
            f"delete of {results['delete_at_size']['object_versions']} object versions"
            f" + {results['delete_at_size']['model_versions']} model versions",
            f"{results['delete_at_size']['delete_s']:.1f} s"
            f" ({results['delete_at_size']['states_entered']} states)",
            f"<= {TARGETS['delete_at_size_s']:.0f} s",
        ),
        (
            f"deleted tenants with leftovers (of {DELETES})",
            str(results["deleted_tenants_with_leftovers"]),
            "0",
        ),
    ]
    print()
    print_table(rows, ("measure", "result", "target"))


if __name__ == "__main__":
    main()
