"""Manual approval of a tenant's model versions (the seed's step 5).

Only Approved versions are deployed. Every call is scoped to one tenant: a version that is not
in that tenant's model package group is refused, whoever's ARN it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import ClientError

from helpers.naming import DEFAULT_PREFIX, model_package_group, validate_tenant_id

DECISIONS = {"approve": "Approved", "reject": "Rejected"}


class ApprovalError(ValueError):
    """A version cannot be approved/rejected as asked; the message says why."""


@dataclass
class ModelVersion:
    """One registered model version of a tenant, with its evaluation metrics."""

    arn: str
    version: int
    status: str
    created: datetime
    comment: str
    metrics: dict[str, float]

    def row(self) -> dict:
        return {
            "version": self.version,
            "status": self.status,
            "created": self.created.strftime("%Y-%m-%d %H:%M:%S"),
            **{k: round(v, 4) for k, v in self.metrics.items()},
            "comment": self.comment,
            "arn": self.arn,
        }


def list_versions(
    aws, tenant_id: str, prefix: str = DEFAULT_PREFIX, with_metrics: bool = True
) -> list[ModelVersion]:
    """All versions in the tenant's model package group, newest first (helpers.registry's
    listing plus each version's approval comment)."""
    from helpers.registry import METRICS
    from helpers.registry import list_versions as registry_versions

    group = model_package_group(validate_tenant_id(tenant_id), prefix)
    sm = aws.client("sagemaker")
    versions = []
    for row in registry_versions(aws, group, with_metrics).to_dict("records"):
        package = sm.describe_model_package(ModelPackageName=row["arn"])
        versions.append(
            ModelVersion(
                arn=row["arn"],
                version=int(row["version"]),
                status=row["status"],
                created=row["created"],
                comment=package.get("ApprovalDescription", ""),
                metrics={m: float(row[m]) for m in METRICS if m in row and row[m] == row[m]},
            )
        )
    return sorted(versions, key=lambda v: v.version, reverse=True)


def versions_table(aws, tenant_id: str, prefix: str = DEFAULT_PREFIX):
    """`list_versions` as a pandas DataFrame (one row per version, newest first)."""
    import pandas as pd

    rows = [v.row() for v in list_versions(aws, tenant_id, prefix)]
    return pd.DataFrame(rows).set_index("version") if rows else pd.DataFrame()


def resolve_version(
    aws, tenant_id: str, version: int | str, prefix: str = DEFAULT_PREFIX
) -> ModelVersion:
    """The tenant's version given by number or ARN; ApprovalError if it is not the tenant's."""
    group = model_package_group(validate_tenant_id(tenant_id), prefix)
    if isinstance(version, str) and version.startswith("arn:"):
        try:
            package = aws.client("sagemaker").describe_model_package(ModelPackageName=version)
        except ClientError as exc:
            raise ApprovalError(
                f"model version {version} does not exist: {exc.response['Error']['Message']}"
            ) from None
        if package.get("ModelPackageGroupName") != group:
            raise ApprovalError(
                f"model version {version} belongs to group {package.get('ModelPackageGroupName')!r}"
                f", not to tenant {tenant_id!r} (group {group!r}): refused"
            )
        return ModelVersion(
            arn=package["ModelPackageArn"],
            version=int(package["ModelPackageVersion"]),
            status=package["ModelApprovalStatus"],
            created=package["CreationTime"],
            comment=package.get("ApprovalDescription", ""),
            metrics={},
        )
    found = [
        v
        for v in list_versions(aws, tenant_id, prefix, with_metrics=False)
        if v.version == int(version)
    ]
    if not found:
        raise ApprovalError(f"tenant {tenant_id!r} has no model version {version} in {group}")
    return found[0]


def _decide(
    aws, tenant_id: str, version: int | str, decision: str, comment: str, prefix: str
) -> ModelVersion:
    target = resolve_version(aws, tenant_id, version, prefix)
    aws.client("sagemaker").update_model_package(
        ModelPackageArn=target.arn,
        ModelApprovalStatus=DECISIONS[decision],
        ApprovalDescription=comment or f"{DECISIONS[decision]} for tenant {tenant_id}",
    )
    return resolve_version(aws, tenant_id, target.arn, prefix)


def approve(
    aws, tenant_id: str, version: int | str, comment: str = "", prefix: str = DEFAULT_PREFIX
) -> ModelVersion:
    """Approve the tenant's version (number or ARN) with a comment; it becomes deployable."""
    return _decide(aws, tenant_id, version, "approve", comment, prefix)


def reject(
    aws, tenant_id: str, version: int | str, comment: str = "", prefix: str = DEFAULT_PREFIX
) -> ModelVersion:
    """Reject the tenant's version (number or ARN) with a comment; it will not be deployed."""
    return _decide(aws, tenant_id, version, "reject", comment, prefix)


def latest_version(
    aws, tenant_id: str, status: str | None = None, prefix: str = DEFAULT_PREFIX
) -> ModelVersion | None:
    """The newest version (optionally only those with ModelApprovalStatus `status`)."""
    for v in list_versions(aws, tenant_id, prefix):
        if status is None or v.status == status:
            return v
    return None
