"""Many tenants on one localaws: each phase of their life, and what grows with their number.

On a fresh localaws (its own server process, private state) with the platform stack:
create N tenants (create state machine), upload their data, train each (the real pipeline,
small data), approve the newest version, deploy it, invoke it (first and second call), restart
the server with everything present, then delete every tenant. Every call is the one the
notebooks make (`helpers`). Up to `--workers` tenants are in flight at once (threads), or
`--sfn-workers` in the phases that are one state machine run each (create, deploy, delete;
default: `--workers`). Those phases run in the server's one process, so they keep at most
about one core busy (the GIL); more in flight filled that core better but cost more CPU per
tenant on a busy machine (8 against 4: create 0.41 against 0.29 s). Each
phase ends before the next starts, so the i-th operation of a phase runs with i tenants
already through it.

Also `--micro` (alone or before the run): the persistence cost of one write as the number of
resources present grows (IAM CreateRole, SageMaker CreateModelPackageGroup, Step Functions
StartExecution of a Pass machine), with the state size and the restart time at each size.

`--keep-state DIR` runs in DIR and keeps it, without the delete phase; `--keep-state DIR
--restarts N` then only restarts a server on that state N times (seconds, and the server's
CPU seconds up to its first answer): a big state built once, restarts measured repeatedly.

Figures: benchmarks/results/scale.json and scale.png (latency of each operation against the
tenant ordinal), a table on stdout. `make bench` runs 50 tenants (LOCALAWS_BENCH_SCALE_TENANTS);
`python -m benchmarks.bench_scale --tenants 1000` is the full run. `--tier` (default pooled)
is put in the create input (`{"tenant": {"name", "tier"}}`); `--tier none` leaves it out.
Targets (issue 12): 1,000 tenants end to end <= 15 min, peak RSS <= 4 GB, create / deploy /
invoke at tenant 1,000 within 1.5x of tenant 10, restart <= 10 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import print_table, publish, results_dir, summary
from benchmarks.persistence_micro import run_micro
from benchmarks.process_usage import RssSampler, cpu_seconds
from localaws.cli import own_server, start, stop
from localaws.core.config import Config
from localaws.ephemeral import free_port, running

TARGETS = {"end_to_end_s": 900.0, "peak_rss_mb": 4096.0, "growth": 1.5, "restart_s": 10.0}
PHASES = ("create", "upload", "train", "approve", "deploy", "invoke_first", "invoke", "delete")
STATE_MACHINE_PHASES = ("create", "deploy", "delete")
GROWING = ("create", "deploy", "invoke")


def _phase(
    name: str,
    tenants: list[str],
    work: Callable[[str], float | None],
    workers: int,
    server_pid: int,
    cpu: dict[str, dict[str, float]],
) -> tuple[float, list[float]]:
    """Run `work` for every tenant, `workers` at a time: (wall seconds, per-tenant seconds in
    tenant order). `work` returns its own timing or None (then the call is timed here). The
    CPU seconds per tenant of the server (with its job and endpoint workers) and of this
    process go to `cpu[name]`: on a shared machine they are steadier than wall time."""

    def timed(tenant: str) -> float:
        began = time.perf_counter()
        own = work(tenant)
        return own if own is not None else time.perf_counter() - began

    server_before, client_before = cpu_seconds(server_pid), time.process_time()
    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        latencies = list(pool.map(timed, tenants))
    wall = time.perf_counter() - began
    n = len(tenants)
    server, client = cpu_seconds(server_pid) - server_before, time.process_time() - client_before
    cpu[name] = {
        "server_cpu_s_per_tenant": round(server / n, 3),
        "client_cpu_s_per_tenant": round(client / n, 3),
        "cores_busy": round((server + client) / wall, 2),  # of the machine's, both processes
        "in_flight": workers,
    }
    print(
        f"  {name:<12} {n} tenants in {wall:7.1f} s; CPU per tenant: server "
        f"{cpu[name]['server_cpu_s_per_tenant']:.2f} s, client "
        f"{cpu[name]['client_cpu_s_per_tenant']:.2f} s; cores busy {cpu[name]['cores_busy']:.2f}",
        flush=True,
    )
    return wall, latencies


def _tenant_steps(
    session: Any, tier: str | None, rows: int, rejected: set[str]
) -> dict[str, Callable]:
    """Each phase's work for one tenant. A tenant whose model does not pass the pipeline's
    accuracy bar (its seeded data may carry too little signal: the condition step doing its
    job) goes into `rejected`; it is not approved, deployed nor invoked, but still deleted."""
    from helpers import approval, deploy, pipeline, tenants
    from helpers.errors import TenantError

    samples: dict[str, Any] = {}

    def create(t: str) -> None:
        payload: dict[str, Any] = {"name": t}
        if tier is not None:
            payload["tier"] = tier
        tenants.run_state_machine(
            session, "create", {"tenant": payload}, name_hint=t, progress=False
        ).check(f"creating tenant {t!r}", TenantError)

    def train(t: str) -> None:
        result = pipeline.wait(session, pipeline.start(session, t), progress=False, poll=0.25)
        failed = result.step("AccuracyTooLow")
        if result.status == "Failed" and failed is not None and failed.status == "Failed":
            rejected.add(t)
        elif result.status != "Succeeded":
            raise RuntimeError(f"pipeline for {t}: {result.status} {result.failure_reason}")

    def approve(t: str) -> None:
        latest = approval.latest_version(session, t)
        if latest is None:
            raise RuntimeError(f"tenant {t} has no model version")
        approval.approve(session, t, latest.arn, "bench_scale")

    def deploy_(t: str) -> None:
        deploy.deploy(session, t, progress=False)
        samples[t] = deploy.sample_rows(session, t, n=4)[1]

    def invoke(t: str) -> float:
        began = time.perf_counter()
        deploy.invoke(session, t, samples[t])
        return time.perf_counter() - began

    return {
        "create": create,
        "upload": lambda t: tenants.upload_tenant_data(session, t, rows=rows) and None,
        "train": train,
        "approve": approve,
        "deploy": deploy_,
        "invoke_first": invoke,
        "invoke": invoke,
        "delete": lambda t: tenants.delete_tenant(session, t, progress=False) and None,
    }


def _growth(latencies: list[float]) -> dict[str, float]:
    """p50 of the first and last tenth (at least 3 each) and their ratio."""
    k = max(3, len(latencies) // 10)
    first, last = statistics.median(latencies[:k]), statistics.median(latencies[-k:])
    return {"first_p50_ms": first * 1000, "last_p50_ms": last * 1000, "ratio": last / first}


def _restart(config: Any) -> float:
    stop(config)
    began = time.perf_counter()
    start(config, wait=600)
    return time.perf_counter() - began


def restarts(state_dir: Path, times: int) -> dict:
    """Restart a server on a kept state (`--keep-state`) `times` times: seconds and the
    server's CPU seconds up to its first answer, each time, and their medians."""
    config = Config(state_dir=state_dir, port=free_port())
    walls, cpus = [], []
    start(config, wait=600)
    try:
        for _ in range(times):
            walls.append(_restart(config))
            info = own_server(config)
            assert info is not None
            cpus.append(cpu_seconds(int(info["pid"])))
    finally:
        stop(config)
    state_mb = sum(f.stat().st_size for f in state_dir.rglob("*") if f.is_file()) / 1e6
    result = {
        "state_mb": round(state_mb, 1),
        "restart_s": [round(w, 2) for w in walls],
        "server_cpu_s": [round(c, 2) for c in cpus],
        "median_restart_s": round(statistics.median(walls), 2),
        "median_server_cpu_s": round(statistics.median(cpus), 2),
    }
    print(f"  restart on {state_dir} ({state_mb:.0f} MB): {result}", flush=True)
    return result


