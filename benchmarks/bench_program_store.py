"""Step Functions' on-disk program cache: CreateStack's server CPU without and with its entries.

The platform's stack (`helpers.stack.deploy_stack`, as notebook 00 and `make install`'s prebuild
deploy it) is created on a fresh, plainly started server (a new interpreter: nothing parsed in
memory), first with an empty `$LOCALAWS_CACHE_DIR` (its three state machines are parsed and
stored), then on another fresh server with the entries the first one left (read back). Server
CPU seconds (with its workers), steadier than wall time on a shared machine. Writes
benchmarks/results/program_store.json and prints a table.
Environment: LOCALAWS_BENCH_PROGRAM_STORE_RUNS (default 2) servers per case.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import print_table, publish
from benchmarks.process_usage import cpu_seconds
from localaws import cli
from localaws.ephemeral import running

RUNS = int(os.environ.get("LOCALAWS_BENCH_PROGRAM_STORE_RUNS", "2"))
READ_BACK = "read from"  # program_cache's log line for a program read from disk


def create_stack_cpu(cache: Path) -> tuple[float, int]:
    """Server CPU seconds of deploying the stack on a fresh server using `cache`, and how many
    programs that server read from disk."""
    from helpers.session import connect
    from helpers.stack import deploy_stack

    os.environ["LOCALAWS_CACHE_DIR"] = str(cache)
    with running() as config:
        info = cli.own_server(config)
        assert info is not None, "the benchmark's server is not running"
        before = cpu_seconds(int(info["pid"]))
        deploy_stack(connect("local", "us-east-1"))
        spent = cpu_seconds(int(info["pid"])) - before
        log = config.log_file.read_text()
    return spent, sum(
        READ_BACK in line and "state machine program" in line for line in log.splitlines()
    )


def main() -> None:
    cli.launcher = cli.launch  # plain starts even if a test harness installed another
    saved = os.environ.get("LOCALAWS_CACHE_DIR")
    cases: dict[str, list[float]] = {"empty cache": [], "cache filled": []}
    read_back: dict[str, list[int]] = {name: [] for name in cases}
    try:
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory(prefix="localaws-programs-") as cache:
                for name in cases:  # empty first; it fills the cache the second one reads
                    spent, read = create_stack_cpu(Path(cache))
                    cases[name].append(spent)
                    read_back[name].append(read)
    finally:
        os.environ.pop("LOCALAWS_CACHE_DIR", None)
        if saved is not None:
            os.environ["LOCALAWS_CACHE_DIR"] = saved
    result = {
        "runs": RUNS,
        "create_stack_server_cpu_s": {n: statistics.median(v) for n, v in cases.items()},
        "samples": cases,
        "programs_read_from_disk": read_back,
    }
    publish("program_store", result, show)


def show(result: dict) -> None:
    medians = result["create_stack_server_cpu_s"]
    print_table(
        [
            (name, f"{cpu:.2f}", max(result["programs_read_from_disk"][name]))
            for name, cpu in medians.items()
        ],
        ["CreateStack on a fresh server", "server CPU s (median)", "programs read from disk"],
        "<>>",
    )


if __name__ == "__main__":
    main()
