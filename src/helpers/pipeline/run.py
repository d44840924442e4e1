"""Run the model build pipeline for a tenant: start an execution, wait for it, report on it.

`start` reads where the tenant's execution reads and writes from the tenant table
(`tenant_target`), `wait` shows its steps' progress and leaves one summary line
(helpers.progress), `evaluation_report` / `metrics_summary` read what its Evaluate step wrote.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from helpers.naming import DEFAULT_TABLE, PIPELINE_NAME, raw_data_url
from helpers.pipeline.build import STEP_ORDER
from helpers.progress import Progress, ProgressTarget
from helpers.session import AwsSession
from helpers.storage import read_s3_json
from helpers.tenant_table import tenant_item
from pipeline_steps.hyperparameters import check_hyperparameters

TERMINAL = {"Succeeded", "Failed", "Stopped"}
BRISK_S = 5.0  # a localaws run usually ends within it; on AWS, a few more polls at the start
TARGET_ATTRIBUTES = ("tenant-bucket", "tenant-modelregistry", "tenant-role")


@dataclass
class TenantTarget:
    """Where one tenant's execution reads and writes, from the tenant table item."""

    tenant_id: str
    bucket: str
    model_package_group: str
    role_arn: str

    @property
    def input_data_url(self) -> str:
        return raw_data_url(self.bucket)


def tenant_target(
    session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE
) -> TenantTarget:
    """Read the tenant's bucket, model package group and role from the tenant table."""
    item = tenant_item(session, tenant_id, table_name, required=TARGET_ATTRIBUTES)
    return TenantTarget(
        tenant_id, item["tenant-bucket"], item["tenant-modelregistry"], item["tenant-role"]
    )


def execution_parameters(
    target: TenantTarget,
    accuracy_threshold: float | None = None,
    approval_status: str | None = None,
    hyperparameters: dict | None = None,
    input_data_url: str | None = None,
) -> list[dict]:
    """The StartPipelineExecution parameter list for one tenant; ValueError on a bad option."""
    values: dict[str, object] = {
        "TenantId": target.tenant_id,
        "TenantRoleArn": target.role_arn,
        "TenantBucket": target.bucket,
        "InputDataUrl": input_data_url or target.input_data_url,
        "ModelPackageGroupName": target.model_package_group,
    }
    if accuracy_threshold is not None:
        if not 0.0 <= float(accuracy_threshold) <= 1.0:
            raise ValueError(f"accuracy_threshold must lie in [0, 1], got {accuracy_threshold}")
        values["AccuracyThreshold"] = float(accuracy_threshold)
    if approval_status is not None:
        allowed = ("PendingManualApproval", "Approved", "Rejected")
        if approval_status not in allowed:
            raise ValueError(f"approval_status must be one of {allowed}, got {approval_status!r}")
        values["ModelApprovalStatus"] = approval_status
    names = {"max_depth": "MaxDepth", "eta": "Eta", "num_round": "NumRound"}
    for key in hyperparameters or {}:
        if key not in names:
            raise ValueError(
                f"hyperparameter {key!r} is not a pipeline parameter; use one of {sorted(names)}"
            )
    # XGBoost's documented bounds, checked before anything is started (ValueError naming it).
    for key, value in check_hyperparameters(dict(hyperparameters or {})).items():
        values[names[key]] = value
    return [{"Name": k, "Value": str(v)} for k, v in values.items()]


def start(
    session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE, **options: Any
) -> str:
    """Start the pipeline for a tenant (options: see execution_parameters); return the ARN."""
    target = tenant_target(session, tenant_id, table_name)
    response = session.client("sagemaker").start_pipeline_execution(
        PipelineName=PIPELINE_NAME,
        PipelineExecutionDisplayName=f"{tenant_id}-{time.strftime('%Y%m%d-%H%M%S')}",
        PipelineExecutionDescription=f"Model build for tenant {tenant_id}",
        PipelineParameters=execution_parameters(target, **options),
    )
    return str(response["PipelineExecutionArn"])


@dataclass
class StepState:
    name: str
    status: str
    failure_reason: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None


@dataclass
class ExecutionResult:
    arn: str
    status: str
    failure_reason: str
    steps: list[StepState]
    seconds: float

    def step(self, name: str) -> StepState | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def model_package_arn(self) -> str | None:
        register = self.step("RegisterModel")
        if register is None:
            return None
        return register.metadata.get("RegisterModel", {}).get("Arn")

    def table(self) -> pd.DataFrame:
        """The steps as a pandas DataFrame (name, status, duration, failure reason)."""
        return pd.DataFrame(
            [
                {
                    "step": s.name,
                    "status": s.status,
                    "seconds": s.seconds,
                    "failure reason": s.failure_reason,
                }
                for s in self.steps
            ]
        )


