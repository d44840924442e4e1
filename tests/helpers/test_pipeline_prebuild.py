"""`make install`'s prebuild fills the definition cache so that the first demo after install,
on fresh localaws state, publishes the pipeline without the SDK; it never touches the state
of the localaws the demo uses."""

from __future__ import annotations

import json

import pytest

from helpers import pipeline
from helpers.pipeline import definition_cache, prebuild, publish
from helpers.session import connect
from helpers.stack import deploy_stack
from localaws.cli import own_server
from localaws.ephemeral import running

pytestmark = pytest.mark.slow  # an SDK build and two servers


def no_build(*args, **kwargs):
    raise AssertionError("the SDK built the definition: the prebuilt entry was not used")


def test_first_demo_after_prebuild_publishes_the_cached_build(tmp_path, monkeypatch):
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(tmp_path / "cache"))
    with running(tmp_path / "demo-state") as config:
        # the user's localaws is up (not required): prebuild uses a server of its own
        server = own_server(config)
        prebuilt_arn = prebuild.prebuild()
        assert own_server(config) == server
        session = connect("local")
        sm = session.client("sagemaker")
        assert not sm.list_pipelines()["PipelineSummaries"]  # nothing leaked into this state
        entries = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
        assert len(entries) == 1

        # what notebooks 00 and 02 do with their defaults, on fresh state
        deploy_stack(session)
        monkeypatch.setattr(publish, "build_pipeline", no_build)
        arn = pipeline.upsert(session)
        assert arn == prebuilt_arn  # same account, region, name
        entry = definition_cache.load(entries[0].name)
        assert entry is not None
        described = sm.describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)
        assert json.loads(described["PipelineDefinition"]) == json.loads(entry.definition)
        s3 = session.client("s3")
        for key, body in entry.objects.items():
            assert s3.get_object(Bucket=entry.bucket, Key=key)["Body"].read() == body
