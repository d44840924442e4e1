"""`pipeline.start_prebuild` (notebook 00) builds the definition into the local cache in a
background process; `upsert` waits for a running builder instead of building again, and a
builder killed halfway leaves no entry and blocks nobody."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from helpers import pipeline, stack
from helpers.pipeline import definition_cache, prebuild, publish
from helpers.session import connect

pytestmark = pytest.mark.slow  # each builder imports the SageMaker SDK (seconds)


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty cache of this test's own."""
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(tmp_path))
    return tmp_path


def digest_of(session) -> str:
    role_arn = stack.stack_outputs(session)["PipelineRoleArn"]
    return publish.build_inputs(session, role_arn, None)[1]


def forget_pipeline(session) -> None:
    """No pipeline on the service (else an unchanged one is kept without a build)."""
    sm = session.client("sagemaker")
    if sm.list_pipelines(PipelineNamePrefix=pipeline.PIPELINE_NAME)["PipelineSummaries"]:
        sm.delete_pipeline(PipelineName=pipeline.PIPELINE_NAME)


def no_build(*args, **kwargs):
    raise AssertionError("upsert built the definition itself")


def exited(pid: int, timeout: float = 120.0) -> bool:
    """Whether the builder (a child of this process: reaped here) ended within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:  # reaped already
            return True
        time.sleep(0.05)
    return False


def test_upsert_right_after_start_waits_for_the_builder_and_does_not_build(
    session, cache, monkeypatch
):
    pid = pipeline.start_prebuild(session)
    assert pid is not None
    assert pipeline.start_prebuild(session) is None  # one builder per definition
    monkeypatch.setattr(publish, "build_entry", no_build)
    forget_pipeline(session)
    arn = pipeline.upsert(session)
    assert definition_cache.load(digest_of(session)) is not None
    assert (
        arn
        == session.client("sagemaker").describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)[
            "PipelineArn"
        ]
    )
    assert exited(pid)
    assert "prebuild: built in" in (cache / prebuild.LOG_FILE).read_text()
    assert pipeline.start_prebuild(session) is None  # cached now: nothing to start


def test_a_builder_killed_halfway_leaves_no_entry_and_upsert_builds(session, cache):
    pid = pipeline.start_prebuild(session)
    assert pid is not None
    time.sleep(1.0)  # into its imports or its build
    os.kill(pid, signal.SIGKILL)
    assert exited(pid, timeout=10)
    digest = digest_of(session)
    assert definition_cache.load(digest) is None
    with prebuild.build_lock(digest, wait_s=0) as taken:
        assert taken  # the kernel released the dead builder's lock
    forget_pipeline(session)
    pipeline.upsert(session)
    assert definition_cache.load(digest) is not None


def test_without_a_writable_cache_nothing_starts_and_upsert_builds(session, tmp_path, monkeypatch):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(blocked / "cache"))
    assert pipeline.start_prebuild(session) is None
    arn = pipeline.upsert(session, rebuild=True)
    sm = session.client("sagemaker")
    assert arn == sm.describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)["PipelineArn"]
