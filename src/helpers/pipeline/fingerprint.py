"""Skip rebuilding an unchanged pipeline definition: a content hash of what makes it.

Building the definition imports the SageMaker SDK and uploads the job code (seconds); most
upserts change nothing. `inputs_digest` hashes every input of the build (the job code under
`pipeline_steps/`, the modules that build the definition, the SDK's versions, and the
options: bucket, region, role, hyperparameters, description). `upsert` stores it as a tag of
the pipeline together with the hash of the definition the service then holds
(`remember`); `current_arn` answers the pipeline's ARN without building when both tags still
match, the definition was not changed since by anyone else, and every code object the
definition points at is still in S3. Anything else (no pipeline, no or other tags, a missing
code object) means: build and upsert. The same calls on AWS and on localaws.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from helpers.session import AwsSession

# Tag keys allow letters, digits, spaces and _.:/=+-@ (the "aws:" prefix is reserved).
INPUTS_TAG = "mt:definition-inputs-sha256"
DEFINITION_TAG = "mt:definition-sha256"
SDK_DISTRIBUTIONS = ("sagemaker", "sagemaker-core", "sagemaker-train", "sagemaker-mlops")
DENIED = ("AccessDenied", "AccessDeniedException")
_BUILDERS = ("build.py", "sdk_workarounds.py", "fingerprint.py")


def _code_files(steps_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in steps_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def inputs_digest(steps_dir: Path, options: dict[str, Any]) -> str:
    """sha256 of everything the definition is built from; `options` must be JSON-able."""
    digest = hashlib.sha256()

    def add(label: str, body: bytes) -> None:
        digest.update(f"{label}\0{len(body)}\0".encode())
        digest.update(body)

    for path in _code_files(steps_dir):
        add(f"code/{path.relative_to(steps_dir).as_posix()}", path.read_bytes())
    here = Path(__file__).resolve().parent
    for name in _BUILDERS:
        add(f"builder/{name}", (here / name).read_bytes())
    for name in SDK_DISTRIBUTIONS:
        try:
            add(f"sdk/{name}", metadata.version(name).encode())
        except metadata.PackageNotFoundError:
            add(f"sdk/{name}", b"")
    add("options", json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def definition_digest(definition: str) -> str:
    return hashlib.sha256(definition.encode()).hexdigest()


def named_prefixes(definition: str, bucket: str) -> list[str]:
    """The keys (objects or prefixes) of every s3://`bucket`/... URI the definition names."""
    return sorted(set(re.findall(rf"s3://{re.escape(bucket)}/([^\"\s]+)", definition)))


def _code_objects_present(session: AwsSession, definition: str, bucket: str) -> bool:
    """Whether every s3://`bucket`/... object or prefix the definition names still exists."""
    s3 = session.client("s3")
    for key in named_prefixes(definition, bucket):
        if not s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount"):
            return False
    return True


def current_arn(
    session: AwsSession, name: str, digest: str, role_arn: str, bucket: str
) -> str | None:
    """The pipeline's ARN if its definition was built from `digest` and is intact, else None."""
    sm = session.client("sagemaker")
    try:
        described = sm.describe_pipeline(PipelineName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ResourceNotFound", "ValidationException"):
            return None
        raise
    arn = str(described["PipelineArn"])
    definition = described.get("PipelineDefinition", "")
    try:
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn).get("Tags", [])}
        if (
            tags.get(INPUTS_TAG) == digest
            and tags.get(DEFINITION_TAG) == definition_digest(definition)
            and described.get("RoleArn") == role_arn
            and _code_objects_present(session, definition, bucket)
        ):
            return arn
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in DENIED:
            raise
    return None  # not proved unchanged (or not allowed to look): build and upsert


def remember(session: AwsSession, name: str, arn: str, digest: str) -> None:
    """Tag the pipeline with `digest` and the hash of the definition the service now holds."""
    sm = session.client("sagemaker")
    definition = sm.describe_pipeline(PipelineName=name).get("PipelineDefinition", "")
    try:
        sm.add_tags(
            ResourceArn=arn,
            Tags=[
                {"Key": INPUTS_TAG, "Value": digest},
                {"Key": DEFINITION_TAG, "Value": definition_digest(definition)},
            ],
        )
    except ClientError as exc:  # without sagemaker:AddTags every upsert rebuilds, as before
        if exc.response["Error"]["Code"] not in DENIED:
            raise
