"""The AWS CLI works against localaws with nothing but `localaws env` exported."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from localaws.cli import env_vars

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
# slow: each AWS CLI call starts a Python interpreter
pytestmark = [
    pytest.mark.skipif(AWS is None, reason="the AWS CLI (awscli) is not installed"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def aws_cli(localaws, tmp_path_factory):
    """Run `aws ...` in a clean environment holding only `localaws env`'s exports."""
    env_lines = subprocess.run(
        [sys.executable, "-m", "localaws", "env"],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    ).stdout
    exported = dict(line.removeprefix("export ").split("=", 1) for line in env_lines.splitlines())
    assert exported == env_vars(localaws)
    home = tmp_path_factory.mktemp("home")  # no ~/.aws config of the machine
    base = {"PATH": os.environ["PATH"], "HOME": str(home), **exported}

    def aws(*args: str) -> str:
        result = subprocess.run(
            [AWS, *args, "--output", "json"], capture_output=True, text=True, env=base, timeout=120
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return aws


def test_s3_mb_cp_ls(aws_cli, tmp_path):
    bucket = f"cli-{uuid.uuid4().hex[:8]}"
    aws_cli("s3", "mb", f"s3://{bucket}")
    source = tmp_path / "hello.txt"
    source.write_text("hello from the AWS CLI\n")
    aws_cli("s3", "cp", str(source), f"s3://{bucket}/docs/hello.txt")
    assert bucket in aws_cli("s3", "ls")
    assert "hello.txt" in aws_cli("s3", "ls", f"s3://{bucket}/docs/")
    back = tmp_path / "back.txt"
    aws_cli("s3", "cp", f"s3://{bucket}/docs/hello.txt", str(back))
    assert back.read_text() == source.read_text()


def test_stepfunctions_start_execution(aws_cli):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "states.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    )
    role = json.loads(
        aws_cli("iam", "create-role", "--role-name", name, "--assume-role-policy-document", trust)
    )["Role"]["Arn"]
    definition = json.dumps(
        {
            "StartAt": "Hello",
            "States": {
                "Hello": {
                    "Type": "Pass",
                    "Parameters": {"greeting.$": "States.Format('hi {}', $.who)"},
                    "End": True,
                }
            },
        }
    )
    machine = json.loads(
        aws_cli(
            "stepfunctions",
            "create-state-machine",
            "--name",
            name,
            "--definition",
            definition,
            "--role-arn",
            role,
        )
    )
    started = json.loads(
        aws_cli(
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            machine["stateMachineArn"],
            "--input",
            '{"who": "cli"}',
        )
    )
    for _ in range(200):
        desc = json.loads(
            aws_cli(
                "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"]
            )
        )
        if desc["status"] != "RUNNING":
            break
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"greeting": "hi cli"}


def test_sagemaker_list_model_package_groups(aws_cli):
    name = f"cli-{uuid.uuid4().hex[:8]}"
    aws_cli("sagemaker", "create-model-package-group", "--model-package-group-name", name)
    groups = json.loads(aws_cli("sagemaker", "list-model-package-groups"))
    assert name in {g["ModelPackageGroupName"] for g in groups["ModelPackageGroupSummaryList"]}


def test_caller_is_the_localaws_admin(aws_cli):
    identity = json.loads(aws_cli("sts", "get-caller-identity"))
    assert identity["Arn"].endswith(":user/localaws-admin")
