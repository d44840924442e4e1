"""The `localaws` command: start/stop/status/env/reset and its answers to bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from localaws.ephemeral import free_port
from localaws.persistence.journal import CHECKPOINT_SECONDS

# each test starts and stops private servers
pytestmark = pytest.mark.slow


def run(state_dir: Path, port: int, *args: str, stdin=subprocess.DEVNULL):
    env = {**os.environ, "LOCALAWS_STATE_DIR": str(state_dir), "LOCALAWS_PORT": str(port)}
    return subprocess.run(
        [sys.executable, "-m", "localaws", *args],
        env=env,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(folder: Path) -> dict[str, str]:
    """Content hash of every stored file (logs and the lock excluded)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in ("server.log", "server.lock", "server.json")
    }


def settled_snapshot(folder: Path) -> dict[str, str]:
    """`snapshot` once a running server's background checkpoint has written its journal
    (two snapshots a checkpoint period apart agree), so that later changes are someone else's."""
    last = snapshot(folder)
    for _ in range(10):
        time.sleep(CHECKPOINT_SECONDS + 0.5)
        now = snapshot(folder)
        if now == last:
            return now
        last = now
    raise AssertionError(f"{folder} kept changing while its server was idle")


@pytest.fixture
def cli(tmp_path):
    """run(*args) against a fresh state dir and free port; stops the server afterwards."""
    state_dir, port = tmp_path / "state", free_port()

    def call(*args: str, **kw):
        return run(state_dir, port, *args, **kw)

    call.state_dir, call.port = state_dir, port
    yield call
    run(state_dir, port, "stop")


def test_start_status_env_stop(cli):
    first = cli("start")
    assert first.returncode == 0, first.stderr
    assert f"http://127.0.0.1:{cli.port}" in first.stdout
    pid = json.loads((cli.state_dir / "server.json").read_text())["pid"]
    again = cli("start")
    assert again.returncode == 0 and f"pid {pid}" in again.stdout  # idempotent: same server

    status = cli("status")
    assert status.returncode == 0
    assert "running at" in status.stdout and f"pid {pid}" in status.stdout
    assert "since " in status.stdout and str(cli.state_dir) in status.stdout

    env = cli("env")
    assert env.returncode == 0
    exports = dict(line.removeprefix("export ").split("=", 1) for line in env.stdout.splitlines())
    assert set(exports) == {
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE",
    }
    assert exports["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{cli.port}"
    assert exports["AWS_ACCESS_KEY_ID"].startswith("AKIA")
    sdk_defaults = Path(shlex.split(exports["SAGEMAKER_ADMIN_CONFIG_OVERRIDE"])[0]).read_text()
    assert "TelemetryOptOut: true" in sdk_defaults and "DefaultS3Bucket" in sdk_defaults

    stopped = cli("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = cli("status")
    assert status.returncode == 3 and "not running" in status.stdout
    assert "was not running" in cli("stop").stdout


def test_unknown_subcommand(cli):
    result = cli("launch")
    assert result.returncode == 2
    assert "invalid choice: 'launch'" in result.stderr
    assert not cli.state_dir.exists()


def test_port_used_by_another_program(cli):
    with socket.socket() as other:
        other.bind(("127.0.0.1", cli.port))
        other.listen()
        result = cli("start")
    assert result.returncode == 1
    assert f"port {cli.port}" in result.stderr and "in use" in result.stderr
    assert not cli.state_dir.exists()


def test_second_server_on_same_state_dir(cli):
    assert cli("start").returncode == 0
    s3_bucket = cli.state_dir / "data"
    before = settled_snapshot(cli.state_dir)
    other_port = free_port()
    result = run(cli.state_dir, other_port, "start")
    assert result.returncode == 1
    assert "another localaws server" in result.stderr and str(cli.state_dir) in result.stderr
    assert snapshot(cli.state_dir) == before and s3_bucket.is_dir()
    assert cli("status").returncode == 0  # the first one still serves


def test_state_dir_is_a_file(cli):
    cli.state_dir.write_text("not a folder")
    result = cli("start")
    assert result.returncode == 1 and "is not a directory" in result.stderr
    assert cli.state_dir.read_text() == "not a folder"


def test_state_dir_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run(blocker / "state", free_port(), "start")
    assert result.returncode == 1 and "not writable" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_state_dir_read_only(cli):
    cli.state_dir.mkdir()
    cli.state_dir.chmod(0o500)
    try:
        result = cli("start")
        assert result.returncode == 1 and "not writable" in result.stderr
    finally:
        cli.state_dir.chmod(0o700)


def test_corrupt_state_is_refused_and_left_alone(cli):
    assert cli("start").returncode == 0
    assert cli("stop").returncode == 0
    victim = next((cli.state_dir / "data" / "iam").rglob("aws.pkl"))
    victim.write_bytes(b"garbage, not a pickle")
    before = snapshot(cli.state_dir)
    result = cli("start")
    assert result.returncode == 1
    assert "cannot read state file" in result.stderr and str(victim) in result.stderr
    assert snapshot(cli.state_dir) == before
    assert cli("status").returncode == 3


def test_state_from_another_format_is_refused(cli):
    assert cli("start").returncode == 0
    assert cli("stop").returncode == 0
    (cli.state_dir / "data" / "FORMAT").write_text("localaws-state 0\n")
    result = cli("start")
    assert result.returncode == 1 and "another localaws/moto version" in result.stderr


def test_reset_says_what_it_deletes_then_deletes(cli):
    assert cli("start").returncode == 0
    result = cli("reset")  # stdin is not a terminal: no question asked
    assert result.returncode == 0, result.stderr
    assert f"This deletes {cli.state_dir}" in result.stdout
    assert f"deleted {cli.state_dir}" in result.stdout
    assert not cli.state_dir.exists()
    assert cli("status").returncode == 3
    assert "nothing to delete" in cli("reset").stdout


def test_env_before_first_start(cli):
    result = cli("env")
    assert result.returncode == 1 and "localaws start" in result.stderr
