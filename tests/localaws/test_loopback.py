"""The server's requests to itself (`core.loopback`): answered in the calling thread, checked as
any request is (signature, IAM under the signing role, persistence), and only for this server.

The server's application is built in a child process whose port nobody listens on: a request
that reaches an answer there cannot have gone over TCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import boto3
    from botocore.config import Config as BotoConfig
    from botocore.exceptions import ClientError, EndpointConnectionError

    from localaws.core import credentials, loopback
    from localaws.core.config import Config
    from localaws.ephemeral import free_port
    from localaws.server import create_app

    port = free_port()  # nobody listens here
    app = create_app(Config(state_dir=Path(sys.argv[1]), port=port))
    url = f"http://127.0.0.1:{port}"

    def client(service, keys, attached=True):
        made = boto3.client(
            service, endpoint_url=url, region_name="us-east-1",
            aws_access_key_id=keys["AccessKeyId"],
            aws_secret_access_key=keys["SecretAccessKey"],
            aws_session_token=keys.get("SessionToken"),
            config=BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=2),
        )
        return loopback.attach(made) if attached else made

    def code(call):
        try:
            call()
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        except EndpointConnectionError:
            return "no connection"

    admin = credentials.admin_credentials()
    out = {"caller": client("sts", admin).get_caller_identity()["Arn"]}
    s3, iam = client("s3", admin), client("iam", admin)
    for bucket in ("mine", "theirs"):
        s3.create_bucket(Bucket=bucket)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="loop", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="loop", PolicyName="mine", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
         "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::mine/*"}]}))
    keys = client("sts", admin).assume_role(
        RoleArn=role["Role"]["Arn"], RoleSessionName="test")["Credentials"]
    scoped = client("s3", keys)
    out["put mine"] = code(lambda: scoped.put_object(Bucket="mine", Key="k", Body=b"x" * 70000))
    out["put theirs"] = code(lambda: scoped.put_object(Bucket="theirs", Key="k", Body=b"x"))
    out["theirs listed"] = s3.list_objects_v2(Bucket="theirs").get("KeyCount")
    out["head mine"] = s3.head_object(Bucket="mine", Key="k")["ContentLength"]
    forged = client("s3", {**admin, "SecretAccessKey": "not-the-secret"})
    out["forged"] = code(lambda: forged.list_objects_v2(Bucket="mine"))
    out["get object"] = code(lambda: scoped.get_object(Bucket="mine", Key="k"))
    out["not attached"] = code(lambda: client("sts", admin, attached=False).get_caller_identity())
    other = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{free_port()}",
                         region_name="us-east-1", aws_access_key_id="a",
                         aws_secret_access_key="b",
                         config=BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=2))
    out["other port"] = code(lambda: loopback.attach(other).get_caller_identity())
    def broken(environ, start_response):
        raise RuntimeError("a bug in the application")

    loopback.install(broken, port)  # answered as werkzeug's server answers it: a 500
    try:
        client("sts", admin).get_caller_identity()
    except ClientError as exc:
        out["broken app"] = exc.response["ResponseMetadata"]["HTTPStatusCode"]
    app.store.journal.close()
    print(json.dumps(out))
    """
)


def test_requests_to_this_server_are_answered_in_process_and_checked(tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "state")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["caller"].endswith(":user/localaws-admin"), out
    assert out["put mine"] == "ok" and out["head mine"] == 70000  # a write, saved and readable
    assert out["put theirs"] == "AccessDenied" and not out["theirs listed"]  # IAM, as the role
    assert out["forged"] == "SignatureDoesNotMatch"  # the signature is still checked
    # Streamed bodies, clients not attached and other endpoints go over TCP (nobody listens)
    assert out["get object"] == "no connection"
    assert out["not attached"] == "no connection"
    assert out["other port"] == "no connection"
    assert out["broken app"] == 500
