"""After a restart: jobs and executions that were running when the server died become Failed."""

from __future__ import annotations

import shutil

from localaws.core import hooks

REASON = "InternalServerError: localaws stopped while this {what} was running"


def recover_interrupted() -> int:
    """Mark every in-flight job / execution / step of every sagemaker backend Failed; count them."""
    from moto.core.utils import utcnow
    from moto.sagemaker.models import sagemaker_backends

    from localaws.compute import jobs, pipelines

    count = 0
    now = utcnow()
    for account in list(sagemaker_backends.keys()):
        for region in list(sagemaker_backends[account].keys()):
            backend = sagemaker_backends[account][region]
            for job in list(backend.training_jobs.values()):
                if job.training_job_status in ("InProgress", "Stopping") and not jobs.is_running(
                    job.arn
                ):
                    job.training_job_status, job.secondary_status = "Failed", "Failed"
                    job.failure_reason = REASON.format(what="training job")
                    job.training_end_time = job.last_modified_time = now
                    count += 1
            for job in list(backend.processing_jobs.values()):
                if job.processing_job_status in ("InProgress", "Stopping") and not jobs.is_running(
                    job.arn
                ):
                    job.processing_job_status = "Failed"
                    job.failure_reason = REASON.format(what="processing job")
                    job.processing_end_time = job.last_modified_time = now
                    count += 1
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
                    count += 1
    if count:
        hooks.changed("sagemaker")
    # Nothing runs yet at restore: job directories left by a crash are garbage.
    shutil.rmtree(jobs.jobs_root(), ignore_errors=True)
    return count
