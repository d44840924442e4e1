"""The job worker (zygote) starts with the server when LOCALAWS_WARM_WORKERS_AT_START=1
(`make demo`), and only at the first pipeline or job otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import psutil
import pytest

from localaws.cli import own_server, stop
from localaws.compute.workers import WARM_AT_START_ENV
from localaws.core.config import Config
from localaws.ephemeral import free_port

pytestmark = pytest.mark.slow  # plain server starts (the CLI's), one with a zygote


def zygotes(server_pid: int) -> list[psutil.Process]:
    children = psutil.Process(server_pid).children()
    return [c for c in children if "_zygote_main" in " ".join(c.cmdline())]


@pytest.mark.parametrize("warm", ["1", None])
def test_zygote_starts_with_the_server_only_when_asked(tmp_path, warm):
    config = Config(state_dir=tmp_path / "state", port=free_port())
    env = {**os.environ, "LOCALAWS_STATE_DIR": str(config.state_dir)}
    env["LOCALAWS_PORT"] = str(config.port)
    env.pop(WARM_AT_START_ENV, None)
    if warm:
        env[WARM_AT_START_ENV] = warm
    subprocess.run([sys.executable, "-m", "localaws", "start"], env=env, check=True, timeout=60)
    try:
        info = own_server(config)
        assert info
        found = zygotes(info["pid"])
        if warm:
            assert len(found) == 1  # started before the server answered its first request
        else:
            time.sleep(0.5)
            assert found == []
    finally:
        stop(config)


WARM_CHECK = """
import importlib.metadata, os, sys
from localaws.compute import workers

workers.preload()
pid = os.fork()
if pid == 0:  # a job: no entry point scan left to do for scikit-learn's DataFrame checks
    def scan(*args, **kwargs):
        raise AssertionError("entry points scanned in the job")

    importlib.metadata.entry_points = scan
    import pandas as pd
    from sklearn.preprocessing import OneHotEncoder

    try:
        OneHotEncoder().fit_transform(pd.DataFrame({"State": ["KS", "OH", "KS"]}))
    except AssertionError as exc:
        print(exc)
        os._exit(1)
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_job_forked_from_the_zygote_finds_dataframe_checks_warm():
    """The zygote fills, before it forks, the caches scikit-learn fills at its first DataFrame
    (narwhals reading every installed distribution's entry points), so no job pays for them."""
    run = subprocess.run(
        [sys.executable, "-c", WARM_CHECK],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]
