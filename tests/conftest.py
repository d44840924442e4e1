"""Shared fixtures: one localaws server per test session (each xdist worker has its own), on a
free port with its own state.

Fixture names, everywhere in tests/:
- `localaws`: the running server's `Config` (session scope);
- `clients`: a factory of boto3 clients, `clients("s3")`, talking to it;
- `session`: a `helpers.session.AwsSession` (defined by the test modules that need one);
- `tenant_id`: a tenant id string; a fixture giving more about a tenant says what in its name.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import server_forks  # tests/ is on sys.path (rootdir-relative conftest import)

from localaws.core.config import Config
from localaws.ephemeral import running


def pytest_configure(config: pytest.Config) -> None:
    # Servers started in this process fork from a warm process (~2 CPU s less per start; see
    # tests/server_forks.py). LOCALAWS_TEST_PLAIN_STARTS=1: plain starts, to compare.
    # An xdist worker starts servers anyway: its fork server imports while it collects.
    if os.environ.get("LOCALAWS_TEST_PLAIN_STARTS") != "1":
        server_forks.install(warm=hasattr(config, "workerinput"))


@pytest.fixture(scope="session")
def localaws(tmp_path_factory) -> Iterator[Config]:
    """A running localaws; LOCALAWS_* and AWS_* point at it for this process and its children."""
    with running(tmp_path_factory.mktemp("localaws-state")) as config:
        yield config


@pytest.fixture
def clients(localaws) -> Callable[..., Any]:
    """A factory of boto3 clients talking to the test localaws: `clients("s3")`."""
    session = boto3.Session(region_name="us-east-1")
    return lambda service, **kw: session.client(service, **kw)
