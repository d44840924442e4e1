"""The chain 00 -> 01 -> 02 -> 03 -> 99 run by an identity that assumed a role with a path,
as in SageMaker Studio (`role/service-role/...`): the notebooks get that identity's temporary
credentials and `backend="aws"` with AWS_ENDPOINT_URL at a private localaws and no LOCALAWS_*
variables, the path a Studio user takes on a real account. The tenant role must trust, and the
bucket policy must exempt, the role's real ARN with its path (an assumed-role ARN has none).
"""

from __future__ import annotations

import json
import os

import boto3
import pytest

from helpers import tenants
from helpers.chain import FULL_CHAIN, run_chain
from helpers.naming import tenant_bucket, tenant_role_name
from helpers.results import read_results
from helpers.session import AwsSession
from localaws.ephemeral import running

pytestmark = pytest.mark.slow
TENANT = "studio-t1"
ROLE_NAME = "StudioExecRole"
ROLE_PATH = "/service-role/"


def admin_role(iam, account: str) -> str:
    """A pathed role with full access that the account's principals may assume; its ARN."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=ROLE_NAME, Path=ROLE_PATH, AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    everything = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    iam.put_role_policy(
        RoleName=ROLE_NAME, PolicyName="admin", PolicyDocument=json.dumps(everything)
    )
    return role["Arn"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    """A private localaws; the environment holds the pathed role's session while the test runs."""
    with running(tmp_path_factory.mktemp("studio-state")) as config:
        admin = boto3.Session(region_name="us-east-1")
        account = admin.client("sts").get_caller_identity()["Account"]
        role_arn = admin_role(admin.client("iam"), account)
        keys = admin.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="studio-user")
        keys = keys["Credentials"]
        saved = dict(os.environ)
        for key in [k for k in os.environ if k.startswith("LOCALAWS_")]:
            del os.environ[key]
        os.environ.update(
            AWS_ENDPOINT_URL=config.endpoint_url,
            AWS_ACCESS_KEY_ID=keys["AccessKeyId"],
            AWS_SECRET_ACCESS_KEY=keys["SecretAccessKey"],
            AWS_SESSION_TOKEN=keys["SessionToken"],
        )
        try:
            yield {"role_arn": role_arn, "account": account}
        finally:
            os.environ.clear()
            os.environ.update(saved)


def test_the_chain_under_a_role_with_a_path(studio, tmp_path):
    me = boto3.Session(region_name="us-east-1")
    caller = me.client("sts").get_caller_identity()["Arn"]
    assert caller.endswith(f":assumed-role/{ROLE_NAME}/studio-user")  # no path in this ARN

    setup, created, *_ = run_chain(
        TENANT, tmp_path / "chain", notebooks=FULL_CHAIN[:-1], backend="aws"
    )
    assert read_results(created)["tenant"]["item"]["tenant-status"] == "ACTIVE"

    # Whoever assumed the pathed role is an admin by its real ARN, path included.
    role = me.client("iam").get_role(RoleName=tenant_role_name(TENANT))["Role"]
    trusted = [s["Principal"].get("AWS") for s in role["AssumeRolePolicyDocument"]["Statement"]]
    assert [studio["role_arn"]] in trusted or studio["role_arn"] in trusted, trusted
    bucket = tenant_bucket(TENANT, studio["account"], "us-east-1")
    policy = json.loads(me.client("s3").get_bucket_policy(Bucket=bucket)["Policy"])
    exempt = policy["Statement"][0]["Condition"]["StringNotLike"]["aws:PrincipalArn"]
    assert studio["role_arn"] in exempt
    assert f"role{ROLE_PATH}{ROLE_NAME}" in studio["role_arn"]

    deployed = read_results(tmp_path / "chain" / "03_deploy.ipynb")
    assert deployed["endpoint"]["EndpointStatus"] == "InService"
    assert deployed["deployment"]["tenant"] == TENANT

    (cleanup,) = run_chain(TENANT, tmp_path / "cleanup", notebooks=("99_cleanup",), backend="aws")
    results = read_results(cleanup)
    assert results["deletion"] == {"existed": True, "status": "SUCCEEDED"}
    session = AwsSession(backend="aws", region="us-east-1", boto_session=me)
    assert not any(tenants.tenant_leftovers(session, TENANT).values())