def _duration(step: dict[str, Any]) -> float | None:
    if "StartTime" in step and "EndTime" in step:
        return round((step["EndTime"] - step["StartTime"]).total_seconds(), 2)
    return None


def execution_steps(session: AwsSession, arn: str) -> list[StepState]:
    """The execution's steps so far, in the order they started."""
    sm = session.client("sagemaker")
    steps: list[StepState] = []
    token = None
    while True:
        kwargs: dict[str, Any] = {"PipelineExecutionArn": arn, "SortOrder": "Ascending"}
        if token:
            kwargs["NextToken"] = token
        page = sm.list_pipeline_execution_steps(**kwargs)
        steps += [
            StepState(
                s["StepName"],
                s["StepStatus"],
                s.get("FailureReason", ""),
                s.get("Metadata", {}),
                _duration(s),
            )
            for s in page["PipelineExecutionSteps"]
        ]
        token = page.get("NextToken")
        if not token:
            return steps


def summary(result: ExecutionResult) -> str:
    """The line that stays, e.g. "pipeline: 5 steps, Succeeded in 12.3 s"."""
    line = f"pipeline: {len(result.steps)} steps, {result.status} in {result.seconds:.1f} s"
    return f"{line} ({result.failure_reason})" if result.failure_reason else line


def _current(status: str, steps: list[StepState], elapsed: float) -> str:
    done = sum(s.status in TERMINAL for s in steps)
    running = next((s.name for s in reversed(steps) if s.status in ("Executing", "Starting")), "")
    total = len(STEP_ORDER) - 1  # one of the two condition branches runs
    return f"pipeline: {status} {running} ({done}/{total} steps, {elapsed:.0f} s)".replace(
        "  ", " "
    )


def wait(
    session: AwsSession,
    arn: str,
    timeout: float = 1800.0,
    poll: float = 0.5,
    progress: ProgressTarget = True,
    on_update: Callable[[list[StepState]], None] | None = None,
    slow_after: float | None = 30.0,
) -> ExecutionResult:
    """Wait for the execution to end, showing its steps' progress, then one summary line.

    Polls briskly at first (50 ms, growing to 0.2 s for the first BRISK_S seconds, then to
    `poll` seconds: a localaws run takes about a second or two), every 5 s once `slow_after`
    seconds have passed (None: never).
    """
    sm = session.client("sagemaker")
    started = time.monotonic()
    delay = min(0.05, poll)
    display = Progress(progress)
    watched = display.live or on_update is not None
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        ended = status["PipelineExecutionStatus"] in TERMINAL
        # Unwatched, the steps are listed once, at the end: not twice the requests per poll.
        steps = execution_steps(session, arn) if watched or ended else []
        elapsed = time.monotonic() - started
        if watched:
            display.update(_current(status["PipelineExecutionStatus"], steps, elapsed))
        if on_update is not None:
            on_update(steps)
        if ended:
            result = ExecutionResult(
                arn,
                status["PipelineExecutionStatus"],
                status.get("FailureReason", ""),
                steps,
                elapsed,
            )
            display.finish(summary(result))
            return result
        if elapsed > timeout:
            raise TimeoutError(
                f"pipeline execution {arn} still "
                f"{status['PipelineExecutionStatus']} after {timeout:.0f}s"
            )
        # On AWS a run takes minutes: poll gently after the first half minute.
        slow = slow_after is not None and elapsed > slow_after
        time.sleep(max(poll, 5.0) if slow else delay)
        delay = min(delay * 1.5, poll if elapsed > BRISK_S else min(poll, 0.2))


def evaluation_report(session: AwsSession, result: ExecutionResult) -> dict:
    """evaluation.json written by the execution's Evaluate step."""
    step = result.step("Evaluate")
    if step is None or step.status != "Succeeded":
        raise LookupError(f"execution {result.arn} has no successful Evaluate step")
    job_arn = step.metadata["ProcessingJob"]["Arn"]
    job = session.client("sagemaker").describe_processing_job(
        ProcessingJobName=job_arn.rsplit("/", 1)[-1]
    )
    outputs = {
        o["OutputName"]: o["S3Output"]["S3Uri"] for o in job["ProcessingOutputConfig"]["Outputs"]
    }
    return dict(read_s3_json(session, outputs["evaluation"].rstrip("/") + "/evaluation.json"))


def metrics_summary(report: dict) -> dict[str, float]:
    """The scalar metrics of an evaluation report: accuracy, auc, precision, recall, f1."""
    return {
        name: value["value"]
        for name, value in report["binary_classification_metrics"].items()
        if isinstance(value, dict) and "value" in value
    }


def run_for_tenant(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    progress: ProgressTarget = True,
    **options: Any,
) -> ExecutionResult:
    """Start the pipeline for a tenant and wait for it."""
    return wait(session, start(session, tenant_id, table_name, **options), progress=progress)
