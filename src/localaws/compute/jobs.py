"""Processing and training jobs: launching, state, and running one to its end.

A job gets its own directory, which stands in for the container's `/opt/ml` (`container`).
The job runner (a thread in the server):

1. resolves the image (`images.resolve`; unsupported -> Failed),
2. gets the job role's temporary credentials (`credentials.role_credentials`) and copies
   the inputs from S3 with them (so IAM decides what the job can read; `s3io`: bodies
   without HTTP where the server can),
3. writes the config files and environment (`training` / `processing`), with AWS_* variables
   holding the role's credentials and this server's URL (`container.base_env`),
4. runs the code in a warm worker (`workers`): what runs is `training.job_spec` /
   `processing.job_spec`; when it exits, what it left running is killed, as a container's
   processes end with its main one,
5. ships stdout/stderr to CloudWatch Logs while it runs, collects FinalMetricDataList from the
   MetricDefinitions regexes, and uploads the outputs / `model.tar.gz` with the role's keys
   (`s3io` again).

Status InProgress -> Completed | Failed (FailureReason from the script's error, the failure
file, or the S3 error) | Stopped (StopXJob or MaxRuntimeInSeconds). A job process killed from
outside fails the job.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from localaws.compute import images, processing, s3io, training
from localaws.compute.container import OPT_ML, JobError
from localaws.compute.logs import LogShipper
from localaws.compute.workers import WorkerDied, pool
from localaws.core import hooks
from localaws.core.config import default_state_dir

MAX_REASON = 1024
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL, as `docker stop` gives a container


@dataclass
class Running:
    """Runtime state of one job (kept off moto's picklable objects)."""

    kind: str
    name: str
    done: threading.Event = field(default_factory=threading.Event)
    handle: Any = None
    stop_requested: bool = False
    timed_out: bool = False


_running: dict[str, Running] = {}
_lock = threading.Lock()
_slots = threading.BoundedSemaphore(
    int(os.environ.get("LOCALAWS_MAX_JOBS", 2 * (os.cpu_count() or 1)))
)


def jobs_root() -> str:
    """Where job directories go: `$LOCALAWS_JOBS_DIR`, else `jobs/` in the server's state dir."""
    from localaws.core import credentials

    state_dir = getattr(credentials, "_server_state_dir", None) or default_state_dir()
    return os.environ.get("LOCALAWS_JOBS_DIR") or str(state_dir / "jobs")


def _now():
    from moto.core.utils import utcnow

    return utcnow()


# --------------------------------------------------------------------------- public API
def launch(kind: str, backend, job) -> None:
    """Start running `job` (a moto FakeTrainingJob / FakeProcessingJob just created)."""
    name = job.training_job_name if kind == "training" else job.processing_job_name
    now = _now()
    if kind == "training":
        job.training_job_status, job.secondary_status = "InProgress", "Starting"
        job.training_start_time, job.training_end_time = now, None
        job.final_metric_data_list = []
        job.secondary_status_transitions = [
            {
                "Status": "Starting",
                "StartTime": now,
                "StatusMessage": "Preparing the instances for training",
            }
        ]
    else:
        job.processing_job_status = "InProgress"
        job.processing_start_time, job.processing_end_time = now, None
    job.failure_reason = None
    job.last_modified_time = now
    running = Running(kind, name)
    track(job.arn, running)
    threading.Thread(
        target=_run, args=(kind, backend, job, running), daemon=True, name=f"localaws-job-{name}"
    ).start()


def stop(job_arn: str) -> bool:
    """Ask a running job to stop (SIGTERM, SIGKILL 5 s later); False if it is not running."""
    running = _running.get(job_arn)
    if running is None:
        return False
    running.stop_requested = True
    return True


def wait(job_arn: str, timeout: float | None = None) -> bool:
    """Block until the job ends (True) or the timeout passes (False)."""
    running = _running.get(job_arn)
    return True if running is None else running.done.wait(timeout)


def is_running(job_arn: str) -> bool:
    return job_arn in _running


def track(job_arn: str, running: Running) -> None:
    """Count a job started by another module (`transform`) as running (`wait`, `stop`)."""
    with _lock:
        _running[job_arn] = running


def untrack(job_arn: str) -> None:
    with _lock:
        _running.pop(job_arn, None)


def supervise(
    running: Running, spec: dict, shipper: LogShipper, limit: Any, on_lines: Any = None
) -> int | None:
    """Run `spec` in a worker until it exits, shipping its log; SIGTERM it (SIGKILL after
    STOP_GRACE) on a stop request or after `limit` seconds. The caller holds a `_slots` slot."""
    started = time.monotonic()
    running.handle = pool().start(spec)
    exit_status, terminated = None, None
    while exit_status is None:
        exit_status = running.handle.wait(0.2)
        lines = shipper.ship(final=exit_status is not None)
        if on_lines is not None:
            on_lines(lines)
        if exit_status is not None:
            break
        if limit and not running.timed_out and time.monotonic() - started > float(limit):
            running.timed_out = True
        if (running.stop_requested or running.timed_out) and terminated is None:
            terminated = time.monotonic()
            running.handle.kill(signal.SIGTERM)
        elif terminated is not None and time.monotonic() - terminated > STOP_GRACE:
            running.handle.kill()
    _end_leftovers(running.handle)
    return exit_status


def _end_leftovers(handle: Any) -> None:
    """SIGKILL what the job's code left running (its process group), as a container's other
    processes end with its main one: nothing changes the outputs while they are stored."""
    if handle.pid:
        try:
            os.killpg(handle.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # none left
            pass


# --------------------------------------------------------------------------- the runner
def _run(kind: str, backend, job, running: Running) -> None:
    directory = os.path.join(jobs_root(), kind, f"{running.name}-{int(time.time() * 1000)}")
    status, reason, metrics = "Failed", None, []
    try:
        status, reason, metrics = _execute(kind, backend, job, running, directory)
    except (JobError, s3io.TransferError, images.UnsupportedImage, WorkerDied) as exc:
        reason = str(exc)
    except Exception as exc:  # noqa: BLE001 - any local fault must end the job, not hang it
        reason = f"InternalServerError: localaws could not run the job: {type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        _finish(kind, job, status, reason, metrics, running.timed_out)
        untrack(job.arn)
        running.done.set()
        if os.environ.get("LOCALAWS_KEEP_JOB_DIRS") != "1":
            shutil.rmtree(directory, ignore_errors=True)


def _finish(
    kind: str, job, status: str, reason: str | None, metrics: list, timed_out: bool
) -> None:
    now = _now()
    job.failure_reason = reason[:MAX_REASON] if reason else None
    job.last_modified_time = now
    if kind == "training":
        job.training_job_status = status
        job.secondary_status = {"Completed": "Completed", "Failed": "Failed"}.get(
            status, "MaxRuntimeExceeded" if timed_out else "Stopped"
        )
        job.training_end_time = now
        job.final_metric_data_list = metrics
        seconds = max(1, int((now - job.training_start_time).total_seconds()))
        job.training_time_in_seconds = job.billable_time_in_seconds = seconds
        transitions = job.secondary_status_transitions
        if transitions:
            transitions[-1]["EndTime"] = now
        transitions.append(
            {
                "Status": job.secondary_status,
                "StartTime": now,
                "StatusMessage": reason[:200] if reason else f"Training job {status.lower()}",
            }
        )
    else:
        job.processing_job_status = status
        job.processing_end_time = now
        if reason:
            job.exit_message = reason[:MAX_REASON]
    hooks.changed("sagemaker", job)


def _credentials(job, name: str) -> dict[str, str]:
    from localaws.core.credentials import role_credentials

    try:
        return role_credentials(job.role_arn, "SageMaker")
    except Exception as exc:  # noqa: BLE001
        raise JobError(f"ClientError: Could not assume role {job.role_arn}: {exc}") from None


def _execute(
    kind: str, backend, job, running: Running, directory: str
) -> tuple[str, str | None, list]:
    region = backend.region_name
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, "opt_ml")
    for sub in ("input/config", "input/data", "model", "output/data", "config", "code"):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    log_file = os.path.join(directory, "job.log")
    open(log_file, "w").close()
    credentials = _credentials(job, running.name)
    s3 = s3io.client("s3", credentials, region)
    if kind == "training":
        spec, metric_defs = training.job_spec(job, base, s3, credentials, region)
    else:
        spec, metric_defs = processing.job_spec(job, base, s3, credentials, region)
    spec.update(log=log_file, opt_ml=base)
    shipper = LogShipper(kind, running.name, log_file, region)
    limit = (getattr(job, "stopping_condition", None) or {}).get("MaxRuntimeInSeconds")
    metrics: dict[str, float] = {}
    with _slots:
        if running.stop_requested:
            return "Stopped", None, []
        if kind == "training":
            job.secondary_status = "Training"
            job.secondary_status_transitions[-1]["EndTime"] = _now()
            job.secondary_status_transitions.append(
                {"Status": "Training", "StartTime": _now(), "StatusMessage": "Training in progress"}
            )
        exit_status = supervise(
            running, spec, shipper, limit, lambda lines: _collect(lines, metric_defs, metrics)
        )
    if exit_status is not None and exit_status == 0 and not running.stop_requested:
        if kind == "training":
            _collect_builtin(base, metrics)
            training.upload(job, base, s3)
        else:
            processing.upload(job, base, s3)
    final = [{"MetricName": k, "Value": v, "Timestamp": _now()} for k, v in metrics.items()]
    if running.stop_requested or running.timed_out:
        return (
            "Stopped",
            (
                f"MaxRuntimeExceeded: the job ran longer than MaxRuntimeInSeconds={limit}"
                if running.timed_out
                else None
            ),
            final,
        )
    if exit_status == 0:
        return "Completed", None, final
    return "Failed", _failure_reason(kind, base, exit_status), final


def _failure_reason(kind: str, base: str, status: int) -> str:
    if status < 0:
        name = signal.Signals(-status).name
        return (
            f"InternalServerError: the job's process was killed by signal {name} "
            f"(exit code {128 - status})"
        )
    message = ""
    for rel in ("output/failure", "output/message"):
        path = os.path.join(base, rel)
        if os.path.exists(path):
            with open(path, errors="replace") as fh:
                message = fh.read().strip()
            if message:
                break
    message = message.replace(base, OPT_ML) or "See job logs for more information"
    if message.startswith("ClientError: "):
        # a built-in algorithm's verdict on the customer's input, shown as SageMaker shows it
        return message
    return f"AlgorithmError: {message}, exit code: {status}"


def _collect(lines: list[str], definitions: list[dict], metrics: dict[str, float]) -> None:
    for definition in definitions:
        pattern = re.compile(definition["Regex"])
        for line in lines:
            for candidate in (line, line.replace("\t", "#011")):
                match = pattern.search(candidate)
                if match and match.groups():
                    try:
                        metrics[definition["Name"]] = float(match.group(1))
                    except ValueError:
                        pass
                    break


def _collect_builtin(base: str, metrics: dict[str, float]) -> None:
    path = os.path.join(base, "output", "metrics.json")
    if os.path.exists(path):
        with open(path) as fh:
            for name, value in json.load(fh).items():
                metrics.setdefault(name, value)
        os.remove(path)
