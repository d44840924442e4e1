"""Batch scoring: a tenant's whole customer file through a real SageMaker batch transform job.

`score_batch` checks the records with the upload's rules (`churn_schema.validate_records`:
nothing is uploaded if a record is bad), uploads them to the tenant's bucket (CSV rows in the
upload's column order without the label, or JSON Lines by column name), runs a transform job
with the tenant's model - the deployed version's model, else a model of the latest approved
version, which runs under the tenant's role as the endpoint does - shows its progress, and
writes the churn list (customer, probability, highest first) beside its input in the tenant's
bucket. Everything is under `batch/{job name}/` there:
`input/customers.csv|jsonl`, `output/customers.*.out`, `churn-list.csv`.
"""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.approval import latest_version
from helpers.errors import ApprovalError, BatchScoringError
from helpers.naming import DEFAULT_PREFIX, DEFAULT_TABLE, TENANT_TAG, deployment_name
from helpers.progress import Progress, ProgressTarget
from helpers.session import AwsSession
from helpers.storage import split_s3_uri
from helpers.tenant_table import tenant_item
from pipeline_steps import churn_schema as schema

__all__ = ["BatchScoringError", "read_records", "run_transform", "score_batch", "tenant_model"]

CUSTOMER_ID = "Phone"  # the upload's customer identifier (the model ignores it)
BATCH_PREFIX = "batch"
_FORMATS = {"csv": "text/csv", "jsonl": "application/jsonlines"}


