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
