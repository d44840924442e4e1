"""Jobs' S3 inputs and outputs move without HTTP (blob files), with S3's and IAM's guarantees.

Each job copies scikit-learn's bundled breast-cancer CSV (data this project did not make)
from its input folder to its output folder, writes the MD5 of what it read beside it, and
the CSV ten times over (1.2 MB: larger than a journaled body, so the job's file itself
becomes the stored body). On one private server with a state directory, restarted (SIGKILL)
in the last test.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from importlib import resources

import pytest
from compute_helpers import SKLEARN_IMAGE, TRUST, own_server, unique, wait_job

from localaws.cli import start

pytestmark = pytest.mark.slow  # real processing jobs and a kill -9 restart

RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}
DATA = (resources.files("sklearn.datasets") / "data" / "breast_cancer.csv").read_bytes()
SCRIPT = b"""
import hashlib, shutil
source = "/opt/ml/processing/input/data/breast_cancer.csv"
shutil.copyfile(source, "/opt/ml/processing/output/breast_cancer.csv")
with open(source, "rb") as f, open("/opt/ml/processing/output/read.md5", "w") as out:
    out.write(hashlib.md5(f.read()).hexdigest())
with open(source, "rb") as f, open("/opt/ml/processing/output/big.csv", "wb") as out:
    out.write(f.read() * 10)
"""
BIG = DATA * 10
# Names what the job found in its data input folder (the listing of its S3 prefix).
LIST_SCRIPT = b"""
import os
root = "/opt/ml/processing/input/data"
found = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
with open("/opt/ml/processing/output/files.txt", "w") as out:
    out.write("\\n".join(found))
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with own_server(tmp_path_factory.mktemp("direct-io-state")) as (config, _, session):
        yield config, lambda name: session.client(name, endpoint_url=config.endpoint_url)


@pytest.fixture(scope="module")
def bucket(server):
    """A versioned bucket holding the input data and the job code."""
    _, client = server
    s3 = client("s3")
    name = unique("direct-io")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="data/breast_cancer.csv", Body=DATA)
    s3.put_object(Bucket=name, Key="code/copy.py", Body=SCRIPT)
    s3.put_object(Bucket=name, Key="code/list.py", Body=LIST_SCRIPT)
    return name


