"""Onboard, describe and offboard tenants through the platform's state machines.

Every change to a tenant goes through a state machine (create / deploy / delete), so the same
audited path runs on AWS and on localaws; these helpers start an execution, show its progress,
and turn a failed execution into a TenantError carrying the execution's error and cause.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TextIO

import pandas as pd
from botocore.exceptions import ClientError

from helpers import data as tenant_data
from helpers.naming import (
    DEFAULT_PREFIX,
    DEFAULT_TABLE,
    RAW_DATA_KEY,
    TENANT_TAG,
    endpoint_name,
    is_deployment_of,
    model_package_group,
    state_machine_name,
    tenant_bucket,
    tenant_role_name,
    validate_tenant_id,
)
from helpers.session import AwsSession


class TenantError(RuntimeError):
    """A tenant operation failed; `error` and `cause` are the execution's (or ours)."""

    def __init__(
        self, message: str, error: str = "", cause: str = "", execution_arn: str | None = None
    ):
        super().__init__(message)
        self.error = error
        self.cause = cause
        self.execution_arn = execution_arn


class TenantExists(TenantError):
    """Creating a tenant whose name is taken."""


class TenantNotFound(TenantError):
    """Describing or deleting a tenant that does not exist."""


@dataclass
class Execution:
    """A finished state machine execution."""

    arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    states: list[str]
    seconds: float


# ----- state machine executions


def state_machine_arn(session: AwsSession, kind: str) -> str:
    """ARN of the platform's `kind` ("create", "deploy", "delete") state machine."""
    region = session.region
    partition = (
        "aws-cn"
        if region.startswith("cn-")
        else "aws-us-gov"
        if region.startswith("us-gov-")
        else "aws"
    )
    return (
        f"arn:{partition}:states:{session.region}:{session.account_id}:stateMachine:"
        f"{state_machine_name(kind)}"
    )


def run_state_machine(
    session: AwsSession,
    kind: str,
    payload: dict,
    *,
    name_hint: str = "",
    progress: bool | TextIO = True,
    timeout: float = 900,
) -> Execution:
    """Start the `kind` state machine with `payload`, wait for it to finish and return it.

    With `progress`, each state is printed as the execution enters it (to stdout, or to the
    given stream).
    """
    sfn = session.client("stepfunctions")
    stream = sys.stdout if progress is True else (progress or None)
    name = f"{kind}-{name_hint}-{uuid.uuid4().hex[:12]}".replace("--", "-")[:80]
    started = time.monotonic()
    machine = state_machine_arn(session, kind)
    try:
        arn = sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))[
            "executionArn"
        ]
    except sfn.exceptions.ExecutionAlreadyExists:
        # The name is fresh, so the execution is this call's own: an earlier attempt that
        # boto3 retried (e.g. after a read timeout) had already started it.
        arn = machine.replace(":stateMachine:", ":execution:", 1) + f":{name}"
    seen: list[str] = []
    delay = 0.02
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if stream:
            _report_states(sfn, arn, seen, stream)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() - started > timeout:
            raise TenantError(
                f"{kind} execution {arn} still running after {timeout:.0f}s",
                error="Timeout",
                execution_arn=arn,
            )
        time.sleep(delay)
        # Poll briskly while an execution is young (most finish in well under a second).
        delay = min(delay * 1.3, 0.1 if time.monotonic() - started < 10 else 1.0)
    if not stream:
        seen = _entered_states(sfn, arn)
    output = described.get("output")
    return Execution(
        arn=arn,
        status=described["status"],
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        states=seen,
        seconds=time.monotonic() - started,
    )


def _entered_states(sfn, arn: str) -> list[str]:
    states, token = [], None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kwargs)
        states += [
            e["stateEnteredEventDetails"]["name"]
            for e in page["events"]
            if "stateEnteredEventDetails" in e
        ]
        token = page.get("nextToken")
        if not token:
            return states


def _report_states(sfn, arn: str, seen: list[str], stream: TextIO) -> None:
    states = _entered_states(sfn, arn)
    for state in states[len(seen) :]:
        print(f"  -> {state}", file=stream, flush=True)
    seen[:] = states


def _raise_for(execution: Execution, what: str) -> None:
    if execution.status == "SUCCEEDED":
        return
    error = execution.error or execution.status
    cause = execution.cause or ""
    cls = {"TenantAlreadyExists": TenantExists, "TenantNotFound": TenantNotFound}.get(
        error, TenantError
    )
    raise cls(
        f"{what} failed: {error}: {cause}", error=error, cause=cause, execution_arn=execution.arn
    )


# ----- tenant lifecycle


def get_tenant_item(
    session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE
) -> dict[str, str] | None:
    """The tenant's table item as {attribute: value}, or None."""
    item = (
        session.client("dynamodb")
        .get_item(TableName=table_name, Key={"tenant-name": {"S": tenant_id}}, ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return None
    return {key: next(iter(value.values())) for key, value in item.items()}


def list_tenants(session: AwsSession, table_name: str = DEFAULT_TABLE) -> pd.DataFrame:
    """Every tenant item of the table, one row per tenant, sorted by name."""
    rows = []
    for page in session.client("dynamodb").get_paginator("scan").paginate(TableName=table_name):
        rows += [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
    frame = pd.DataFrame(rows)
    return frame.sort_values("tenant-name").reset_index(drop=True) if rows else frame


def create_tenant(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    progress: bool | TextIO = True,
) -> dict:
    """Onboard `tenant_id` through the create state machine; return describe_tenant's view.

    An invalid id or an existing tenant raises before anything starts (the state machine
    checks both again, atomically for duplicates).
    """
    validate_tenant_id(tenant_id)
    if get_tenant_item(session, tenant_id, table_name) is not None:
        raise TenantExists(
            f"tenant {tenant_id!r} already exists; nothing was changed", error="TenantAlreadyExists"
        )
    execution = run_state_machine(
        session, "create", {"tenant": {"name": tenant_id}}, name_hint=tenant_id, progress=progress
    )
    _raise_for(execution, f"creating tenant {tenant_id!r}")
    return describe_tenant(session, tenant_id, table_name)


def delete_tenant(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    progress: bool | TextIO = True,
) -> Execution:
    """Offboard `tenant_id` through the delete state machine (everything it owns goes)."""
    validate_tenant_id(tenant_id)
    execution = run_state_machine(
        session, "delete", {"tenant": {"name": tenant_id}}, name_hint=tenant_id, progress=progress
    )
    _raise_for(execution, f"deleting tenant {tenant_id!r}")
    return execution


def describe_tenant(session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE) -> dict:
    """The tenant's table item, bucket (settings and objects) and model package group."""
    item = get_tenant_item(session, validate_tenant_id(tenant_id), table_name)
    if item is None:
        raise TenantNotFound(
            f"tenant {tenant_id!r} not found in table {table_name!r}", error="TenantNotFound"
        )
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
    item = get_tenant_item(session, validate_tenant_id(tenant_id), table_name)
    if item is None:
        raise TenantNotFound(
            f"tenant {tenant_id!r} not found in table {table_name!r}", error="TenantNotFound"
        )
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
    return found
