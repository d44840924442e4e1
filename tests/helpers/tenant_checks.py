"""What the tenant tests share: fresh tenant ids, the leftover check, a registered version,
the next second on the clock, a localaws whose endpoints take time to change state."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers import tenants
from helpers.naming import model_package_group
from localaws.core.config import Config
from localaws.ephemeral import running

ENDPOINT_DELAY = "LOCALAWS_ENDPOINT_DELAY_S"

CONTAINER = {
    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ModelDataUrl": "s3://nowhere/model.tar.gz",
}


def new_id(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def nothing_left(session, tenant: str) -> bool:
    return not any(tenants.tenant_leftovers(session, tenant).values())


def add_version(session, tenant: str) -> str:
    """Register a (pending) model version in the tenant's group; its ARN."""
    return session.client("sagemaker").create_model_package(
        ModelPackageGroupName=model_package_group(tenant),
        InferenceSpecification={
            "Containers": [CONTAINER],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]


def after_second(moment: float) -> None:
    """Sleep until the clock has left `moment`'s second (deployment names carry the second):
    nothing if it already has."""
    time.sleep(max(0.0, math.floor(moment) + 1 - time.time()))


@contextmanager
def slow_endpoints(state_dir: Path, seconds: float = 1) -> Iterator[Config]:
    """A private localaws whose endpoints stay Creating / Updating / Deleting for `seconds`
    (on AWS: minutes), so code that does not wait for AWS's asynchronous states fails here."""
    os.environ[ENDPOINT_DELAY] = str(seconds)
    try:
        with running(state_dir) as config:
            yield config
    finally:
        os.environ.pop(ENDPOINT_DELAY, None)
