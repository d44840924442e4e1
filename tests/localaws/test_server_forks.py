"""The test machinery's forked servers (tests/server_forks.py) bring their job zygote with them:
forked warm, single-threaded, the server's own child, gone with the server however it ends;
and none when the server runs its jobs cold (LOCALAWS_WARM_WORKERS=0)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from server_forks import kill9

from localaws.cli import _pid_alive, _zombie
from localaws.ephemeral import running


def children(pid: int) -> list[int]:
    """The processes `pid`'s threads forked (a thread may end while they are read)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:  # the thread ended: it has no children left to list
            continue
    return found


def server_pid(config) -> int:
    return int(json.loads(config.pid_file.read_text())["pid"])


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_alive(pid) or _zombie(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
@pytest.mark.skipif(os.environ.get("LOCALAWS_TEST_PLAIN_STARTS") == "1", reason="plain starts")
def test_a_forked_server_has_a_warm_single_threaded_zygote_that_ends_with_it(tmp_path):
    with running(tmp_path / "state") as config:
        pid = server_pid(config)
        (zygote,) = children(pid)
        assert len(os.listdir(f"/proc/{zygote}/task")) == 1
        maps = Path(f"/proc/{zygote}/maps").read_text()
        assert "xgboost" in maps and "numpy" in maps  # imported before the fork: warm
        kill9(pid)
        assert gone(zygote), "the job zygote outlived its server's kill -9"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_a_server_running_jobs_cold_has_no_zygote(tmp_path, monkeypatch):
    monkeypatch.setenv("LOCALAWS_WARM_WORKERS", "0")
    with running(tmp_path / "state") as config:
        assert children(server_pid(config)) == []
