"""Small S3 chores shared by the helpers: parse an s3:// URI, read a JSON object, ensure a
bucket exists in the session's region."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from helpers.session import AwsSession


def split_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key") of "s3://bucket/key"."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_s3_json(session: AwsSession, uri: str) -> Any:
    """The JSON document stored at `uri`."""
    bucket, key = split_s3_uri(uri)
    return json.loads(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def ensure_bucket(session: AwsSession, bucket: str) -> bool:
    """Create `bucket` in the session's region unless it exists; True if it was created."""
    s3 = session.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError:
        pass
    location = (
        {}
        if session.region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": session.region}}
    )
    s3.create_bucket(Bucket=bucket, **location)
    return True
