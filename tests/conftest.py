"""Shared fixtures: one localaws server per test session, on a free port with its own state."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from localaws.core.config import Config
from localaws.ephemeral import running


@pytest.fixture(scope="session")
def localaws(tmp_path_factory) -> Iterator[Config]:
    """A running localaws; LOCALAWS_* and AWS_* point at it for this process and its children."""
    with running(tmp_path_factory.mktemp("localaws-state")) as config:
        yield config


@pytest.fixture
def aws(localaws):
    """A factory of boto3 clients talking to the test localaws."""
    session = boto3.Session(region_name="us-east-1")
    return lambda service, **kw: session.client(service, **kw)
