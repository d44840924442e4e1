"""`pipeline.upsert` reuses a locally cached build of an unchanged definition: on fresh state
(no pipeline, no code objects) it publishes the cached definition with boto3 alone; a
corrupt, partial or stale entry is rebuilt with the SDK and replaced."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers import pipeline
from helpers.pipeline import definition_cache, fingerprint, publish
from helpers.pipeline.build import DESCRIPTION, STEPS_DIR
from helpers.session import connect

ROLE = "arn:aws:iam::123456789012:role/mt-definition-cache-test"
# An entry as a build leaves it, small: a definition naming a script and a folder of two.
SMALL = definition_cache.Entry(
    "code-bucket",
    json.dumps(
        {
            "Steps": [
                {"Code": "s3://code-bucket/code/abc/run.py", "Lib": "s3://code-bucket/code/lib"}
            ]
        }
    ),
    {
        "code/abc/run.py": b"print('run')\n",
        "code/lib/a.py": b"A = 1\n",
        "code/lib/b.py": b"B = 2\n",
    },
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """This module's cache root; MT_PIPELINE_CACHE_DIR points at it while the module runs."""
    root = tmp_path_factory.mktemp("definition-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(definition_cache.CACHE_ENV, str(root))
        yield root


@pytest.fixture(scope="module")
def session(localaws, cache):
    return connect("local")


def digest_of(session) -> str:
    bucket = pipeline.code_bucket(session.account_id, session.region)
    hp = pipeline.check_hyperparameters(dict(pipeline.DEFAULT_HYPERPARAMETERS))
    options = {"bucket": bucket, "region": session.region, "role": ROLE, "hp": hp}
    return fingerprint.inputs_digest(STEPS_DIR, {**options, "description": DESCRIPTION})


def forget_everything(session) -> None:
    """Fresh state on the service side: no pipeline, an empty code bucket."""
    sm, s3 = session.client("sagemaker"), session.client("s3")
    sm.delete_pipeline(PipelineName=pipeline.PIPELINE_NAME)
    bucket = pipeline.code_bucket(session.account_id, session.region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])


def no_build(*args, **kwargs):
    raise AssertionError("the SDK built the definition: the cache was not used")


@pytest.fixture(scope="module")
def built(session, cache) -> definition_cache.Entry:
    """The first upsert (an SDK build) and the entry it left in the cache."""
    pipeline.upsert(session, role_arn=ROLE)
    entry = definition_cache.load(digest_of(session))
    assert entry is not None
    return entry


@pytest.mark.slow  # one SDK build for the module
def test_build_is_cached_with_the_code_objects_it_names(session, built, cache):
    described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)
    assert json.loads(described["PipelineDefinition"]) == json.loads(built.definition)
    s3 = session.client("s3")
    for prefix in fingerprint.named_prefixes(built.definition, built.bucket):
        keys = [k for k in built.objects if k.startswith(prefix)]
        assert keys, f"nothing cached under {prefix}"
        for key in keys:
            assert s3.get_object(Bucket=built.bucket, Key=key)["Body"].read() == built.objects[key]
    assert not list(cache.glob(".tmp-*"))  # no scratch folder left behind


@pytest.mark.slow
def test_fresh_state_hit_publishes_without_building(session, built, monkeypatch):
    forget_everything(session)
    monkeypatch.setattr(publish, "build_pipeline", no_build)
    arn = pipeline.upsert(session, role_arn=ROLE)
    described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)
    assert described["PipelineArn"] == arn
    assert described["PipelineDefinition"] == built.definition
    assert described["RoleArn"] == ROLE
    assert described["PipelineDescription"] == DESCRIPTION
    s3 = session.client("s3")
    for key, body in built.objects.items():
        assert s3.get_object(Bucket=built.bucket, Key=key)["Body"].read() == body
    # ... and tagged, so the next upsert does not even publish
    assert (
        fingerprint.current_arn(
            session, pipeline.PIPELINE_NAME, digest_of(session), ROLE, built.bucket
        )
        == arn
    )


