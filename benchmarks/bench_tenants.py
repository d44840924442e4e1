"""Tenant onboarding and offboarding on localaws, through the real state machines.

Measures, on a fresh localaws with the platform stack deployed:
- create-tenant executions, StartExecution to SUCCEEDED as a client sees it (p50 / p95;
  target p50 <= 0.5 s) and the server-side duration (stopDate - startDate);
- 100 tenants onboarded one after another, then 100 more 8 at a time (target <= 60 s each);
- delete-tenant executions (p50 / p95) over the first LOCALAWS_BENCH_DELETES (default 30)
  tenants, each checked to leave nothing behind.
Asynchronous states run at their default durations (LOCALAWS_ENDPOINT_DELAY_S, default 0,
recorded in the results). The delete of one large tenant is `bench_delete`.
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
WORKERS = 8
TARGETS = {
    "create_p50_s": 0.5,
    "onboard_sequential_s": 60.0,
    "onboard_parallel_s": 60.0,
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
        "endpoint_delay_s": float(os.environ.get("LOCALAWS_ENDPOINT_DELAY_S", "0")),
        "targets": TARGETS,
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
            f"deleted tenants with leftovers (of {DELETES})",
            str(results["deleted_tenants_with_leftovers"]),
            "0",
        ),
    ]
    print()
    print_table(rows, ("measure", "result", "target"))


if __name__ == "__main__":
    main()
