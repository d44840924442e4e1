"""SageMaker's container contract on this machine: `/opt/ml` mapped into a job directory.

A job's directory stands in for the container's `/opt/ml`: every `/opt/ml/...` path in the
request (entry point, arguments, local paths, environment) is rewritten into it. Here too:
the base environment every job gets (AWS_* with the role's credentials and this server's URL),
how an entry point becomes a worker spec, and the errors that fail a job as the client's.
"""

from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

from localaws.compute import s3io

OPT_ML = "/opt/ml"
PYTHONS = re.compile(r"^python(3(\.\d+)?)?$")


class JobError(RuntimeError):
    """The job cannot run as requested; str() is its FailureReason."""


_OPT_ML = re.compile(r"(?<![\w.\-/])/opt/ml(?![\w.\-])")


def rewrite(value: Any, base: str) -> Any:
    """Map container paths (/opt/ml/..., also inside "--dir=/opt/ml/x") into the job directory."""
    if isinstance(value, str):
        return _OPT_ML.sub(lambda _: base, value)
    if isinstance(value, list):
        return [rewrite(v, base) for v in value]
    if isinstance(value, dict):
        return {k: rewrite(v, base) for k, v in value.items()}
    return value


def base_env(
    job: Any, credentials: dict[str, str], region: str, extra: dict | None
) -> dict[str, str]:
    """The environment of every job: a minimal PATH/locale, AWS_* for this server, `extra`."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env.update(
        {
            "AWS_ENDPOINT_URL": s3io.server_url(),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if credentials.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env


def command_spec(entry: list[str], args: list[str]) -> dict:
    """A worker spec for ContainerEntrypoint + ContainerArguments (python scripts run warm)."""
    program = os.path.basename(entry[0])
    if PYTHONS.match(program) and len(entry) >= 2 and entry[1].endswith(".py"):
        return {"kind": "script", "path": entry[1], "argv": [*entry[2:], *args]}
    if PYTHONS.match(program) and not args and len(entry) == 1:
        raise JobError("ClientError: ContainerEntrypoint runs python without a script")
    argv = [sys.executable if PYTHONS.match(program) else entry[0], *entry[1:], *args]
    return {"kind": "command", "argv": argv}


def local_path(path: str, base: str) -> str:
    """The job-directory path of a LocalPath, which must lie under /opt/ml."""
    if not (path == OPT_ML or path.startswith(OPT_ML + "/")):
        raise JobError(f"ClientError: LocalPath '{path}' must lie under /opt/ml/")
    return rewrite(path, base)


def one_instance(count: Any) -> None:
    """Refuse more than one instance: every local job runs on one host, `algo-1`."""
    if int(count or 1) != 1:
        raise JobError(
            f"ClientError: InstanceCount {count} is not supported by localaws, which "
            "runs every job on one instance (algo-1); use InstanceCount 1 locally"
        )


def cli_args(hps: dict[str, str]) -> list[str]:
    """Hyperparameters as `--name value` arguments, JSON strings decoded as the toolkit does."""
    args: list[str] = []
    for key, value in hps.items():
        try:
            decoded = json.loads(value)
            value = decoded if isinstance(decoded, str) else json.dumps(decoded)
        except (ValueError, TypeError):
            pass
        args += [f"--{key}", str(value)]
    return args
