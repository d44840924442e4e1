"""Deploy a tenant's approved model version through the deploy state machine, and call it.

`deploy()` starts `sm-multitenant-deploy-tenant-statemachine` (input `{"tenant": {"name": ...}}`
plus an optional `modelPackageArn` and `tier`), shows its progress and returns what it deployed,
or raises DeployError with the state machine's own reason.
Rollback = `deploy(..., version=<earlier>)`.
A dedicated tenant is served by its own endpoint; a pooled one by the shared multi-model
endpoint as its `TargetModel` (both recorded in the tenant item, which `invoke` follows).

The endpoint takes customer records as the tenant uploaded them: `invoke` sends DataFrame rows
or dicts (by column name, label optional), `sample_rows` gives raw test records of the deployed
version with their labels, `input_schema` what a version expects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.approval import resolve_version
from helpers.errors import ApprovalError, DeployError, InvalidTier
from helpers.executions import run_state_machine
from helpers.naming import (
    DEFAULT_PREFIX,
    DEFAULT_TABLE,
    PIPELINE_OUTPUT_PREFIX,
    endpoint_name,
    tier_problem,
)
from helpers.progress import ProgressTarget
from helpers.session import AwsSession
from helpers.storage import read_s3_json
from helpers.tenant_table import tenant_item

__all__ = [
    "DeployError",
    "Deployment",
    "deploy",
    "endpoint_status",
    "input_schema",
    "invoke",
    "sample_rows",
    "tenant_item",
]


@dataclass
class Deployment:
    tenant: str
    endpoint: str
    model_package_arn: str
    version: int
    endpoint_config: str
    test_prediction: float
    test_label: str
    execution_arn: str
    seconds: float
    tier: str = "dedicated"
    target_model: str | None = None  # pooled: the TargetModel on the shared endpoint


def deploy(
    session: AwsSession,
    tenant_id: str,
    version: int | str | None = None,
    timeout: float = 1800,
    progress: ProgressTarget = True,
    prefix: str = DEFAULT_PREFIX,
    table_name: str = DEFAULT_TABLE,
    tier: str | None = None,
) -> Deployment:
    """Deploy `version` (number or ARN; default: the latest Approved) to the tenant's endpoint.

    `tier` ("dedicated" or "pooled"; default: the tenant's tenant-tier) moves the tenant to that
    tier, removing what the old one used. TenantNotFound if the tenant is not in the table,
    InvalidTier, ApprovalError if `version` is not one of its versions, DeployError with the
    state machine's error and cause if the deploy fails.
    """
    if tier is not None and (problem := tier_problem(tier)):
        raise InvalidTier(f"tier: {problem}; nothing was changed", error="InvalidTier")
    tenant_item(session, tenant_id, table_name)
    payload: dict[str, Any] = {"tenant": {"name": tenant_id}}
    if tier is not None:
        payload["tier"] = tier
    if version is not None:
        payload["modelPackageArn"] = resolve_version(session, tenant_id, version, prefix).arn
    execution = run_state_machine(
        session, "deploy", payload, name_hint=tenant_id, progress=progress, timeout=timeout
    ).check(f"deploying tenant {tenant_id!r}", DeployError)
    out = execution.output or {}
    return Deployment(
        tenant=out["tenant"],
        endpoint=out["endpoint"],
        model_package_arn=out["modelPackageArn"],
        version=int(out["version"]),
        endpoint_config=out["endpointConfig"],
        test_prediction=float(out["testPrediction"]),
        test_label=str(out["testLabel"]),
        execution_arn=execution.arn,
        seconds=execution.seconds,
        tier=str(out.get("tier", "dedicated")),
        target_model=out.get("targetModel") or None,
    )


def _serving(
    session: AwsSession, tenant_id: str, prefix: str, table_name: str
) -> tuple[str, str, str | None]:
    """(tier, endpoint, TargetModel or None) of the tenant, as its item records them."""
    item = tenant_item(session, tenant_id, table_name)
    if item.get("tenant-tier") == "pooled" and "tenant-target-model" in item:
        return "pooled", item["tenant-endpoint"], item["tenant-target-model"]
    return "dedicated", endpoint_name(tenant_id, prefix), None


def endpoint_status(
    session: AwsSession,
    tenant_id: str,
    prefix: str = DEFAULT_PREFIX,
    table_name: str = DEFAULT_TABLE,
) -> dict:
    """What serves the tenant: its tier, the endpoint's status and config, and the model (its
    own endpoint's model, or the TargetModel on the shared multi-model endpoint)."""
    tier, endpoint, target = _serving(session, tenant_id, prefix, table_name)
    sm = session.client("sagemaker")
    desc = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    model = config["ProductionVariants"][0]["ModelName"]
    container = sm.describe_model(ModelName=model)["PrimaryContainer"]
    package = container.get("ModelPackageName", "")
    if target is not None:
        package = tenant_item(session, tenant_id, table_name).get("tenant-deployed-version", "")
    return {
        "Tier": tier,
        "EndpointName": desc["EndpointName"],
        "EndpointStatus": desc["EndpointStatus"],
        "EndpointConfigName": desc["EndpointConfigName"],
        "ModelName": model,
        "TargetModel": target or "",
        "ModelPackage": package,
        "FailureReason": desc.get("FailureReason", ""),
    }


def _records_body(records: Any) -> str:
    """Raw records (DataFrame, one dict, or a list of dicts) as a JSON array of objects."""
    if isinstance(records, pd.DataFrame):
        return str(records.to_json(orient="records"))
    if isinstance(records, Mapping):
        records = [records]
    if isinstance(records, pd.Series):
        records = [records.to_dict()]

    def plain(value: Any) -> Any:
        return value.item() if isinstance(value, np.generic) else str(value)

    return json.dumps([dict(r) for r in records], default=plain)


def invoke(
    session: AwsSession,
    tenant_id: str,
    records: Any,
    prefix: str = DEFAULT_PREFIX,
    table_name: str = DEFAULT_TABLE,
) -> list[float]:
    """Churn probabilities of raw customer records from the tenant's endpoint (pooled: its
    TargetModel on the shared endpoint, as the tenant item records it).

    `records`: a DataFrame (rows as uploaded, any column order; the label column is ignored),
    a dict or a list of dicts keyed by column name. A bad record raises botocore's ClientError
    (ModelError, HTTP 400) whose message names the record, the field and the problem.
    """
    _, endpoint, target = _serving(session, tenant_id, prefix, table_name)
    answer = session.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint,
        ContentType="application/json",
        Accept="application/json",
        Body=_records_body(records),
        **({"TargetModel": target} if target else {}),
    )
    return [float(v) for v in json.loads(answer["Body"].read())["predictions"]]


