"""A tenant's model registry: the one listing of its versions, with metrics and approval status.

`list_versions` describes each model package once (status, comment, tenant tag) and reads its
evaluation report for the metrics; `tenant_versions` and `helpers.approval.versions_table`
are two tables of that one listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from helpers.naming import DEFAULT_TABLE
from helpers.session import AwsSession
from helpers.storage import read_s3_json
from helpers.tenant_table import tenant_item

METRICS = ("accuracy", "auc", "precision", "recall", "f1")
COLUMNS = ["version", "status", "created", *METRICS, "tenant-id", "arn"]


@dataclass
class ModelVersion:
    """One registered model version of a tenant, with its evaluation metrics."""

    arn: str
    version: int
    status: str
    created: datetime
    comment: str
    metrics: dict[str, float] = field(default_factory=dict)
    tenant_id: str | None = None
    group: str = ""

    @classmethod
    def from_package(cls, package: dict[str, Any], metrics: dict[str, float]) -> ModelVersion:
        """From a DescribeModelPackage response."""
        return cls(
            arn=package["ModelPackageArn"],
            version=int(package["ModelPackageVersion"]),
            status=package["ModelApprovalStatus"],
            created=package["CreationTime"],
            comment=package.get("ApprovalDescription", ""),
            metrics=metrics,
            tenant_id=package.get("CustomerMetadataProperties", {}).get("tenant-id"),
            group=package.get("ModelPackageGroupName", ""),
        )

    def row(self) -> dict[str, Any]:
        """The version as one row of `approval.versions_table`."""
        return {
            "version": self.version,
            "status": self.status,
            "created": self.created.strftime("%Y-%m-%d %H:%M:%S"),
            **{k: round(v, 4) for k, v in self.metrics.items()},
            "comment": self.comment,
            "arn": self.arn,
        }


def package_metrics(session: AwsSession, package: dict[str, Any]) -> dict[str, float]:
    """The version's scalar metrics, from the evaluation report its package points at."""
    uri = package.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {}).get("S3Uri")
    if not uri:
        return {}
    values = read_s3_json(session, uri).get("binary_classification_metrics", {})
    return {m: float(values[m]["value"]) for m in METRICS if m in values}


def package_arns(session: AwsSession, group: str) -> list[str]:
    """Every version ARN in `group`, oldest first."""
    sm = session.client("sagemaker")
    arns: list[str] = []
    kwargs = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Ascending"}
    while True:
        page = sm.list_model_packages(**kwargs)
        arns += [p["ModelPackageArn"] for p in page["ModelPackageSummaryList"]]
        if not page.get("NextToken"):
            return arns
        kwargs["NextToken"] = page["NextToken"]


def describe_version(session: AwsSession, arn: str, with_metrics: bool = True) -> ModelVersion:
    """One version, from one DescribeModelPackage (plus its report for the metrics)."""
    package = session.client("sagemaker").describe_model_package(ModelPackageName=arn)
    return ModelVersion.from_package(
        package, package_metrics(session, package) if with_metrics else {}
    )


def list_versions(session: AwsSession, group: str, with_metrics: bool = True) -> list[ModelVersion]:
    """Every version of the model package group `group`, newest first."""
    versions = [
        describe_version(session, arn, with_metrics) for arn in package_arns(session, group)
    ]
    return sorted(versions, key=lambda v: v.version, reverse=True)


def versions_frame(versions: list[ModelVersion]) -> pd.DataFrame:
    """Versions as a table with COLUMNS, oldest first."""
    rows = [
        {
            "version": v.version,
            "status": v.status,
            "created": v.created,
            **v.metrics,
            "tenant-id": v.tenant_id,
            "arn": v.arn,
        }
        for v in sorted(versions, key=lambda v: v.version)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def tenant_versions(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    with_metrics: bool = True,
) -> pd.DataFrame:
    """The versions of the tenant's model package group (named by the tenant table), oldest
    first, one row each: version, status, creation time, metrics, tenant-id, ARN."""
    group = tenant_item(session, tenant_id, table_name, required=("tenant-modelregistry",))[
        "tenant-modelregistry"
    ]
    return versions_frame(list_versions(session, group, with_metrics))
