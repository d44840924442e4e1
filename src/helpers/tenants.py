"""Onboard, describe and offboard tenants through the platform's state machines.

Every change to a tenant goes through a state machine (create / deploy / delete), so the same
audited path runs on AWS and on localaws; these helpers start an execution, show its progress,
and turn a failed execution into a TenantError carrying the execution's error and cause.
"""

from __future__ import annotations

import pandas as pd
from botocore.exceptions import ClientError

from helpers import data as tenant_data
from helpers.errors import InvalidTier, TenantError, TenantExists, TenantNotFound
from helpers.executions import Execution, run_state_machine
from helpers.naming import (
    DEFAULT_PREFIX,
    DEFAULT_TABLE,
    RAW_DATA_KEY,
    TENANT_TAG,
    endpoint_name,
    is_deployment_of,
    model_package_group,
    pool_bucket,
    tenant_bucket,
    tenant_role_name,
    tier_problem,
    validate_tenant_id,
)
from helpers.progress import ProgressTarget
from helpers.session import AwsSession
from helpers.tenant_table import get_tenant_item, list_tenants, tenant_item

__all__ = [
    "Execution",
    "TenantError",
    "TenantExists",
    "TenantNotFound",
    "create_tenant",
    "delete_tenant",
    "describe_tenant",
    "get_tenant_item",
    "list_tenants",
    "run_state_machine",
    "tenant_item",
    "tenant_leftovers",
    "tenant_summary",
    "upload_tenant_data",
]


def create_tenant(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    progress: ProgressTarget = True,
    tier: str = "dedicated",
) -> dict:
    """Onboard `tenant_id` through the create state machine; return describe_tenant's view.

    `tier`: "dedicated" (its own endpoint) or "pooled" (a target model on the shared
    multi-model endpoint); InvalidTier otherwise, before anything starts.

    An invalid id or an existing tenant raises before anything starts (the state machine
    checks both again, atomically for duplicates). A tenant left CREATING by an interrupted
    create is finished: the state machine takes it over once that create no longer runs.
    """
    validate_tenant_id(tenant_id)
    if problem := tier_problem(tier):
        raise InvalidTier(f"tier: {problem}; nothing was changed", error="InvalidTier")
    existing = get_tenant_item(session, tenant_id, table_name)
    if existing is not None and existing.get("tenant-status") != "CREATING":
        raise TenantExists(
            f"tenant {tenant_id!r} already exists; nothing was changed", error="TenantAlreadyExists"
        )
    run_state_machine(
        session,
        "create",
        {"tenant": {"name": tenant_id, "tier": tier}},
        name_hint=tenant_id,
        progress=progress,
    ).check(f"creating tenant {tenant_id!r}", TenantError)
    return describe_tenant(session, tenant_id, table_name)


def delete_tenant(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    progress: ProgressTarget = True,
) -> Execution:
    """Offboard `tenant_id` through the delete state machine (everything it owns goes)."""
    validate_tenant_id(tenant_id)
    return run_state_machine(
        session, "delete", {"tenant": {"name": tenant_id}}, name_hint=tenant_id, progress=progress
    ).check(f"deleting tenant {tenant_id!r} (table {table_name!r})", TenantError)


def describe_tenant(session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE) -> dict:
    """The tenant's table item, bucket (settings and objects) and model package group."""
    item = tenant_item(session, tenant_id, table_name)
    s3 = session.client("s3")
    bucket = item["tenant-bucket"]
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    public = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    group = session.client("sagemaker").describe_model_package_group(
        ModelPackageGroupName=item["tenant-modelregistry"]
    )
    return {
        "item": item,
        "bucket": {
            "name": bucket,
            "encryption": encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"][
                "SSEAlgorithm"
            ],
            "public_access_blocked": all(public.values()),
            "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status", "Disabled"),
            "tags": tags,
            "objects": [{"key": o["Key"], "size": o["Size"]} for o in objects],
        },
        "model_package_group": {
            "name": group["ModelPackageGroupName"],
            "arn": group["ModelPackageGroupArn"],
            "status": group["ModelPackageGroupStatus"],
        },
        "role": item["tenant-role"],
    }


