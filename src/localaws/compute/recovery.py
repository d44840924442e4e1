"""After a restart: jobs and executions that were running when the server died become Failed."""

from __future__ import annotations

import shutil

from localaws.core import hooks

REASON = "InternalServerError: localaws stopped while this {what} was running"
# backend attribute, status attribute, end time attribute, what the job is called
_JOBS = (
    ("training_jobs", "training_job_status", "training_end_time", "training job"),
    ("processing_jobs", "processing_job_status", "processing_end_time", "processing job"),
    ("transform_jobs", "transform_job_status", "transform_end_time", "transform job"),
)


def recover_interrupted() -> int:
    """Mark every in-flight job / execution / step of every sagemaker backend Failed; count them."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    from localaws.compute import jobs, pipelines

    changed: list = []  # the jobs and executions marked Failed: saved, nothing else
    now = utcnow()
    for account in list(sagemaker_backends.keys()):
        for region in list(sagemaker_backends[account].keys()):
            backend = sagemaker_backends[account][region]
            for records, status, end, what in _JOBS:
                for job in list(getattr(backend, records).values()):
                    if getattr(job, status) not in ("InProgress", "Stopping") or jobs.is_running(
                        job.arn
                    ):
                        continue
                    setattr(job, status, "Failed")
                    if records == "training_jobs":
                        job.secondary_status = "Failed"
                    job.failure_reason = REASON.format(what=what)
                    setattr(job, end, now)
                    job.last_modified_time = now
                    changed.append(job)
            for pipeline in list(backend.pipelines.values()):
                for execution in list(pipeline.pipeline_executions.values()):
                    if execution.pipeline_execution_status not in (
                        "Executing",
                        "Stopping",
                    ) or pipelines.is_running(execution.arn):
                        continue
                    reason = REASON.format(what="pipeline execution")
                    for record in (getattr(execution, "localaws_steps", None) or {}).values():
                        if record["StepStatus"] in pipelines.RUNNING:
                            record.update(StepStatus="Failed", EndTime=now, FailureReason=reason)
                    execution.pipeline_execution_status = "Failed"
                    execution.pipeline_execution_failure_reason = reason
                    execution.last_modified_time = now
                    changed.append(execution)
    if changed:
        hooks.changed("sagemaker", *changed)
    # Nothing runs yet at restore: job directories left by a crash are garbage.
    shutil.rmtree(jobs.jobs_root(), ignore_errors=True)
    return len(changed)
