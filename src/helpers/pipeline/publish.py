"""Publish the build pipeline: `upsert` (build and create/update it only when what makes it
changed, see `fingerprint`) and `definition` (the JSON, for inspection and tests)."""

from __future__ import annotations

import json
from typing import Any

from helpers.naming import PIPELINE_NAME, code_bucket
from helpers.pipeline import fingerprint
from helpers.pipeline.build import DEFAULT_HYPERPARAMETERS, DESCRIPTION, STEPS_DIR, build_pipeline
from helpers.pipeline.sdk_workarounds import sdk_build_context
from helpers.session import AwsSession
from helpers.storage import ensure_bucket
from pipeline_steps.hyperparameters import check_hyperparameters


def upsert(
    session: AwsSession,
    role_arn: str | None = None,
    hyperparameters: dict | None = None,
    rebuild: bool = False,
) -> str:
    """Create or update the pipeline (job code goes to the platform code bucket); return its ARN.

    `role_arn` is the pipeline's own role (default: the stack's PipelineRoleArn output). An
    unchanged definition is not rebuilt nor upserted (helpers.pipeline.fingerprint) unless
    `rebuild`; a bad hyperparameter raises ValueError naming it either way.
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
    with sdk_build_context():
        pipeline = build_pipeline(session.boto_session, bucket, session.region, hyperparameters)
        response = pipeline.upsert(role_arn=role_arn, description=DESCRIPTION)
    arn = str(response["PipelineArn"])
    fingerprint.remember(session, PIPELINE_NAME, arn, digest)
    return arn


def definition(
    boto_session: Any, bucket: str, region: str, hyperparameters: dict | None = None
) -> dict:
    """The pipeline definition JSON as a dict (uploads the job code to `bucket`)."""
    with sdk_build_context():
        return dict(
            json.loads(build_pipeline(boto_session, bucket, region, hyperparameters).definition())
        )
