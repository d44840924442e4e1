"""A tenant's model registry: its model package versions with metrics and approval status."""

from __future__ import annotations

import json

import pandas as pd

METRICS = ("accuracy", "auc", "precision", "recall", "f1")
COLUMNS = ["version", "status", "created", *METRICS, "tenant-id", "arn"]


def _metrics(aws, package: dict) -> dict[str, float]:
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return {}
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    report = json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    values = report.get("binary_classification_metrics", {})
    return {m: values[m]["value"] for m in METRICS if m in values}


def package_arns(aws, group: str) -> list[str]:
    """Every version ARN in `group`, oldest first."""
    sm = aws.client("sagemaker")
    arns: list[str] = []
    kwargs = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Ascending"}
    while True:
        page = sm.list_model_packages(**kwargs)
        arns += [p["ModelPackageArn"] for p in page["ModelPackageSummaryList"]]
        if not page.get("NextToken"):
            return arns
        kwargs["NextToken"] = page["NextToken"]


def list_versions(aws, group: str, with_metrics: bool = True) -> pd.DataFrame:
    """One row per version of `group`: version, approval status, creation time, metrics."""
    sm = aws.client("sagemaker")
    rows = []
    for arn in package_arns(aws, group):
        package = sm.describe_model_package(ModelPackageName=arn)
        row = {
            "version": package.get("ModelPackageVersion"),
            "status": package.get("ModelApprovalStatus"),
            "created": package.get("CreationTime"),
            "tenant-id": package.get("CustomerMetadataProperties", {}).get("tenant-id"),
            "arn": arn,
        }
        if with_metrics:
            row.update(_metrics(aws, package))
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values("version", ignore_index=True) if rows else frame


def tenant_versions(
    aws, tenant_id: str, table_name: str = "allTenants", with_metrics: bool = True
) -> pd.DataFrame:
    """The versions of the tenant's model package group, named by the tenant table."""
    from helpers.pipeline import tenant_target

    return list_versions(
        aws, tenant_target(aws, tenant_id, table_name).model_package_group, with_metrics
    )
