"""Deploy a tenant's approved model version through the deploy state machine, and call it.

`deploy()` starts `sm-multitenant-deploy-tenant-statemachine` (input `{"tenant": {"name": ...}}`
plus an optional `modelPackageArn`), shows its progress and returns what it deployed, or raises
DeployError with the state machine's own reason. Rollback = `deploy(..., version=<earlier>)`.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from datetime import datetime

from helpers.approval import ApprovalError, resolve_version
from helpers.naming import (
    DEFAULT_PREFIX,
    DEFAULT_TABLE,
    PIPELINE_OUTPUT_PREFIX,
    endpoint_name,
    state_machine_name,
    validate_tenant_id,
)


class DeployError(RuntimeError):
    """The deployment failed; the previous deployment (if any) keeps serving."""

    def __init__(self, error: str, cause: str, execution_arn: str):
        super().__init__(f"{error}: {cause}")
        self.error, self.cause, self.execution_arn = error, cause, execution_arn


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


def state_machine_arn(aws) -> str:
    name = state_machine_name("deploy")
    return f"arn:aws:states:{aws.region}:{aws.account_id}:stateMachine:{name}"


def _progress(aws, execution_arn: str, seen: set, show: bool) -> None:
    if not show:
        return
    events = aws.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details and event["id"] not in seen:
            seen.add(event["id"])
            print(f"  {event['timestamp']:%H:%M:%S}  {details['name']}", flush=True)


def deploy(
    aws,
    tenant_id: str,
    version: int | str | None = None,
    timeout: float = 1800,
    poll: float = 0.1,
    progress: bool = True,
    prefix: str = DEFAULT_PREFIX,
) -> Deployment:
    """Deploy `version` (number or ARN; default: the latest Approved) to the tenant's endpoint."""
    validate_tenant_id(tenant_id)
    payload: dict = {"tenant": {"name": tenant_id}}
    if version is not None:
        payload["modelPackageArn"] = resolve_version(aws, tenant_id, version, prefix).arn
    sfn = aws.client("stepfunctions")
    started = time.monotonic()
    name = f"deploy-{tenant_id}-{datetime.now():%Y%m%d%H%M%S%f}"[:80]
    arn = sfn.start_execution(
        stateMachineArn=state_machine_arn(aws), name=name, input=json.dumps(payload)
    )["executionArn"]
    if progress:
        target = payload.get("modelPackageArn", "the latest Approved version")
        print(f"deploying {target} for tenant {tenant_id} ({name})", flush=True)
    seen: set = set()
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        _progress(aws, arn, seen, progress)
        if desc["status"] != "RUNNING":
            break
        if time.monotonic() - started > timeout:
            raise DeployError("Timeout", f"still running after {timeout:.0f}s", arn)
        time.sleep(poll)
    seconds = time.monotonic() - started
    if desc["status"] != "SUCCEEDED":
        raise DeployError(
            desc.get("error", desc["status"]), desc.get("cause", "no cause recorded"), arn
        )
    out = json.loads(desc["output"])
    if progress:
        print(
            f"deployed version {out['version']} to {out['endpoint']} in {seconds:.1f}s "
            f"(test row: label {out['testLabel']}, prediction {out['testPrediction']:.4f})"
        )
    return Deployment(
        tenant=out["tenant"],
        endpoint=out["endpoint"],
        model_package_arn=out["modelPackageArn"],
        version=int(out["version"]),
        endpoint_config=out["endpointConfig"],
        test_prediction=float(out["testPrediction"]),
        test_label=str(out["testLabel"]),
        execution_arn=arn,
        seconds=seconds,
    )


def tenant_item(aws, tenant_id: str, table_name: str = DEFAULT_TABLE) -> dict:
    """The tenant's table item as plain {attribute: value}."""
    item = (
        aws.client("dynamodb")
        .get_item(
            TableName=table_name,
            Key={"tenant-name": {"S": validate_tenant_id(tenant_id)}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    if item is None:
        raise ApprovalError(f"tenant {tenant_id!r} does not exist in table {table_name}")
    return {k: next(iter(v.values())) for k, v in item.items()}


def endpoint_status(aws, tenant_id: str, prefix: str = DEFAULT_PREFIX) -> dict:
    """The tenant endpoint's status, config and the model it serves."""
    sm = aws.client("sagemaker")
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


def invoke(aws, tenant_id: str, rows, prefix: str = DEFAULT_PREFIX) -> list[float]:
    """Churn probabilities of `rows` (feature rows: DataFrame, array or lists) from the endpoint."""
    import numpy as np

    data = np.asarray(rows, dtype=float)
    if data.ndim == 1:
        data = data.reshape(1, -1)
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in data)
    answer = aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint_name(tenant_id, prefix),
        ContentType="text/csv",
        Accept="text/csv",
        Body=body,
    )
    return [float(v) for v in answer["Body"].read().decode().split()]


def sample_rows(aws, tenant_id: str, n: int = 5, table_name: str = DEFAULT_TABLE):
    """The first `n` rows of the test split of the tenant's deployed version: (labels, features)."""
    import pandas as pd

    item = tenant_item(aws, tenant_id, table_name)
    if "tenant-deployed-version" not in item:
        raise ApprovalError(f"tenant {tenant_id!r} has no deployment yet")
    package = aws.client("sagemaker").describe_model_package(
        ModelPackageName=item["tenant-deployed-version"]
    )
    uri = package["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    execution = uri.split("/")[-3]  # s3://bucket/pipeline/{execution}/evaluation/evaluation.json
    body = (
        aws.client("s3")
        .get_object(
            Bucket=item["tenant-bucket"], Key=f"{PIPELINE_OUTPUT_PREFIX}/{execution}/test/test.csv"
        )["Body"]
        .read()
    )
    frame = pd.read_csv(io.BytesIO(body), header=None, nrows=n)
    return frame.iloc[:, 0].astype(int), frame.iloc[:, 1:]
