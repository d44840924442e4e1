"""One place that hands out AWS clients for either backend.

`connect("local")` starts localaws if needed and points the standard `AWS_ENDPOINT_URL`
mechanism at it; `connect("aws")` uses the ambient credentials. Everything else is the same code.
boto3 is imported on first use: `make demo` starts localaws (`start_local`) before it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

    from localaws.core.config import Config

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
    """boto3 clients and a SageMaker SDK session for one backend and region.

    `environment` is what `connect` changed in `os.environ` for this session: variable ->
    new value, or None where it removed the variable.
    """

    backend: str
    region: str
    boto_session: boto3.Session
    environment: dict[str, str | None] = field(default_factory=dict)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        """A cached boto3 client of `service` (standard retry mode, 5 attempts). On localaws no
        host prefix is put before the endpoint's host (StartSyncExecution's `sync-`)."""
        if service not in self._clients:
            from botocore.config import Config as BotoConfig

            self._clients[service] = self.boto_session.client(
                service,
                config=BotoConfig(
                    retries={"max_attempts": 5, "mode": "standard"},
                    inject_host_prefix=self.backend != "local",
                ),
            )
        return self._clients[service]

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])

    @property
    def endpoint_url(self) -> str | None:
        return os.environ.get("AWS_ENDPOINT_URL") if self.backend == "local" else None


def _apply(changes: dict[str, str | None]) -> None:
    for key, value in changes.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def start_local() -> Config:
    """Start localaws (LOCALAWS_* settings) if it is not running, as `connect("local")` does,
    without changing the environment; return its config."""
    from localaws.cli import start
    from localaws.core.config import Config

    config = Config.from_env()
    start(config)
    return config


def connect(backend: str = "local", region: str = "us-east-1") -> AwsSession:
    """Return a session for `backend`; for "local", start localaws first if it is not running.

    It changes this process's environment, because the SageMaker SDK and child processes
    (jobs, papermill kernels) read their endpoint, credentials and region from it; the
    changes are listed on the returned `session.environment`:

    - "local": sets AWS_ENDPOINT_URL, the localaws credentials and region (`localaws env`)
      and removes AWS_SESSION_TOKEN (a real token must not reach localaws);
    - "aws": only if AWS_ENDPOINT_URL still points at localaws (an earlier "local" connect in
      this process), removes the variables that connect set; your own AWS_* are kept;
    - both: sets AWS_DEFAULT_REGION to `region`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    import boto3

    from localaws.core.config import Config

    changes: dict[str, str | None] = {}
    if backend == "local":
        from localaws.cli import env_vars

        changes.update(env_vars(start_local()))
        changes["AWS_SESSION_TOKEN"] = None
    elif os.environ.get("AWS_ENDPOINT_URL") == Config.from_env().endpoint_url:
        changes.update({key: None for key in _LOCAL_ENV_KEYS if key in os.environ})
    changes["AWS_DEFAULT_REGION"] = region
    _apply(changes)
    return AwsSession(
        backend=backend,
        region=region,
        boto_session=boto3.Session(region_name=region),
        environment=changes,
    )