def tenant_summary(description: dict) -> pd.DataFrame:
    """describe_tenant's result as a two-column table (for notebooks)."""
    item, bucket = description["item"], description["bucket"]
    rows = [
        ("tenant", item["tenant-name"]),
        ("status", item["tenant-status"]),
        ("tier", item.get("tenant-tier", "dedicated")),
        ("bucket", bucket["name"]),
        ("bucket encryption", bucket["encryption"]),
        ("bucket public access blocked", bucket["public_access_blocked"]),
        ("bucket versioning", bucket["versioning"]),
        ("bucket tags", ", ".join(f"{k}={v}" for k, v in sorted(bucket["tags"].items()))),
        ("objects", ", ".join(o["key"] for o in bucket["objects"]) or "(none)"),
        ("model package group", description["model_package_group"]["name"]),
        ("role", description["role"]),
    ]
    return pd.DataFrame(rows, columns=["resource", "value"])


def upload_tenant_data(
    session: AwsSession,
    tenant_id: str,
    data: pd.DataFrame | str | bytes | None = None,
    table_name: str = DEFAULT_TABLE,
    rows: int = 5000,
) -> str:
    """Validate and upload the tenant's churn data to its bucket (`data/raw/churn.csv`).

    `data` is a DataFrame, a CSV path or CSV bytes; None uploads `generate_churn(tenant_id,
    rows)`. Invalid data raises DataValidationError and uploads nothing.
    """
    item = tenant_item(session, tenant_id, table_name)
    if data is None:
        data = tenant_data.generate_churn(tenant_id, rows)
    return tenant_data.upload_churn(session.client("s3"), item["tenant-bucket"], data, RAW_DATA_KEY)


# ----- what a tenant owns, wherever it is


def tenant_leftovers(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, list[str]]:
    """Every resource of `tenant_id` that still exists, by kind (all lists empty = none).

    Looks by name AND tenant-id tag, so another tenant's look-alike names are not counted.
    """
    sm = session.client("sagemaker")
    found: dict[str, list[str]] = {}
    found["table item"] = [tenant_id] if get_tenant_item(session, tenant_id, table_name) else []
    bucket = tenant_bucket(tenant_id, session.account_id, session.region, prefix)
    try:
        session.client("s3").head_bucket(Bucket=bucket)
        found["bucket"] = [bucket]
    except ClientError:
        found["bucket"] = []
    role = tenant_role_name(tenant_id, prefix)
    try:
        session.client("iam").get_role(RoleName=role)
        found["role"] = [role]
    except ClientError:
        found["role"] = []
    group = model_package_group(tenant_id, prefix)
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
        found["model package group"] = [group]
    except ClientError:
        found["model package group"] = []
    packages = (
        sm.list_model_packages(ModelPackageGroupName=group).get("ModelPackageSummaryList", [])
        if found["model package group"]
        else []
    )
    found["model packages"] = [p["ModelPackageArn"] for p in packages]

    def owned(arn: str) -> bool:
        tags = sm.list_tags(ResourceArn=arn).get("Tags", [])
        return any(t["Key"] == TENANT_TAG and t["Value"] == tenant_id for t in tags)

    endpoint = endpoint_name(tenant_id, prefix)
    found["endpoints"] = [
        e["EndpointName"]
        for e in sm.list_endpoints(NameContains=endpoint)["Endpoints"]
        if e["EndpointName"] == endpoint and owned(e["EndpointArn"])
    ]
    found["endpoint configs"] = [
        c["EndpointConfigName"]
        for c in sm.list_endpoint_configs(NameContains=endpoint)["EndpointConfigs"]
        if is_deployment_of(c["EndpointConfigName"], tenant_id, prefix)
        and owned(c["EndpointConfigArn"])
    ]
    found["models"] = [
        m["ModelName"]
        for m in sm.list_models(NameContains=endpoint)["Models"]
        if is_deployment_of(m["ModelName"], tenant_id, prefix) and owned(m["ModelArn"])
    ]
    pool = pool_bucket(session.account_id, session.region, prefix)
    try:
        listing = session.client("s3").list_objects_v2(Bucket=pool, Prefix=f"{tenant_id}/")
    except ClientError:  # no pool bucket: a stack from before the pooled tier
        listing = {}
    found["pooled artifacts"] = [o["Key"] for o in listing.get("Contents", [])]
    return found
