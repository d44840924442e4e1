"""`pipeline.upsert` rebuilds and upserts the definition only when what makes it changed."""

from __future__ import annotations

import pytest

from helpers import pipeline
from helpers.pipeline import fingerprint
from helpers.session import connect

pytestmark = pytest.mark.slow  # SDK pipeline builds

ROLE = "arn:aws:iam::123456789012:role/mt-pipeline-upsert-test"


@pytest.fixture(scope="module")
def session(localaws):
    return connect("local")


def described(session) -> dict:
    return session.client("sagemaker").describe_pipeline(PipelineName=pipeline.PIPELINE_NAME)


def code_keys(session) -> set[str]:
    bucket = pipeline.code_bucket(session.account_id, session.region)
    pages = session.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def tags(session, arn: str) -> dict[str, str]:
    listed = session.client("sagemaker").list_tags(ResourceArn=arn)["Tags"]
    return {t["Key"]: t["Value"] for t in listed}


@pytest.fixture(scope="module")
def first(session) -> tuple[str, dict, set[str]]:
    """The pipeline upserted once: (ARN, DescribePipeline, the code bucket's keys)."""
    arn = pipeline.upsert(session, role_arn=ROLE)
    return arn, described(session), code_keys(session)


def test_unchanged_definition_is_not_rebuilt_nor_upserted(session, first):
    arn, before, keys = first
    assert pipeline.upsert(session, role_arn=ROLE) == arn
    after = described(session)
    assert after["LastModifiedTime"] == before["LastModifiedTime"]
    assert after["PipelineDefinition"] == before["PipelineDefinition"]
    assert code_keys(session) == keys  # no job code uploaded again
    assert set(tags(session, arn)) >= {fingerprint.INPUTS_TAG, fingerprint.DEFINITION_TAG}


def test_changed_hyperparameters_are_upserted(session, first):
    arn, before, _ = first
    assert pipeline.upsert(session, role_arn=ROLE, hyperparameters={"max_depth": 7}) == arn
    after = described(session)
    assert after["PipelineDefinition"] != before["PipelineDefinition"]
    assert '"DefaultValue": 7' in after["PipelineDefinition"]
    # back to the defaults: changed again, so upserted again
    pipeline.upsert(session, role_arn=ROLE)
    assert '"DefaultValue": 5' in described(session)["PipelineDefinition"]


@pytest.mark.slow  # two builds of the definition
def test_definition_changed_by_someone_else_is_rebuilt(session, first):
    arn, _, _ = first
    pipeline.upsert(session, role_arn=ROLE)
    definition = described(session)["PipelineDefinition"]
    session.client("sagemaker").update_pipeline(
        PipelineName=pipeline.PIPELINE_NAME,
        PipelineDefinition=definition.replace('"DefaultValue": 5', '"DefaultValue": 3'),
        RoleArn=ROLE,
    )
    pipeline.upsert(session, role_arn=ROLE)
    rebuilt = described(session)["PipelineDefinition"]
    assert '"DefaultValue": 3' not in rebuilt and '"DefaultValue": 5' in rebuilt


@pytest.mark.slow  # two builds of the definition
def test_missing_code_object_is_rebuilt(session, first):
    pipeline.upsert(session, role_arn=ROLE)
    bucket = pipeline.code_bucket(session.account_id, session.region)
    definition = described(session)["PipelineDefinition"]
    script = next(k for k in code_keys(session) if k.endswith("/preprocess.py") and k in definition)
    session.client("s3").delete_object(Bucket=bucket, Key=script)
    pipeline.upsert(session, role_arn=ROLE)
    assert script in code_keys(session)


@pytest.mark.slow  # two builds of the definition
def test_other_role_is_upserted(session, first):
    other = ROLE + "-other"
    pipeline.upsert(session, role_arn=other)
    assert described(session)["RoleArn"] == other
    pipeline.upsert(session, role_arn=ROLE)
    assert described(session)["RoleArn"] == ROLE


def test_bad_hyperparameter_fails_before_any_call(session, first):
    with pytest.raises(ValueError, match="max_depth"):
        pipeline.upsert(session, role_arn=ROLE, hyperparameters={"max_depth": -1})