def _deployed_version(item: dict, tenant_id: str) -> str:
    """The ARN of the version the tenant's item records as deployed."""
    if "tenant-deployed-version" not in item:
        raise ApprovalError(f"tenant {tenant_id!r} has no deployment yet")
    return str(item["tenant-deployed-version"])


def sample_rows(
    session: AwsSession, tenant_id: str, n: int = 5, table_name: str = DEFAULT_TABLE
) -> tuple[pd.Series, pd.DataFrame]:
    """Up to `n` (at most 20) raw test records of the deployed version: (labels 0/1, records).

    The records are as the tenant uploaded them (upload column order, without the label), from
    the test split of the pipeline execution that built the version (`test/sample.json`).
    """
    item = tenant_item(session, tenant_id, table_name)
    package = session.client("sagemaker").describe_model_package(
        ModelPackageName=_deployed_version(item, tenant_id)
    )
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    execution = uri.split("/")[-3]  # s3://bucket/pipeline/{execution}/evaluation/evaluation.json
    sample = read_s3_json(
        session,
        f"s3://{item['tenant-bucket']}/{PIPELINE_OUTPUT_PREFIX}/{execution}/test/sample.json",
    )
    records = pd.DataFrame(sample["rows"][:n], columns=sample["columns"])
    return pd.Series(sample["labels"][:n], name="label"), records


def input_schema(
    session: AwsSession,
    tenant_id: str,
    model_package_arn: str | None = None,
    table_name: str = DEFAULT_TABLE,
) -> pd.DataFrame:
    """What a version expects (default: the deployed one): one row per input column.

    From the version's CustomerMetadataProperties["input-schema"] (the features Preprocess
    learned from the tenant's training split): position in a header-less CSV row, the rule
    its values follow, and how the model uses it (number, category with the values learned,
    or ignored).
    """
    arn = model_package_arn or _deployed_version(
        tenant_item(session, tenant_id, table_name), tenant_id
    )
    package = session.client("sagemaker").describe_model_package(ModelPackageName=arn)
    uri = package.get("CustomerMetadataProperties", {}).get("input-schema")
    if not uri:
        raise ApprovalError(f"model version {arn} records no input schema (built before it)")
    params = read_s3_json(session, uri)
    categories = params["categories"]

    def use(column: str) -> str:
        if column in categories:
            values = categories[column]
            shown = ", ".join(values[:8]) + (", ..." if len(values) > 8 else "")
            return f"category ({len(values)} learned: {shown}; others: none of them)"
        return "number" if column in params["numeric"] else "ignored"

    return pd.DataFrame(
        [
            {"column": c, "expected": params["rules"].get(c, ""), "model uses it as": use(c)}
            for c in params["input_columns"]
        ],
        index=pd.RangeIndex(1, len(params["input_columns"]) + 1, name="position"),
    )