def run_tenants(
    n: int,
    tier: str | None,
    workers: int,
    rows: int,
    sfn_workers: int | None = None,
    keep_state: Path | None = None,
) -> dict:
    """The whole run; `keep_state`: the state directory to use and keep, without the delete
    phase (a big state for `restarts`)."""
    from helpers import pipeline, stack
    from helpers.session import connect

    sfn_workers = sfn_workers or workers
    names = [f"scale-{i:04d}" for i in range(n)]
    with running(keep_state) as config:
        info = own_server(config)
        assert info is not None
        session = connect("local")
        stack.deploy_stack(session)
        pipeline.upsert(session)
        rejected: set[str] = set()
        steps = _tenant_steps(session, tier, rows, rejected)
        walls: dict[str, float] = {}
        latencies: dict[str, list[float]] = {}
        cpu: dict[str, dict[str, float]] = {}
        pid = int(info["pid"])
        began = time.perf_counter()
        with RssSampler(pid) as rss:
            for phase in PHASES[:-1]:
                served = [t for t in names if t not in rejected]
                walls[phase], latencies[phase] = _phase(
                    phase,
                    served,
                    steps[phase],
                    sfn_workers if phase in STATE_MACHINE_PHASES else workers,
                    pid,
                    cpu,
                )
            server_peak = rss.server_peak()
        state_mb = sum(f.stat().st_size for f in config.state_dir.rglob("*") if f.is_file()) / 1e6
        restart_s = _restart(config)
        print(f"  restart      {restart_s:.2f} s with {n} tenants ({state_mb:.0f} MB)")
        info = own_server(config)
        assert info is not None
        with RssSampler(int(info["pid"])) as rss_after:
            if keep_state is None:
                walls["delete"], latencies["delete"] = _phase(
                    "delete", names, steps["delete"], sfn_workers, int(info["pid"]), cpu
                )
        total = time.perf_counter() - began - restart_s
    phases = PHASES if keep_state is None else PHASES[:-1]
    return {
        "tenants": n,
        "tier": tier or "(not given)",
        "workers": workers,
        "sfn_workers": sfn_workers,
        "rows": rows,
        "rejected_by_accuracy_bar": sorted(rejected),
        "end_to_end_s": round(total, 1),
        "phases": {
            p: {
                "wall_s": round(walls[p], 2),
                "per_tenant": summary(latencies[p], (0.5, 0.95), extras=("mean", "max")),
                "growth": {k: round(v, 2) for k, v in _growth(latencies[p]).items()},
                **cpu[p],
            }
            for p in phases
        },
        "latencies_ms": {p: [round(v * 1000, 2) for v in latencies[p]] for p in phases},
        "server_peak_rss_mb": round(max(server_peak, rss_after.server_peak()) / 2**20, 1),
        "total_peak_rss_mb": round(max(rss.peak_total, rss_after.peak_total) / 2**20, 1),
        "state_mb": round(state_mb, 1),
        "restart_s": round(restart_s, 2),
    }


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True)
    for ax, phase in zip(axes.flat, PHASES, strict=True):
        ys = result["latencies_ms"][phase]
        xs = range(1, len(ys) + 1)
        ax.plot(xs, ys, ".", alpha=0.4, markersize=3)
        k = max(1, len(ys) // 20)
        rolling = [statistics.median(ys[max(0, i - k) : i + 1]) for i in range(len(ys))]
        ax.plot(xs, rolling, "-", linewidth=1.5)
        ax.set_title(phase)
        ax.set_ylabel("ms")
        ax.set_xlabel("tenant ordinal in phase")
    fig.suptitle(
        f"{result['tenants']} tenants, tier {result['tier']}, {result['workers']} in flight: "
        "latency per operation (dots) and its running median"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _show(data: dict) -> None:
    run = data.get("run")
    if run:
        rows = [
            [
                p,
                f"{s['wall_s']:.1f}",
                f"{s['per_tenant']['p50_ms']:.0f}",
                f"{s['per_tenant']['p95_ms']:.0f}",
                f"{s['growth']['ratio']:.2f}",
                f"{s.get('server_cpu_s_per_tenant', float('nan')):.2f}",
                f"{s.get('client_cpu_s_per_tenant', float('nan')):.2f}",
                f"{s.get('cores_busy', float('nan')):.2f}",
                s.get("in_flight", run["workers"]),
            ]
            for p, s in run["phases"].items()
        ]
        heads = [
            "phase",
            "wall s",
            "p50 ms",
            "p95 ms",
            "last/first",
            "server CPU",
            "client CPU",
            "cores",
            "in flight",
        ]
        print_table(rows, heads, "<>>>>>>>>")
        print(
            f"{run['tenants']} tenants ({run['workers']} in flight, tier {run['tier']}): "
            f"end to end {run['end_to_end_s']:.0f} s (target {TARGETS['end_to_end_s']:.0f}), "
            f"server peak RSS {run['server_peak_rss_mb']:.0f} MB, with job workers "
            f"{run['total_peak_rss_mb']:.0f} MB (target {TARGETS['peak_rss_mb']:.0f}), restart "
            f"{run['restart_s']:.2f} s (target {TARGETS['restart_s']:.0f}), "
            f"state {run['state_mb']} MB; models below the accuracy bar (not deployed): "
            f"{len(run.get('rejected_by_accuracy_bar', []))}"
        )
    micro = data.get("persistence_micro")
    if micro:
        heads = [k for k in micro[0] if k != "resources"]
        print("persistence of one write (before: whole backend pickled; now: what it touched)")
        print_table([[r["resources"], *(r[k] for k in heads)] for r in micro], ["present", *heads])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    parser.add_argument(
        "--tenants", type=int, default=int(os.environ.get("LOCALAWS_BENCH_SCALE_TENANTS", "50"))
    )
    parser.add_argument("--tier", default="pooled", help="pooled, dedicated, or none (omitted)")
    parser.add_argument("--workers", type=int, default=4, help="tenants in flight at once")
    parser.add_argument(
        "--sfn-workers", type=int, default=None, help="in flight in create, deploy and delete"
    )
    parser.add_argument("--rows", type=int, default=5000, help="rows of data per tenant")
    parser.add_argument("--micro", action="store_true", help="the persistence micro-benchmark")
    parser.add_argument("--micro-sizes", default="0,1000,5000")
    parser.add_argument("--micro-only", action="store_true")
    parser.add_argument(
        "--keep-state", type=Path, help="use and keep this state directory; no delete phase"
    )
    parser.add_argument(
        "--restarts", type=int, default=0, help="only restart the --keep-state server N times"
    )
    args = parser.parse_args([] if argv is None else argv)
    data: dict[str, Any] = {"targets": TARGETS}
    if args.micro or args.micro_only:
        print("persistence: one write's cost against resources present", flush=True)
        data["persistence_micro"] = run_micro([int(s) for s in args.micro_sizes.split(",")])
    if args.restarts:
        if args.keep_state is None:
            parser.error("--restarts needs --keep-state (a state a run kept)")
        data["restarts"] = restarts(args.keep_state, args.restarts)
        return
    if not args.micro_only:
        tier = None if args.tier == "none" else args.tier
        sfn_workers = args.sfn_workers or args.workers
        print(
            f"{args.tenants} tenants, {args.workers} in flight ({sfn_workers} in create, "
            "deploy, delete):",
            flush=True,
        )
        data["run"] = run_tenants(
            args.tenants, tier, args.workers, args.rows, args.sfn_workers, args.keep_state
        )
        if args.keep_state:  # no delete phase: not the figures of a run
            _show(data)
            return
        _plot(data["run"], results_dir() / "scale.png")
    publish("scale", data, _show)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
