"""Shared fixtures: one localaws server per test session, on a free port with its own state."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest

from localaws.cli import env_vars, start, stop
from localaws.config import Config
from localaws.ephemeral import free_port  # also imported from here by other test modules


@pytest.fixture(scope="session")
def localaws(tmp_path_factory) -> Iterator[Config]:
    """A running localaws; LOCALAWS_* and AWS_* point at it for this process and its children."""
    config = Config(state_dir=tmp_path_factory.mktemp("localaws-state"), port=free_port())
    saved = dict(os.environ)
    os.environ["LOCALAWS_STATE_DIR"] = str(config.state_dir)
    os.environ["LOCALAWS_PORT"] = str(config.port)
    start(config)
    os.environ.update(env_vars(config))
    yield config
    stop(config)
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def aws(localaws):
    """A factory of boto3 clients talking to the test localaws."""
    session = boto3.Session(region_name="us-east-1")
    return lambda service, **kw: session.client(service, **kw)
