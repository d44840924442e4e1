"""SageMaker model registry calls on localaws (those moto lacked or got wrong)."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

SPEC = {
    "Containers": [
        {
            "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
            "ModelDataUrl": "s3://bucket/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
METRICS = {
    "ModelQuality": {
        "Statistics": {"ContentType": "application/json", "S3Uri": "s3://bucket/evaluation.json"}
    }
}


@pytest.fixture
def sm(clients):
    return clients("sagemaker")


@pytest.fixture
def group(sm) -> str:
    name = f"reg-{uuid.uuid4().hex[:8]}"
    sm.create_model_package_group(
        ModelPackageGroupName=name, Tags=[{"Key": "tenant-id", "Value": name}]
    )
    return name


def register(sm, group: str, **extra) -> str:
    return sm.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=SPEC, **extra
    )["ModelPackageArn"]


def error_code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_duplicate_group_is_refused_and_keeps_the_original(sm, group):
    version = register(sm, group)
    with pytest.raises(ClientError, match="already exists") as exc:
        sm.create_model_package_group(ModelPackageGroupName=group)
    assert error_code(exc) == "ValidationException"
    assert sm.describe_model_package(ModelPackageName=version)["ModelPackageGroupName"] == group
    listed = sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert [p["ModelPackageArn"] for p in listed] == [version]


def test_describe_has_registry_fields_and_update_changes_only_what_it_names(sm, group):
    arn = register(
        sm,
        group,
        ModelMetrics=METRICS,
        CustomerMetadataProperties={"run": "1"},
        ModelPackageDescription="first run",
    )
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"
    assert desc["ModelMetrics"] == METRICS
    assert desc["CustomerMetadataProperties"] == {"run": "1"}
    assert desc["ModelPackageVersion"] == 1 and desc["ModelPackageDescription"] == "first run"

    sm.update_model_package(
        ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="auc 0.91, ok"
    )
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={"by": "alice"})
    desc = sm.describe_model_package(ModelPackageName=arn)
    assert desc["ModelApprovalStatus"] == "Approved"
    assert desc["ApprovalDescription"] == "auc 0.91, ok"
    assert desc["CustomerMetadataProperties"] == {"run": "1", "by": "alice"}
    assert "LastModifiedTime" in desc
    sm.update_model_package(ModelPackageArn=arn, CustomerMetadataPropertiesToRemove=["run"])
    assert sm.describe_model_package(ModelPackageName=arn)["CustomerMetadataProperties"] == {
        "by": "alice"
    }
    with pytest.raises(ClientError):
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Maybe")


def test_list_filters_and_sorts(sm, group):
    arns = [register(sm, group) for _ in range(3)]
    sm.update_model_package(ModelPackageArn=arns[1], ModelApprovalStatus="Approved")
    sm.update_model_package(ModelPackageArn=arns[2], ModelApprovalStatus="Rejected")

    def versions(**kw) -> list[int]:
        summaries = sm.list_model_packages(ModelPackageGroupName=group, **kw)[
            "ModelPackageSummaryList"
        ]
        return [s["ModelPackageVersion"] for s in summaries]

    assert versions() == [1, 2, 3]
    assert versions(ModelApprovalStatus="Approved") == [2]
    assert versions(ModelApprovalStatus="PendingManualApproval") == [1]
    assert versions(SortBy="CreationTime", SortOrder="Descending") == [3, 2, 1]
    group_arn = sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    by_arn = sm.list_model_packages(ModelPackageGroupName=group_arn)["ModelPackageSummaryList"]
    assert [s["ModelPackageArn"] for s in by_arn] == arns
    page = sm.list_model_packages(ModelPackageGroupName=group, MaxResults=2)
    assert len(page["ModelPackageSummaryList"]) == 2 and page["NextToken"]


def test_tags_on_versions_and_groups(sm, group):
    arn = register(sm, group, Tags=[{"Key": "tenant-id", "Value": group}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "prod"}])
    assert sorted((t["Key"], t["Value"]) for t in sm.list_tags(ResourceArn=arn)["Tags"]) == [
        ("stage", "prod"),
        ("tenant-id", group),
    ]
    sm.delete_tags(ResourceArn=arn, TagKeys=["stage"])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "tenant-id", "Value": group}]

    untagged = register(sm, group)
    assert sm.list_tags(ResourceArn=untagged)["Tags"] == []

    group_arn = sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"]
    sm.add_tags(ResourceArn=group_arn, Tags=[{"Key": "owner", "Value": "ml"}])
    assert {t["Key"] for t in sm.list_tags(ResourceArn=group_arn)["Tags"]} == {"tenant-id", "owner"}
    with pytest.raises(ClientError, match="does not exist"):
        sm.list_tags(ResourceArn=arn.rsplit("/", 1)[0] + "/99")


def test_delete_versions_then_group(sm, group):
    first, second, third = (register(sm, group) for _ in range(3))
    with pytest.raises(ClientError) as exc:
        sm.delete_model_package_group(ModelPackageGroupName=group)
    assert error_code(exc) == "ConflictException"
    assert sm.describe_model_package_group(ModelPackageGroupName=group)

    sm.delete_model_package(ModelPackageName=second)
    with pytest.raises(ClientError, match="not found"):
        sm.describe_model_package(ModelPackageName=second)
    with pytest.raises(ClientError, match="does not exist"):
        sm.delete_model_package(ModelPackageName=second)
    # a new version gets a new number, never a deleted one's (nor overwrites version 3)
    fourth = register(sm, group)
    assert fourth.endswith("/4")
    assert sm.describe_model_package(ModelPackageName=third)["ModelPackageVersion"] == 3
    sm.delete_model_package(ModelPackageName=third)
    sm.delete_model_package(ModelPackageName=fourth)
    assert register(sm, group).endswith("/5")

    for summary in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]:
        sm.delete_model_package(ModelPackageName=summary["ModelPackageArn"])
    assert first not in [
        s["ModelPackageArn"]
        for s in sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    ]
    sm.delete_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="does not exist"):
        sm.describe_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError, match="does not exist"):
        sm.delete_model_package_group(ModelPackageGroupName=group)
    names = [
        g["ModelPackageGroupName"]
        for g in sm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]
    ]
    assert names == []


def test_list_models_filters_sorts_and_pages(clients):
    sm = clients("sagemaker")
    role = "arn:aws:iam::123456789012:role/listing-role"
    container = {
        "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "ModelDataUrl": "s3://listing-bucket/model.tar.gz",
    }
    names = [f"listing-{i:02d}" for i in range(12)]
    for name in names:
        sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer=container)
    sm.create_model(ModelName="elsewhere-01", ExecutionRoleArn=role, PrimaryContainer=container)

    first = sm.list_models(NameContains="listing-", SortBy="Name", SortOrder="Ascending")
    assert [m["ModelName"] for m in first["Models"]] == names[:10]
    assert set(first["Models"][0]) == {"ModelName", "ModelArn", "CreationTime"}
    rest = sm.list_models(
        NameContains="listing-", SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert [m["ModelName"] for m in rest["Models"]] == names[10:]
    assert "NextToken" not in rest
    pages = sm.get_paginator("list_models").paginate(NameContains="listing-")
    assert sorted(m["ModelName"] for p in pages for m in p["Models"]) == names
    with pytest.raises(ClientError, match="MaxResults"):
        sm.list_models(MaxResults=101)

    sm.delete_model(ModelName="listing-03")
    left = sm.get_paginator("list_models").paginate(NameContains="listing-")
    assert sorted(m["ModelName"] for p in left for m in p["Models"]) == names[:3] + names[4:]
    with pytest.raises(ClientError, match='Could not find model "listing-03"'):
        sm.delete_model(ModelName="listing-03")
