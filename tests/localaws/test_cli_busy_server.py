"""A busy localaws (its health probe answering late) is still this state directory's server."""

from __future__ import annotations

import json
import os
import urllib.request

import pytest

from localaws import cli
from localaws.core.config import Config
from localaws.ephemeral import free_port


@pytest.fixture
def slow_health(monkeypatch):
    """Every health probe times out, as under heavy write load; other requests pass."""
    real = urllib.request.urlopen

    def urlopen(url, *args, timeout=None, **kwargs):
        if str(url).endswith(cli.HEALTH_PATH):
            raise TimeoutError("timed out")  # what urlopen raises after `timeout` seconds
        return real(url, *args, timeout=timeout, **kwargs)

    monkeypatch.setattr(cli.urllib.request, "urlopen", urlopen)


def test_status_and_start_recognise_their_own_busy_server(localaws, slow_health):
    assert not cli.is_up(localaws)  # the probe really fails
    running, text = cli.status(localaws)
    assert running, text
    assert "running at" in text and "busy" in text
    info = cli.start(localaws)  # neither "not running" nor "in use by another program"
    assert info["pid"] == json.loads(localaws.pid_file.read_text())["pid"]
    assert info["state_dir"] == str(localaws.state_dir)


def test_a_live_pid_that_does_not_hold_the_lock_is_not_a_server(tmp_path, slow_health):
    config = Config(state_dir=tmp_path, port=free_port())
    # A recycled pid (this test's own process) in a stale server.json: not a localaws server.
    config.pid_file.write_text(json.dumps({"pid": os.getpid(), "port": config.port}))
    assert cli.own_server(config) is None
    running, text = cli.status(config)
    assert not running and "not running" in text