@pytest.mark.slow
def test_hit_updates_an_existing_pipeline_and_puts_back_one_missing_object(
    session, built, monkeypatch
):
    sm, s3 = session.client("sagemaker"), session.client("s3")
    sm.update_pipeline(
        PipelineName=pipeline.PIPELINE_NAME,
        PipelineDefinition=built.definition.replace('"DefaultValue": 5', '"DefaultValue": 3'),
        RoleArn=ROLE,
    )
    script = next(k for k in built.objects if k.endswith("/preprocess.py"))
    s3.delete_object(Bucket=built.bucket, Key=script)
    monkeypatch.setattr(publish, "build_pipeline", no_build)
    pipeline.upsert(session, role_arn=ROLE)
    described = sm.describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)
    assert described["PipelineDefinition"] == built.definition
    assert s3.get_object(Bucket=built.bucket, Key=script)["Body"].read() == built.objects[script]


def corrupt_body(folder: Path) -> None:
    body = next((folder / "objects").iterdir())
    body.write_bytes(body.read_bytes() + b"# changed\n")


def drop_object(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    sha = manifest["objects"].pop("code/abc/run.py")  # the script the definition names
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "objects" / sha).unlink()


def truncate_manifest(folder: Path) -> None:
    text = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(text[: len(text) // 2])


def other_format(folder: Path) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["format"] = definition_cache.FORMAT + 1
    (folder / "manifest.json").write_text(json.dumps(manifest))


def unnamed_objects(folder: Path) -> None:
    """Objects that are not the ones the definition names (a stale entry)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["objects"] = {
        f"elsewhere/{i}": sha for i, sha in enumerate(manifest["objects"].values())
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "damage", [corrupt_body, drop_object, truncate_manifest, other_format, unnamed_objects]
)
def test_damaged_entry_is_a_miss(tmp_path, damage):
    digest = "d" * 64
    root = tmp_path / "cache"
    assert definition_cache.store(digest, SMALL, root) == root / digest
    assert definition_cache.load(digest, root) == SMALL
    damage(root / digest)
    assert definition_cache.load(digest, root) is None


@pytest.mark.slow  # a second SDK build
def test_damaged_entry_is_rebuilt_and_replaced(session, built, cache, monkeypatch):
    digest = digest_of(session)
    corrupt_body(cache / digest)
    forget_everything(session)
    builds = []
    real_build = publish.build_pipeline
    monkeypatch.setattr(
        publish, "build_pipeline", lambda *a, **k: builds.append(1) or real_build(*a, **k)
    )
    pipeline.upsert(session, role_arn=ROLE)
    assert builds == [1]
    replaced = definition_cache.load(digest)
    assert replaced is not None
    described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)
    assert described["PipelineDefinition"] == replaced.definition


def test_interrupted_store_leaves_no_entry(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    writes = []
    real_write = Path.write_bytes

    def failing_write(self, data):
        if writes:
            raise OSError(28, "No space left on device")
        writes.append(self)
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing_write)
    assert definition_cache.store("e" * 64, SMALL, root) is None
    monkeypatch.undo()
    assert definition_cache.load("e" * 64, root) is None
    assert list(root.iterdir()) == []  # neither an entry nor a scratch folder


def test_cache_dir_is_outside_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv(definition_cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert (
        definition_cache.cache_dir() == tmp_path / "multitenant-sagemaker" / "pipeline-definitions"
    )
    monkeypatch.setenv(definition_cache.CACHE_ENV, str(tmp_path / "mine"))
    assert definition_cache.cache_dir() == tmp_path / "mine"


def test_only_the_most_recently_used_entries_are_kept(tmp_path):
    root = tmp_path / "cache"
    digests = [f"{i:064x}" for i in range(definition_cache.MAX_ENTRIES + 2)]
    full = digests[: definition_cache.MAX_ENTRIES]
    for age, digest in enumerate(full):
        definition_cache.store(digest, SMALL, root)
        stamp = 1_000_000 + age  # stored in this order, one second apart
        os.utime(root / digest / definition_cache.MANIFEST, (stamp, stamp))
    # the oldest entry is used again: it stays; two more come, the next two oldest go
    assert definition_cache.load(digests[0], root) == SMALL
    for digest in digests[definition_cache.MAX_ENTRIES :]:
        definition_cache.store(digest, SMALL, root)
    kept = {p.name for p in root.iterdir()}
    assert kept == set(digests) - {digests[1], digests[2]}
