"""Run the compatibility workloads against a localaws and say, per feature, whether it works.

boto3 only (no SageMaker SDK): both SDK versions' runs use it. A `Row` is one line of the
table `make compat` prints; the test asserts on the same rows.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from compat import abalone_data

REGION = "us-east-1"
INSTANCE = "ml.m5.large"
# The URIs `image_uris.retrieve("sklearn", "us-east-1", "1.2-1")` / `("xgboost", ..., "1.7-1")`
# return in both SDK versions.
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROWS = 1200  # abalone-like records per run (the UCI file has 4,177)


@dataclass
class Row:
    feature: str
    works: bool
    detail: str = ""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_tenant(session, prefix: str, bucket: str | None = None) -> tuple[str, str]:
    """A bucket (new, or `bucket` if given) with the abalone data, and a role SageMaker and
    Step Functions may assume that can use that bucket, SageMaker and logs."""
    s3, iam = session.client("s3"), session.client("iam")
    if bucket is None:
        bucket = unique(prefix)
        s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket,
        Key="abalone/raw/abalone.csv",
        Body=abalone_data.csv_text(ROWS, seed=13).encode(),
    )
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["sagemaker.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName=unique(prefix), AssumeRolePolicyDocument=json.dumps(trust))
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
            },
            {"Effect": "Allow", "Action": ["sagemaker:*", "logs:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role["Role"]["Arn"]},
        ],
    }
    iam.put_role_policy(
        RoleName=role["Role"]["RoleName"], PolicyName="abalone", PolicyDocument=json.dumps(policy)
    )
    return bucket, role["Role"]["Arn"]


def run_pipeline(sm, name: str, timeout: float = 600) -> tuple[str, dict, dict[str, dict]]:
    """Start pipeline `name` with its defaults and wait: (execution ARN, Describe, steps)."""
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    deadline = time.monotonic() + timeout
    while True:
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if execution["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"pipeline execution {arn} still running after {timeout:.0f}s")
        time.sleep(0.5)
    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return arn, execution, {s["StepName"]: s for s in listed}


def _find(steps: dict[str, dict], name: str) -> dict | None:
    """Step `name`, or the one SDK v2's ModelStep named `<name>-RegisterModel` and so on."""
    return steps.get(name) or next(
        (step for key, step in steps.items() if key.startswith(f"{name}-")), None
    )


def _step_row(feature: str, steps: dict[str, dict], name: str) -> Row:
    step = _find(steps, name)
    if step is None:
        return Row(feature, False, f"step {name} did not run")
    if step["StepStatus"] != "Succeeded":
        return Row(feature, False, f"{name} {step['StepStatus']}: {step.get('FailureReason', '')}")
    return Row(feature, True)


def _objects(s3, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [o["Key"] for o in listed]


def pipeline_rows(session, name: str, bucket: str) -> list[Row]:
    """Run the (already upserted) abalone pipeline twice; one row per feature."""
    sm, s3 = session.client("sagemaker"), session.client("s3")
    first, execution, steps = run_pipeline(sm, name)
    rows = [
        Row(
            "pipeline execution",
            execution["PipelineExecutionStatus"] == "Succeeded",
            execution.get("FailureReason", ""),
        ),
        _step_row("processing step (scikit-learn script)", steps, "AbaloneProcess"),
        _step_row("training step (built-in XGBoost)", steps, "AbaloneTrain"),
        _step_row("evaluation step with a PropertyFile", steps, "AbaloneEval"),
    ]
    condition = _find(steps, "AbaloneMSECond") or {}
    outcome = condition.get("Metadata", {}).get("Condition", {}).get("Outcome")
    rows.append(Row("condition step (JsonGet on the PropertyFile)", outcome == "True", outcome))
    rows.append(_step_row("register model (creates its group)", steps, "AbaloneRegisterModel"))
    rows.append(_step_row("create model step", steps, "AbaloneCreateModel"))
    row = _step_row("transform step", steps, "AbaloneTransform")
    execution_id = first.rsplit("/", 1)[-1]
    if row.works and not _objects(s3, bucket, f"{name}/{execution_id}/transform/"):
        row = Row(row.feature, False, "no transform output written")
    rows.append(row)
    second, _, again = run_pipeline(sm, name)
    hits = [
        step
        for step in ("AbaloneProcess", "AbaloneTrain")
        if (_find(again, step) or {}).get("CacheHitResult", {}).get("SourcePipelineExecutionArn")
        == first
    ]
    rows.append(
        Row(
            "step caching on a re-run (output paths carry the execution id)",
            len(hits) == 2,
            f"cache hits: {', '.join(hits) or 'none'}",
        )
    )
    return rows


def table(title: str, rows: list[Row]) -> str:
    width = max(len(r.feature) for r in rows)
    lines = [title, f"{'feature'.ljust(width)} | result", f"{'-' * width}-+-{'-' * 30}"]
    for row in rows:
        verdict = "works" if row.works else f"fails ({row.detail})"
        lines.append(f"{row.feature.ljust(width)} | {verdict}")
    return "\n".join(lines)