def read_records(source: Any) -> tuple[pd.DataFrame, str]:
    """(records as checked text cells in INPUT_COLUMNS order, "csv" | "jsonl") of a source:
    a DataFrame, a CSV file (header line first, label optional) or a JSON Lines file
    (`.jsonl`, one record per line by column name). DataValidationError names what is wrong."""
    if isinstance(source, pd.DataFrame):
        return schema.validate_records(source), "csv"
    path = Path(source)
    name, raw = schema.load(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows, lines = [], []
        for number, line in enumerate(schema.decode(raw, name).split("\n"), 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise schema.DataError(f"{name}, line {number}: not JSON: {exc}") from None
                if not isinstance(record, dict):
                    raise schema.DataError(
                        f"{name}, line {number}: a record must be an object by column name"
                    )
                rows.append(record)
                lines.append(number)
        try:
            frame = pd.DataFrame(rows)
        except UnicodeEncodeError:  # a lone surrogate ("\ud800"), which no Arrow string holds
            frame = pd.DataFrame(rows, dtype=object)  # the checks name its cell

        def where(row: int) -> str:
            return f"record {row + 1} (line {lines[row]})"

        return schema.validate_records(frame, where), "jsonl"
    frame, _ = schema.read_csv_files([(name, raw)])
    return schema.validate_records(frame), "csv"


def _body(records: pd.DataFrame, kind: str) -> bytes:
    if kind == "jsonl":
        return records.to_json(orient="records", lines=True).encode()
    return records.to_csv(index=False, header=False).encode()


def tenant_model(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    prefix: str = DEFAULT_PREFIX,
) -> str:
    """The SageMaker model to score with: the deployed version's (its endpoint config's), else
    a model of the latest Approved version (created once, named and tagged as deployments are,
    so deleting the tenant removes it). ApprovalError if the tenant has no approved version."""
    item = tenant_item(session, tenant_id, table_name, required=("tenant-role",))
    sm = session.client("sagemaker")
    if config := item.get("tenant-endpoint-config"):
        try:
            variants = sm.describe_endpoint_config(EndpointConfigName=config)
            return str(variants["ProductionVariants"][0]["ModelName"])
        except sm.exceptions.ClientError:
            pass  # the deployment's config is gone: score with the approved version instead
    version = latest_version(session, tenant_id, "Approved", prefix)
    if version is None:
        raise ApprovalError(
            f"tenant {tenant_id!r} has no approved model version to score with; approve one "
            "(notebook 03, approval.approve) first"
        )
    for model in sm.list_models(NameContains=f"{prefix}-{tenant_id}-v{version.version}-")["Models"]:
        described = sm.describe_model(ModelName=model["ModelName"])
        if described.get("PrimaryContainer", {}).get("ModelPackageName") == version.arn:
            return str(model["ModelName"])
    name = deployment_name(tenant_id, version.version, datetime.now(UTC), prefix)
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=item["tenant-role"],
        PrimaryContainer={"ModelPackageName": version.arn},
        Tags=[{"Key": TENANT_TAG, "Value": tenant_id}],
    )
    return name


def run_transform(
    session: AwsSession,
    job_name: str,
    model_name: str,
    input_uri: str,
    output_uri: str,
    content_type: str,
    progress: ProgressTarget = True,
    timeout: float = 3600,
) -> dict:
    """Run one transform job (Line split, MultiRecord, CSV out) to its end with progress; its
    DescribeTransformJob answer. BatchScoringError with the job's FailureReason if it fails."""
    sm = session.client("sagemaker")
    sm.create_transform_job(
        TransformJobName=job_name,
        ModelName=model_name,
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=6,
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": content_type,
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": output_uri, "Accept": "text/csv", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    )
    line, started = Progress(progress), time.monotonic()
    while True:
        job = sm.describe_transform_job(TransformJobName=job_name)
        status = job["TransformJobStatus"]
        elapsed = time.monotonic() - started
        if status not in ("InProgress", "Stopping"):
            break
        line.update(f"transform job {job_name}: {status}, {elapsed:.0f}s")
        if elapsed > timeout:
            sm.stop_transform_job(TransformJobName=job_name)
            raise BatchScoringError(f"transform job {job_name} still {status} after {timeout:.0f}s")
        time.sleep(0.5 if elapsed < 10 else 2)
    line.finish(f"transform job {job_name}: {status} in {elapsed:.1f}s")
    if status != "Completed":
        raise BatchScoringError(
            f"transform job {job_name} {status}: {job.get('FailureReason', 'no reason given')}"
        )
    return job


def score_batch(
    session: AwsSession,
    tenant_id: str,
    records: Any,
    table_name: str = DEFAULT_TABLE,
    prefix: str = DEFAULT_PREFIX,
    progress: ProgressTarget = True,
    timeout: float = 3600,
) -> pd.DataFrame:
    """Score a tenant's customer records (see `read_records`) with its approved model through a
    batch transform job: the churn list (customer, churn_probability), highest first, also
    written to the tenant's bucket; its `attrs` hold `uri` (that object), `job_name`,
    `model_name` and `seconds` (the job's run time). DataValidationError (bad records: nothing
    uploaded), ApprovalError (no approved version), BatchScoringError (the job failed, with
    its reason)."""
    frame, kind = read_records(records)
    item = tenant_item(session, tenant_id, table_name, required=("tenant-bucket",))
    model = tenant_model(session, tenant_id, table_name, prefix)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    job_name = f"{prefix}-{tenant_id}-batch-{stamp}-{time.time_ns() % 10**6:06d}"
    base = f"s3://{item['tenant-bucket']}/{BATCH_PREFIX}/{job_name}"
    s3 = session.client("s3")
    bucket, key = split_s3_uri(f"{base}/input/customers.{kind}")
    s3.put_object(Bucket=bucket, Key=key, Body=_body(frame, kind))
    job = run_transform(
        session,
        job_name,
        model,
        f"{base}/input/",
        f"{base}/output",
        _FORMATS[kind],
        progress,
        timeout,
    )
    out = s3.get_object(Bucket=bucket, Key=f"{BATCH_PREFIX}/{job_name}/output/customers.{kind}.out")
    scores = pd.read_csv(io.BytesIO(out["Body"].read()), header=None)[0].astype(float)
    if len(scores) != len(frame):
        raise BatchScoringError(
            f"transform job {job_name} answered {len(scores)} scores for {len(frame)} records"
        )
    churn = pd.DataFrame(
        {"customer": frame[CUSTOMER_ID].to_numpy(), "churn_probability": scores.to_numpy()}
    ).sort_values("churn_probability", ascending=False, kind="stable", ignore_index=True)
    list_key = f"{BATCH_PREFIX}/{job_name}/churn-list.csv"
    s3.put_object(Bucket=bucket, Key=list_key, Body=churn.to_csv(index=False).encode())
    churn.attrs = {
        "uri": f"s3://{bucket}/{list_key}",
        "job_name": job_name,
        "model_name": model,
        "seconds": (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds(),
    }
    return churn
