"""Shared set-up for localaws tests: a tenant-like bucket and role, waiting for jobs, and a
server of a test's own for restart and kill -9 tests."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def trust_policy(service: str) -> dict:
    """A role trust policy that lets `service` (e.g. "states.amazonaws.com") assume the role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


TRUST = trust_policy("sagemaker.amazonaws.com")
TRUST_STATES = trust_policy("states.amazonaws.com")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_role(iam: Any, statements: list[dict] | tuple = (), name: str | None = None) -> str:
    """A role Step Functions may assume (named `name`, else a unique one), whose inline policy
    holds `statements` if any; its ARN."""
    name = name or unique("sfn-role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_STATES))["Role"][
        "Arn"
    ]
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="tasks",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )
    return arn


def make_bucket_and_role(clients, prefix: str) -> tuple[str, str]:
    """A new bucket and a SageMaker role that can use that bucket (and logs) only."""
    bucket = unique(prefix)
    clients("s3").create_bucket(Bucket=bucket)
    iam = clients("iam")
    role = iam.create_role(RoleName=unique(prefix), AssumeRolePolicyDocument=json.dumps(TRUST))[
        "Role"
    ]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="bucket",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:*",
                        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                    },
                    {"Effect": "Allow", "Action": ["logs:*", "sagemaker:*"], "Resource": "*"},
                ],
            }
        ),
    )
    return bucket, role["Arn"]


def wait_job(sm, kind: str, name: str, timeout: float = 120) -> dict:
    describe = sm.describe_training_job if kind == "training" else sm.describe_processing_job
    key = "TrainingJobName" if kind == "training" else "ProcessingJobName"
    status_key = "TrainingJobStatus" if kind == "training" else "ProcessingJobStatus"
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = describe(**{key: name})
        if job[status_key] not in ("InProgress", "Stopping"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{kind} job {name} still running after {timeout}s")


def job_log(logs, kind: str, name: str) -> list[str]:
    group = "/aws/sagemaker/TrainingJobs" if kind == "training" else "/aws/sagemaker/ProcessingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")[
        "logStreams"
    ]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith(f"{name}/algo-1-")
    events = logs.get_log_events(
        logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True
    )["events"]
    return [e["message"] for e in events]


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def admin_session(config):
    """A boto3 session signed with the admin keys of the localaws whose config is `config`."""
    import boto3

    from localaws.core.credentials import read_admin_credentials

    keys = read_admin_credentials(config.state_dir)
    return boto3.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        region_name="us-east-1",
    )


@contextmanager
def own_server(state_dir: Path) -> Iterator[tuple[Any, dict, Any]]:
    """A localaws of the test's own on `state_dir`: its config, start info and an admin
    session. The test may stop, kill and start it again; it is stopped on the way out."""
    from localaws.cli import start, stop
    from localaws.core.config import Config
    from localaws.ephemeral import free_port

    config = Config(state_dir=state_dir, port=free_port())
    info = start(config)
    try:
        yield config, info, admin_session(config)
    finally:
        stop(config)
