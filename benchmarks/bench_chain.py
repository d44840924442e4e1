"""`make demo`'s notebook chain (00 -> 01 -> 02 -> 03 under papermill) on a private localaws.

`make install` builds the pipeline definition into the definition cache
(helpers.pipeline.prebuild); this benchmark does that step into a private cache first and
reports its time ("install step", not part of any chain). Then four chains for one tenant:
- "first": the first `make demo` after install: fresh localaws state, localaws not running
  (the chain starts it while the first kernel starts, as `make demo` does: its start is
  included), the definition published from the cache without importing the SDK;
- "first_lazy_worker": "first" again on fresh state, the job worker (zygote) started at
  CreatePipeline as before session 7 (LOCALAWS_WARM_WORKERS_AT_START=0), not with the server:
  whether its ~3 CPU s of imports during notebooks 00-01 cost more than the first job's wait;
- "again": the same server again (a second `make demo`): the stack and tenant exist, the
  pipeline's definition is unchanged so it is neither rebuilt nor upserted; a new execution
  and version are deployed;
- "cold": a new server (started before the chain) with fresh state and an empty definition
  cache: the SDK builds the definition (install without the prebuild, or the first demo
  after an edit of the job code).
Each chain is `make demo`'s command, `python -m helpers.chain`, in a process of its own, timed
from its start to its exit (session 6's figures timed `run_chain` in this process, after its
imports: they left out the command's own start). For each notebook: its wall time
(papermill, kernel start included), its cells' own time, its slowest cell; the servers'
start. Target: a chain <= 15 s. Writes benchmarks/results/chain.json and prints a table.
Environment: LOCALAWS_BENCH_CHAIN_TENANT (default bench-chain).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import print_table, publish
from localaws.cli import stop
from localaws.compute.workers import WARM_AT_START_ENV
from localaws.core.config import Config
from localaws.ephemeral import free_port, running

TENANT = os.environ.get("LOCALAWS_BENCH_CHAIN_TENANT", "bench-chain")
TARGET_S = 15.0


def notebook_figures(path: Path) -> dict:
    """Wall time, cells' time and the slowest cell of an executed notebook (papermill's
    per-cell durations in its metadata)."""
    nb = json.loads(path.read_text())
    cells = [
        (c["metadata"].get("papermill", {}).get("duration") or 0.0, "".join(c["source"]))
        for c in nb["cells"]
        if c["cell_type"] == "code"
    ]
    slowest = max(cells, key=lambda c: c[0])
    first_line = next((line for line in slowest[1].splitlines() if line.strip()), "")
    return {
        "wall_s": round(nb["metadata"]["papermill"]["duration"], 2),
        "cells_s": round(sum(d for d, _ in cells), 2),
        "slowest_cell_s": round(slowest[0], 2),
        "slowest_cell": first_line[:60],
    }


def timed_chain(out: Path) -> dict:
    """`make demo`'s command, `python -m helpers.chain`, timed from its start to its exit (its
    imports, the kernels' and localaws's starts included)."""
    from helpers.chain import CHAIN

    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "helpers.chain", "--tenant", TENANT, "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    total = time.perf_counter() - started
    return {
        "chain_s": round(total, 2),
        "notebooks": {name: notebook_figures(out / f"{name}.ipynb") for name in CHAIN},
    }


RUNS = (
    ("first", "first make demo after install (localaws start included)"),
    ("first_lazy_worker", "the same, job worker started at CreatePipeline"),
    ("again", "second run"),
    ("cold", "fresh state, no cached definition"),
)


@contextmanager
def not_started(state_dir: Path) -> Iterator[Config]:
    """A private localaws's settings in the environment, not started: the chain starts it,
    as `make demo` does. Stopped, and the environment restored, when the block ends."""
    config = Config(state_dir=state_dir, port=free_port())
    saved = dict(os.environ)
    os.environ.update(LOCALAWS_STATE_DIR=str(state_dir), LOCALAWS_PORT=str(config.port))
    try:
        yield config
    finally:
        stop(config)
        os.environ.clear()
        os.environ.update(saved)


def main() -> dict:
    from helpers.pipeline.definition_cache import CACHE_ENV

    results: dict = {"tenant": TENANT}
    saved = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
        os.environ[CACHE_ENV] = str(Path(tmp) / "definition-cache")
        try:
            started = time.perf_counter()
            # what `make install` runs, in a process of its own (the SDK stays out of this one)
            subprocess.run([sys.executable, "-m", "helpers.pipeline.prebuild"], check=True)
            results["install_prebuild_s"] = round(time.perf_counter() - started, 2)
            with not_started(Path(tmp) / "state"):
                results["first"] = timed_chain(Path(tmp) / "first")
                results["again"] = timed_chain(Path(tmp) / "again")
            with not_started(Path(tmp) / "state-lazy"):
                os.environ[WARM_AT_START_ENV] = "0"  # restored by not_started
                results["first_lazy_worker"] = timed_chain(Path(tmp) / "first-lazy")
            os.environ[CACHE_ENV] = str(Path(tmp) / "empty-cache")
            started = time.perf_counter()
            with running():
                results["localaws_start_s"] = round(time.perf_counter() - started, 2)
                results["cold"] = timed_chain(Path(tmp) / "cold")
        finally:
            if saved is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = saved
    results["targets"] = {"chain_s": TARGET_S}
    publish("chain", results, _print_table)
    return results


def _print_table(results: dict) -> None:
    rows = [
        (
            "install step: build the definition into the cache",
            f"{results['install_prebuild_s']:.2f} s",
            "",
        ),
        ("localaws start (alone)", f"{results['localaws_start_s']:.2f} s", ""),
    ]
    for run, label in RUNS:
        if run not in results:
            continue
        r = results[run]
        rows.append((f"chain 00 -> 03, {label}", f"{r['chain_s']:.2f} s", f"<= {TARGET_S:.0f} s"))
        for name, n in r["notebooks"].items():
            rows.append(
                (
                    f"  {name}: wall (cells); slowest: {n['slowest_cell']}",
                    f"{n['wall_s']:.2f} s ({n['cells_s']:.2f} s); {n['slowest_cell_s']:.2f} s",
                    "",
                )
            )
    print_table(rows, ("measure", "result", "target"), align="<><")


if __name__ == "__main__":
    main()
