"""Deploy a tenant's approved model version through the deploy state machine, and call it.

`deploy()` starts `sm-multitenant-deploy-tenant-statemachine` (input `{"tenant": {"name": ...}}`
plus an optional `modelPackageArn`), shows its progress and returns what it deployed, or raises
DeployError with the state machine's own reason. Rollback = `deploy(..., version=<earlier>)`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.approval import resolve_version
from helpers.errors import ApprovalError, DeployError
from helpers.executions import run_state_machine
from helpers.naming import DEFAULT_PREFIX, DEFAULT_TABLE, PIPELINE_OUTPUT_PREFIX, endpoint_name
from helpers.progress import ProgressTarget
from helpers.session import AwsSession
from helpers.tenant_table import tenant_item

__all__ = [
    "DeployError",
    "Deployment",
    "deploy",
    "endpoint_status",
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


def deploy(
    session: AwsSession,
    tenant_id: str,
    version: int | str | None = None,
    timeout: float = 1800,
    progress: ProgressTarget = True,
    prefix: str = DEFAULT_PREFIX,
    table_name: str = DEFAULT_TABLE,
) -> Deployment:
    """Deploy `version` (number or ARN; default: the latest Approved) to the tenant's endpoint.

    TenantNotFound if the tenant is not in the table, ApprovalError if `version` is not one of
    its versions, DeployError with the state machine's error and cause if the deploy fails.
    """
    tenant_item(session, tenant_id, table_name)
    payload: dict[str, Any] = {"tenant": {"name": tenant_id}}
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
    )


def endpoint_status(session: AwsSession, tenant_id: str, prefix: str = DEFAULT_PREFIX) -> dict:
    """The tenant endpoint's status, config and the model it serves."""
    sm = session.client("sagemaker")
    desc = sm.describe_endpoint(EndpointName=endpoint_name(tenant_id, prefix))
    config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    model = config["ProductionVariants"][0]["ModelName"]
    container = sm.describe_model(ModelName=model)["PrimaryContainer"]
    return {
        "EndpointName": desc["EndpointName"],
        "EndpointStatus": desc["EndpointStatus"],
        "EndpointConfigName": desc["EndpointConfigName"],
        "ModelName": model,
        "ModelPackage": container.get("ModelPackageName", ""),
        "FailureReason": desc.get("FailureReason", ""),
    }


def invoke(
    session: AwsSession, tenant_id: str, rows: Any, prefix: str = DEFAULT_PREFIX
) -> list[float]:
    """Churn probabilities of `rows` (feature rows: DataFrame, array or lists) from the endpoint."""
    data = np.asarray(rows, dtype=float)
    if data.ndim == 1:
        data = data.reshape(1, -1)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in data)
    answer = session.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name(tenant_id, prefix),
        ContentType="text/csv",
        Accept="text/csv",
        Body=body,
    )
    return [float(v) for v in answer["Body"].read().decode().split()]


def sample_rows(
    session: AwsSession, tenant_id: str, n: int = 5, table_name: str = DEFAULT_TABLE
) -> tuple[pd.Series, pd.DataFrame]:
    """The first `n` rows of the test split of the tenant's deployed version: (labels, features)."""
    item = tenant_item(session, tenant_id, table_name)
    if "tenant-deployed-version" not in item:
        raise ApprovalError(f"tenant {tenant_id!r} has no deployment yet")
    package = session.client("sagemaker").describe_model_package(
        ModelPackageName=item["tenant-deployed-version"]
    )
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    execution = uri.split("/")[-3]  # s3://bucket/pipeline/{execution}/evaluation/evaluation.json
    body = (
        session.client("s3")
        .get_object(
            Bucket=item["tenant-bucket"], Key=f"{PIPELINE_OUTPUT_PREFIX}/{execution}/test/test.csv"
        )["Body"]
        .read()
    )
    frame = pd.read_csv(io.BytesIO(body), header=None, nrows=n)
    return frame.iloc[:, 0].astype(int), frame.iloc[:, 1:]
