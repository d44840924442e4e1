"""Batch transform jobs: the request's checks, and running a job to its end in a warm worker.

A transform job runs the model as its endpoint would (`endpoint_models.load_variant`, the same
handlers) over S3 input, in a worker process (`transform_worker`) that holds the model's
execution role's credentials, so IAM decides what it can read and write. This module checks
the request (`check_request`), then the runner thread resolves the model, writes the worker's
config, runs it under the job slots (`jobs.supervise`: logs to `/aws/sagemaker/TransformJobs`,
stop by SIGTERM) and records the end: InProgress -> Completed | Failed (FailureReason) |
Stopping -> Stopped.
Semantics follow the API reference (CreateTransformJob, TransformInput, TransformOutput,
DataProcessing) and the "Batch transform" guide of the SageMaker developer guide.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
import traceback
from typing import Any

from localaws.compute import jobs
from localaws.compute.container import JobError, base_env
from localaws.compute.endpoint_handlers import LoadError
from localaws.compute.endpoint_models import model_variant
from localaws.compute.logs import LogShipper
from localaws.compute.workers import WorkerDied

#: MaxPayloadInMB's default in the API reference. An unset BatchStrategy runs SingleRecord
#: (one record per request is valid for every model).
DEFAULT_PAYLOAD_MB = 6
WORKER = "localaws.compute.transform_worker:main"
CONFIG_FILE = "transform.json"
_DATA_PROCESSING_DEFAULTS = {"InputFilter": "$", "OutputFilter": "$", "JoinSource": "None"}


class RequestError(ValueError):
    """The request cannot be accepted: a ValidationException with this message."""


def check_request(backend, name: str, model_name: str, params: dict) -> None:
    """Refuse, before anything is recorded, what AWS refuses or localaws cannot run."""
    if name in backend.transform_jobs:
        raise RequestError(
            "Job name must be unique within an AWS account and region, and a job with this "
            f"name already exists ({backend.transform_jobs[name].arn})"
        )
    if model_name not in backend._models:
        arn = f"arn:aws:sagemaker:{backend.region_name}:{backend.account_id}:model/{model_name}"
        raise RequestError(f'Could not find model "{arn.lower()}".')
    processing = params.get("DataProcessing") or {}
    unsupported = {
        key: value
        for key, value in processing.items()
        if key in _DATA_PROCESSING_DEFAULTS and value != _DATA_PROCESSING_DEFAULTS[key]
    }
    if unsupported:
        raise RequestError(
            f"DataProcessing {unsupported} is not supported by localaws (only the defaults: "
            f"{_DATA_PROCESSING_DEFAULTS}); filter and join the records yourself"
        )
    source = ((params.get("TransformInput") or {}).get("DataSource") or {}).get(
        "S3DataSource"
    ) or {}
    if source.get("S3DataType") not in ("S3Prefix", "ManifestFile"):
        raise RequestError(
            f"S3DataType {source.get('S3DataType')!r} is not supported by localaws "
            "(use S3Prefix or ManifestFile)"
        )
    split = (params.get("TransformInput") or {}).get("SplitType") or "None"
    if split not in ("None", "Line"):
        raise RequestError(f"SplitType {split!r} is not supported by localaws (use Line or None)")
    if params.get("DataCaptureConfig"):
        raise RequestError(
            "DataCaptureConfig is not supported by localaws: it would capture nothing; "
            "leave it out locally"
        )
    payload = params.get("MaxPayloadInMB")
    if payload is not None and not 0 <= int(payload) <= 100:
        raise RequestError("MaxPayloadInMB must be between 0 and 100")


def _now():
    from moto.core.utils import utcnow

    return utcnow()


def launch(backend, job) -> None:
    """Start running `job` (moto's FakeTransformJob just recorded)."""
    now = _now()
    job.transform_job_status = "InProgress"
    job.transform_start_time, job.transform_end_time = now, None
    job.failure_reason = None
    job.labeling_job_arn = job.auto_ml_job_arn = None
    job.last_modified_time = now
    running = jobs.Running("transform", job.transform_job_name)
    jobs.track(job.arn, running)
    threading.Thread(
        target=_run,
        args=(backend, job, running),
        daemon=True,
        name=f"localaws-transform-{job.transform_job_name}",
    ).start()


def _run(backend, job, running: jobs.Running) -> None:
    from localaws.core import hooks

    directory = os.path.join(
        jobs.jobs_root(), "transform", f"{running.name}-{int(time.time() * 1000)}"
    )
    status, reason = "Failed", None
    try:
        status, reason = _execute(backend, job, running, directory)
    except (JobError, LoadError, WorkerDied) as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - any local fault must end the job, not hang it
        reason = f"InternalServerError: localaws could not run the job: {type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        job.transform_job_status = status
        job.failure_reason = reason[: jobs.MAX_REASON] if reason else None
        job.transform_end_time = job.last_modified_time = _now()
        hooks.changed("sagemaker", job)
        jobs.untrack(job.arn)
        running.done.set()
        if os.environ.get("LOCALAWS_KEEP_JOB_DIRS") != "1":
            shutil.rmtree(directory, ignore_errors=True)


def _config(job, variant) -> dict[str, Any]:
    transform_input = job.transform_input or {}
    output = job.transform_output or {}
    payload = job.max_payload_in_mb
    return {
        "variant": dataclasses.asdict(variant),
        "source": transform_input["DataSource"]["S3DataSource"],
        "content_type": transform_input.get("ContentType") or "",
        "compression": transform_input.get("CompressionType") or "None",
        "split": transform_input.get("SplitType") or "None",
        "strategy": job.batch_strategy or "SingleRecord",
        "max_payload": (DEFAULT_PAYLOAD_MB if payload is None else int(payload)) * 1024 * 1024,
        "output_path": output["S3OutputPath"],
        "accept": output.get("Accept") or "",
        "assemble": output.get("AssembleWith") or "None",
        "kms_key": output.get("KmsKeyId"),
    }


def _execute(backend, job, running: jobs.Running, directory: str) -> tuple[str, str | None]:
    from localaws.core.credentials import role_credentials

    model = backend._models.get(job.model_name)
    if model is None:
        raise JobError(f"ClientError: model {job.model_name} no longer exists")
    try:
        variant = model_variant(backend, model)
    except LoadError as exc:
        raise JobError(f"ClientError: the model cannot be served: {exc}") from None
    try:
        credentials = role_credentials(variant.role_arn, "SageMaker")
    except Exception as exc:  # noqa: BLE001
        raise JobError(
            f"ClientError: Could not assume the model's execution role {variant.role_arn}: {exc}"
        ) from None
    base = os.path.join(directory, "opt_ml")
    os.makedirs(os.path.join(base, "output"), exist_ok=True)
    config_path = os.path.join(directory, CONFIG_FILE)
    with open(config_path, "w") as fh:
        json.dump(_config(job, variant), fh)
    log_file = os.path.join(directory, "job.log")
    open(log_file, "w").close()
    failure_file = os.path.join(base, "output", "failure")
    extra = {**(job.environment or {}), "LOCALAWS_TRANSFORM_CONFIG": config_path}
    spec = {
        "kind": "call",
        "target": WORKER,
        "argv": [],
        "cwd": directory,
        "env": base_env(job, credentials, backend.region_name, extra),
        "log": log_file,
        "failure_file": failure_file,
        "opt_ml": base,
    }
    shipper = LogShipper("transform", running.name, log_file, backend.region_name)
    with jobs._slots:
        if running.stop_requested:
            return "Stopped", None
        exit_status = jobs.supervise(running, spec, shipper, None)
    if running.stop_requested:
        return "Stopped", None
    if exit_status == 0:
        return "Completed", None
    if exit_status is not None and exit_status < 0:
        return "Failed", (
            f"InternalServerError: the transform's process was killed by signal {-exit_status}"
        )
    message = ""
    if os.path.exists(failure_file):
        with open(failure_file, errors="replace") as fh:
            message = fh.read().strip().replace(base, "/opt/ml")
    return "Failed", message or "ClientError: See job logs for more information"
