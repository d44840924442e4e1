"""The compatibility suite with the SDK the project pins (v3): the abalone-style pipeline and
the `.sync` state machine run unmodified against localaws, every feature working, the
batch transform last.
"""

from __future__ import annotations

import boto3
import pytest

from compat import checks, pipeline_v3, state_machine

pytestmark = pytest.mark.slow  # real jobs: processing, XGBoost training, evaluation, twice


@pytest.fixture(scope="module")
def aws(localaws):
    return boto3.Session(region_name=checks.REGION)


@pytest.fixture(scope="module")
def tenant(aws):
    return checks.make_tenant(aws, "compat")


@pytest.fixture
def fast_sdk_config(monkeypatch):
    """The SDK validates its config against a large JSON schema at every look-up; once will do."""
    from sagemaker.core.config.config_manager import SageMakerConfig

    SageMakerConfig.validate_sagemaker_config(pipeline_v3.SDK_CONFIG)
    monkeypatch.setattr(
        SageMakerConfig,
        "validate_sagemaker_config",
        staticmethod(lambda sagemaker_config=None: None),
    )
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")


def test_abalone_pipeline_with_sdk_v3(aws, tenant, fast_sdk_config):
    bucket, role = tenant
    sm = aws.client("sagemaker")
    name = checks.unique("abalone-v3")
    session = pipeline_v3.session(bucket)
    pipeline_v3.build(session, name, role, bucket).upsert(role_arn=role)
    # The model package group does not exist: the register step creates it.
    with pytest.raises(sm.exceptions.ClientError):
        sm.describe_model_package_group(ModelPackageGroupName=f"{name}-group")

    rows = checks.pipeline_rows(aws, name, bucket)

    print(checks.table("abalone pipeline, SDK v3", rows))
    assert [r for r in rows if not r.works] == []
    versions = sm.list_model_packages(ModelPackageGroupName=f"{name}-group")
    assert len(versions["ModelPackageSummaryList"]) == 2  # one per run


def test_abalone_state_machine_with_sync_integrations(aws, tenant):
    bucket, role = tenant
    name, execution, rows = state_machine.run(aws, bucket, role)
    print(checks.table("abalone state machine (.sync)", rows))
    assert execution["status"] == "SUCCEEDED", execution
    assert [r for r in rows if not r.works] == []
    s3 = aws.client("s3")
    model = s3.list_objects_v2(Bucket=bucket, Prefix=f"sfn/{name}/model/")["Contents"]
    assert [o["Key"] for o in model] == [f"sfn/{name}/model/{name}-train/output/model.tar.gz"]
    batch = s3.get_object(Bucket=bucket, Key=f"sfn/{name}/process/batch/batch.csv")
    # S3Uri ".../process/batch" is a key prefix: outputs keep the keys below its folder
    out = s3.get_object(Bucket=bucket, Key=f"sfn/{name}/transform/batch/batch.csv.out")
    predictions = out["Body"].read().decode().split()
    assert len(predictions) == len(batch["Body"].read().decode().split())
    assert all(0 < float(p) < 40 for p in predictions)