def role(
    client, bucket: str, deny: list[str] | None = None, extra: list[dict] | None = None
) -> str:
    """A SageMaker role with s3:* on `bucket`, minus the `deny` actions on `bucket/<deny>`,
    plus the `extra` statements."""
    statements = [
        {
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        },
        {"Effect": "Allow", "Action": ["logs:*", "sagemaker:*"], "Resource": "*"},
    ]
    for denied in deny or []:
        action, _, prefix = denied.partition(" ")
        statements.append(
            {"Effect": "Deny", "Action": action, "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"}
        )
    statements += extra or []
    iam = client("iam")
    made = iam.create_role(RoleName=unique("direct"), AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName=made["Role"]["RoleName"],
        PolicyName="bucket",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return made["Role"]["Arn"]


def run_copy(
    client, bucket: str, role_arn: str, out_key: str = "out", script: str = "copy.py"
) -> dict:
    name = unique("copy")
    sm = client("sagemaker")
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=role_arn,
        ProcessingResources={
            "ClusterConfig": {
                "InstanceType": "ml.m5.large",
                "InstanceCount": 1,
                "VolumeSizeInGB": 5,
            }
        },
        AppSpecification={
            "ImageUri": SKLEARN_IMAGE,
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{script}"],
        },
        ProcessingInputs=[
            {
                "InputName": input_name,
                "S3Input": {
                    "S3Uri": f"s3://{bucket}/{prefix}",
                    "LocalPath": f"/opt/ml/processing/input/{input_name}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
            for input_name, prefix in (("code", f"code/{script}"), ("data", "data"))
        ],
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/{out_key}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
    )
    return wait_job(sm, "processing", name)


@pytest.fixture(scope="module")
def two_runs(server, bucket) -> list[dict]:
    """Two completed jobs that wrote the same output keys: two versions of each."""
    _, client = server
    role_arn = role(client, bucket)
    return [run_copy(client, bucket, role_arn) for _ in range(2)]


def test_outputs_are_objects_with_etag_size_and_versions(server, bucket, two_runs):
    _, client = server
    assert [j["ProcessingJobStatus"] for j in two_runs] == ["Completed", "Completed"]
    s3 = client("s3")
    md5 = hashlib.md5(DATA).hexdigest()
    # the job read exactly the object's bytes, and wrote them back as objects
    assert s3.get_object(Bucket=bucket, Key="out/read.md5")["Body"].read().decode() == md5
    for key, data in (("out/breast_cancer.csv", DATA), ("out/big.csv", BIG)):
        md5 = hashlib.md5(data).hexdigest()
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ETag"] == f'"{md5}"' and head["ContentLength"] == len(data)
        versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
        assert len(versions) == 2 and len({v["VersionId"] for v in versions}) == 2
        for version in versions:
            assert version["ETag"] == f'"{md5}"' and version["Size"] == len(data)
            body = s3.get_object(Bucket=bucket, Key=key, VersionId=version["VersionId"])["Body"]
            assert body.read() == data
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="out/big.csv")["Contents"]
    assert listed[0]["ETag"] == f'"{hashlib.md5(BIG).hexdigest()}"'


@pytest.mark.parametrize(
    ("deny", "out_key", "named"),
    [
        # listing the input prefix is allowed; reading its objects is not
        ("s3:GetObject data/", "out-denied-read", "data"),
        ("s3:PutObject out-denied-write/", "out-denied-write", "out-denied-write"),
    ],
    ids=["read", "write"],
)
def test_denied_object_fails_the_job_with_access_denied(server, bucket, deny, out_key, named):
    _, client = server
    job = run_copy(client, bucket, role(client, bucket, deny=[deny]), out_key=out_key)
    assert job["ProcessingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "AccessDenied" in reason and f"s3://{bucket}/{named}" in reason, reason
    assert client("s3").list_objects_v2(Bucket=bucket, Prefix=f"{out_key}/")["KeyCount"] == 0


def test_input_prefix_lists_current_objects_only(server, bucket):
    """The input listing (without HTTP) names what ListObjectsV2 names: nested keys, no key
    whose newest version is a delete marker, nothing beside the prefix."""
    _, client = server
    s3 = client("s3")
    s3.put_object(Bucket=bucket, Key="data/nested/a.csv", Body=b"a\n")
    s3.put_object(Bucket=bucket, Key="data/gone.csv", Body=b"gone\n")
    s3.delete_object(Bucket=bucket, Key="data/gone.csv")  # versioned: a delete marker
    s3.put_object(Bucket=bucket, Key="database.csv", Body=b"beside\n")
    try:
        job = run_copy(client, bucket, role(client, bucket), out_key="out-list", script="list.py")
        assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
        found = s3.get_object(Bucket=bucket, Key="out-list/files.txt")["Body"].read().decode()
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="data")["Contents"]
        # "data" is not "data/": database.csv is under the prefix too, as S3 names it
        assert [o["Key"] for o in listed] == [
            "data/breast_cancer.csv",
            "data/nested/a.csv",
            "database.csv",
        ]
        assert found.split("\n") == ["breast_cancer.csv", "database.csv", "nested/a.csv"]
    finally:
        s3.delete_object(Bucket=bucket, Key="data/nested/a.csv")
        s3.delete_object(Bucket=bucket, Key="database.csv")


def test_denied_listing_fails_the_job_with_access_denied(server, bucket):
    """s3:ListBucket is checked with the job's prefix as `s3:prefix`, as on the HTTP path."""
    _, client = server
    deny_data = {
        "Effect": "Deny",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{bucket}",
        "Condition": {"StringLike": {"s3:prefix": "data*"}},
    }
    job = run_copy(client, bucket, role(client, bucket, extra=[deny_data]), out_key="out-nolist")
    assert job["ProcessingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "AccessDenied" in reason and f"s3://{bucket}/data" in reason, reason
    assert client("s3").list_objects_v2(Bucket=bucket, Prefix="out-nolist/")["KeyCount"] == 0


def test_outputs_survive_a_killed_server(server, bucket, two_runs):
    config, client = server
    s3 = client("s3")
    before = s3.list_object_versions(Bucket=bucket, Prefix="out/")["Versions"]
    pid = json.loads(config.pid_file.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    start(config)
    after = s3.list_object_versions(Bucket=bucket, Prefix="out/")["Versions"]
    strip = [{k: v[k] for k in ("Key", "VersionId", "ETag", "Size", "IsLatest")} for v in before]
    assert [{k: v[k] for k in strip[0]} for v in after] == strip
    assert s3.get_object(Bucket=bucket, Key="out/breast_cancer.csv")["Body"].read() == DATA
    assert s3.get_object(Bucket=bucket, Key="out/big.csv")["Body"].read() == BIG
