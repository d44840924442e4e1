"""Manual approval of a tenant's model versions (the seed's step 5).

Only Approved versions are deployed. Every call is scoped to one tenant: a version that is not
in that tenant's model package group is refused, whoever's ARN it is.
"""

from __future__ import annotations

from numbers import Integral

import pandas as pd
from botocore.exceptions import ClientError

from helpers.errors import ApprovalError
from helpers.naming import DEFAULT_PREFIX, model_package_group, validate_tenant_id
from helpers.registry import ModelVersion, describe_version, list_versions
from helpers.session import AwsSession

__all__ = [
    "ApprovalError",
    "ModelVersion",
    "approve",
    "latest_version",
    "reject",
    "resolve_version",
    "versions_table",
]

DECISIONS = {"approve": "Approved", "reject": "Rejected"}
EMPTY_COLUMNS = ["status", "created", "accuracy", "comment", "arn"]


def _group(tenant_id: str, prefix: str) -> str:
    return model_package_group(validate_tenant_id(tenant_id), prefix)


def versions_table(
    session: AwsSession, tenant_id: str, prefix: str = DEFAULT_PREFIX
) -> pd.DataFrame:
    """The tenant's versions, one row each, newest first, indexed by version number:
    status, creation time, metrics, approval comment, ARN."""
    rows = [v.row() for v in list_versions(session, _group(tenant_id, prefix))]
    if not rows:  # the same columns, so `.drop(columns=["arn"])` and friends still work
        return pd.DataFrame(columns=["version", *EMPTY_COLUMNS]).set_index("version")
    return pd.DataFrame(rows).set_index("version")


def resolve_version(
    session: AwsSession, tenant_id: str, version: int | str, prefix: str = DEFAULT_PREFIX
) -> ModelVersion:
    """The tenant's version given by number or ARN; ApprovalError if it is not the tenant's.

    Only a positive int (not a bool, float or numeric string) or a model package ARN is taken:
    `approve(..., 1.5)` must not quietly become version 1.
    """
    group = _group(tenant_id, prefix)
    is_number = isinstance(version, Integral) and not isinstance(version, bool) and version >= 1
    is_arn = isinstance(version, str) and version.startswith("arn:")
    if not (is_number or is_arn):
        raise ApprovalError(
            f"version must be a version number (an int >= 1) or a model package ARN of tenant "
            f"{tenant_id!r}; got {version!r} ({type(version).__name__}): nothing was changed"
        )
    if isinstance(version, str) and version.startswith("arn:"):
        try:
            found = describe_version(session, version, with_metrics=False)
        except ClientError as exc:
            raise ApprovalError(
                f"model version {version} does not exist: {exc.response['Error']['Message']}"
            ) from None
        if found.group != group:
            raise ApprovalError(
                f"model version {version} belongs to group {found.group!r}"
                f", not to tenant {tenant_id!r} (group {group!r}): refused"
            )
        return found
    matches = [v for v in list_versions(session, group, with_metrics=False) if v.version == version]
    if not matches:
        raise ApprovalError(f"tenant {tenant_id!r} has no model version {version} in {group}")
    return matches[0]


def _decide(
    session: AwsSession,
    tenant_id: str,
    version: int | str,
    decision: str,
    comment: str,
    prefix: str,
) -> ModelVersion:
    target = resolve_version(session, tenant_id, version, prefix)
    session.client("sagemaker").update_model_package(
        ModelPackageArn=target.arn,
        ModelApprovalStatus=DECISIONS[decision],
        ApprovalDescription=comment or f"{DECISIONS[decision]} for tenant {tenant_id}",
    )
    return resolve_version(session, tenant_id, target.arn, prefix)


def approve(
    session: AwsSession,
    tenant_id: str,
    version: int | str,
    comment: str = "",
    prefix: str = DEFAULT_PREFIX,
) -> ModelVersion:
    """Approve the tenant's version (number or ARN) with a comment; it becomes deployable."""
    return _decide(session, tenant_id, version, "approve", comment, prefix)


def reject(
    session: AwsSession,
    tenant_id: str,
    version: int | str,
    comment: str = "",
    prefix: str = DEFAULT_PREFIX,
) -> ModelVersion:
    """Reject the tenant's version (number or ARN) with a comment; it will not be deployed."""
    return _decide(session, tenant_id, version, "reject", comment, prefix)


def latest_version(
    session: AwsSession, tenant_id: str, status: str | None = None, prefix: str = DEFAULT_PREFIX
) -> ModelVersion | None:
    """The newest version (optionally only those with ModelApprovalStatus `status`)."""
    for v in list_versions(session, _group(tenant_id, prefix)):
        if status is None or v.status == status:
            return v
    return None
