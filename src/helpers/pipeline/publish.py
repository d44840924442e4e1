"""Publish the build pipeline: `upsert` (build and create/update it only when what makes it
changed, see `fingerprint`; reuse a locally cached build, see `definition_cache`) and
`definition` (the JSON, for inspection and tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from helpers.naming import PIPELINE_NAME, code_bucket
from helpers.pipeline import definition_cache, fingerprint
from helpers.pipeline.build import DEFAULT_HYPERPARAMETERS, DESCRIPTION, STEPS_DIR, build_pipeline
from helpers.pipeline.sdk_workarounds import sdk_build_context
from helpers.session import AwsSession
from helpers.storage import ensure_bucket
from pipeline_steps.hyperparameters import check_hyperparameters

# What CreatePipeline answers for a name in use (AWS: ValidationException "... already
# exists"; the SDK's upsert reads it the same way, sagemaker.core.common_utils).
IO_THREADS = 4
ALREADY_EXISTS = (("ValidationException", "ResourceInUse"), ("already exists", "must be unique"))


def upsert(
    session: AwsSession,
    role_arn: str | None = None,
    hyperparameters: dict | None = None,
    rebuild: bool = False,
) -> str:
    """Create or update the pipeline (job code goes to the platform code bucket); return its ARN.

    `role_arn` is the pipeline's own role (default: the stack's PipelineRoleArn output). An
    unchanged definition is not rebuilt nor upserted (helpers.pipeline.fingerprint) unless
    `rebuild`; a definition built before from the same inputs is published from the local
    cache without the SDK (helpers.pipeline.definition_cache) unless `rebuild`; a bad
    hyperparameter raises ValueError naming it either way.
    """
    if role_arn is None:
        from helpers.stack import stack_outputs

        role_arn = stack_outputs(session)["PipelineRoleArn"]
    bucket = code_bucket(session.account_id, session.region)
    hp = check_hyperparameters({**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})})
    options = {"bucket": bucket, "region": session.region, "role": role_arn, "hp": hp}
    digest = fingerprint.inputs_digest(STEPS_DIR, {**options, "description": DESCRIPTION})
    if not rebuild:
        arn = fingerprint.current_arn(session, PIPELINE_NAME, digest, role_arn, bucket)
        if arn is not None:
            return arn
    ensure_bucket(session, bucket)
    entry = None if rebuild else definition_cache.load(digest)
    if entry is None or entry.bucket != bucket:
        entry = _build(session, bucket, hyperparameters)
        definition_cache.store(digest, entry)
    else:
        _put_missing(session, entry)
    arn = _create_or_update(session, entry.definition, role_arn)
    fingerprint.remember(session, PIPELINE_NAME, arn, digest)
    return arn


def _build(
    session: AwsSession, bucket: str, hyperparameters: dict | None
) -> definition_cache.Entry:
    """Build the definition with the SDK (which uploads the job code) and read back the code
    objects it names."""
    with sdk_build_context():
        built = build_pipeline(session.boto_session, bucket, session.region, hyperparameters)
        text = built.definition()
    s3 = session.client("s3")
    keys = list(_listed(session, bucket, fingerprint.named_prefixes(text, bucket)))
    bodies = _each(lambda key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(), keys)
    return definition_cache.Entry(bucket, text, dict(zip(keys, bodies, strict=True)))


def _each(call: Callable[[Any], Any], items: list) -> list:
    """`call` on each item, a few at a time: each waits on a round trip, not on this process."""
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        return list(pool.map(call, items))


def _listed(session: AwsSession, bucket: str, prefixes: list[str]) -> dict[str, int]:
    """Key -> size of every object under `prefixes` in `bucket`."""
    pages = session.client("s3").get_paginator("list_objects_v2")
    return {
        o["Key"]: o["Size"]
        for prefix in prefixes
        for page in pages.paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    }


def _put_missing(session: AwsSession, entry: definition_cache.Entry) -> None:
    """Put the entry's code objects that are not in its bucket (or differ in size)."""
    present = _listed(
        session, entry.bucket, fingerprint.named_prefixes(entry.definition, entry.bucket)
    )
    s3 = session.client("s3")
    missing = [(k, b) for k, b in entry.objects.items() if present.get(k) != len(b)]
    _each(lambda kb: s3.put_object(Bucket=entry.bucket, Key=kb[0], Body=kb[1]), missing)


def _create_or_update(session: AwsSession, definition: str, role_arn: str) -> str:
    """CreatePipeline, or UpdatePipeline if it exists (what the SDK's upsert sends)."""
    sm = session.client("sagemaker")
    request = {
        "PipelineName": PIPELINE_NAME,
        "PipelineDefinition": definition,
        "PipelineDescription": DESCRIPTION,
        "RoleArn": role_arn,
    }
    try:
        return str(sm.create_pipeline(**request)["PipelineArn"])
    except ClientError as exc:
        error = exc.response.get("Error", {})
        codes, messages = ALREADY_EXISTS
        if error.get("Code") not in codes or not any(
            m in error.get("Message", "") for m in messages
        ):
            raise
    return str(sm.update_pipeline(**request)["PipelineArn"])


def definition(
    boto_session: Any, bucket: str, region: str, hyperparameters: dict | None = None
) -> dict:
    """The pipeline definition JSON as a dict (uploads the job code to `bucket`)."""
    with sdk_build_context():
        return dict(
            json.loads(build_pipeline(boto_session, bucket, region, hyperparameters).definition())
        )
