"""One place that hands out AWS clients for either backend.

`backend="local"` starts localaws if needed and points the standard `AWS_ENDPOINT_URL`
mechanism at it; `backend="aws"` uses the ambient credentials. Everything else is the same code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property

import boto3
from botocore.config import Config as BotoConfig

BACKENDS = ("local", "aws")
_LOCAL_ENV_KEYS = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)


@dataclass
class AwsSession:
    """boto3 clients and a SageMaker SDK session for one backend and region."""

    backend: str
    region: str
    boto_session: boto3.Session
    _clients: dict = field(default_factory=dict, repr=False)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self.boto_session.client(
                service, config=BotoConfig(retries={"max_attempts": 5, "mode": "standard"})
            )
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    @property
    def endpoint_url(self) -> str | None:
        return os.environ.get("AWS_ENDPOINT_URL") if self.backend == "local" else None


def connect(backend: str = "local", region: str = "us-east-1") -> AwsSession:
    """Return a session for `backend`; for "local", start localaws first if it is not running."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "local":
        from localaws.cli import env_vars, start
        from localaws.core.config import Config

        config = Config.from_env()
        start(config)
        # Set process-wide so the SageMaker SDK and child processes use the same endpoint.
        os.environ.update(env_vars(config))
        os.environ.pop("AWS_SESSION_TOKEN", None)
    else:
        from localaws.core.config import Config

        if os.environ.get("AWS_ENDPOINT_URL") == Config.from_env().endpoint_url:
            for key in _LOCAL_ENV_KEYS:
                os.environ.pop(key, None)
    os.environ["AWS_DEFAULT_REGION"] = region
    boto_session = boto3.Session(region_name=region)
    return AwsSession(backend=backend, region=region, boto_session=boto_session)
