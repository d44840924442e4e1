"""Processing and training jobs, run on this machine under SageMaker's container contract.

A job gets its own directory, which stands in for the container's `/opt/ml` (every
`/opt/ml/...` path in the request - entry point, arguments, local paths, environment - is
rewritten into it). The job runner (a thread in the server):

1. resolves the image (`images.resolve`; unsupported -> Failed),
2. gets the job role's temporary credentials (`credentials.role_credentials`) and copies
   the inputs from S3 over HTTP with them (so IAM decides what the job can read),
3. writes `input/config/{hyperparameters,inputdataconfig,resourceconfig}.json` (training) or
   `config/{processingjobconfig,resourceconfig}.json` (processing), sets the SM_* variables as
   the SageMaker training toolkit / ModelTrainer drivers do, plus AWS_* variables with the role's
   credentials and this server's URL,
4. runs the code in a warm worker (`workers`): a processing entry point (`python3 script.py
   args`, or any command); a training script (ModelTrainer's `sm_drivers` + `code` channels, or
   the classic `sagemaker_program` / `sagemaker_submit_directory` hyperparameters); or, for an
   XGBoost image without a script, the built-in algorithm (`xgboost_algorithm`),
5. ships stdout/stderr to CloudWatch Logs while it runs, collects FinalMetricDataList from the
   MetricDefinitions regexes, and uploads the outputs / `model.tar.gz` with the role's keys.

Status InProgress -> Completed | Failed (FailureReason from the script's error, the failure
file, or the S3 error) | Stopped (StopXJob or MaxRuntimeInSeconds). A job process killed from
outside fails the job.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sys
import tarfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from localaws.compute import images, s3io
from localaws.compute.logs import LogShipper
from localaws.compute.workers import WorkerDied, pool
from localaws.core import hooks
from localaws.core.config import default_state_dir

OPT_ML = "/opt/ml"
PYTHONS = re.compile(r"^python(3(\.\d+)?)?$")
MAX_REASON = 1024
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL, as `docker stop` gives a container


class JobError(RuntimeError):
    """The job cannot run as requested; str() is its FailureReason."""


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
    with _lock:
        _running[job.arn] = running
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
        with _lock:
            _running.pop(job.arn, None)
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
    hooks.changed("sagemaker")


_OPT_ML = re.compile(r"(?<![\w.\-/])/opt/ml(?![\w.\-])")


def _rewrite(value: Any, base: str) -> Any:
    """Map container paths (/opt/ml/..., also inside "--dir=/opt/ml/x") into the job directory."""
    if isinstance(value, str):
        return _OPT_ML.sub(lambda _: base, value)
    if isinstance(value, list):
        return [_rewrite(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _rewrite(v, base) for k, v in value.items()}
    return value


def _base_env(job, credentials: dict[str, str], region: str, extra: dict | None) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    bindir = os.path.dirname(sys.executable)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    env.update(
        {
            "AWS_ENDPOINT_URL": s3io.server_url(),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if credentials.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = credentials["SessionToken"]
    for key, value in (extra or {}).items():
        env[key] = str(value)
    return env


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
        spec, metric_defs = _training_spec(job, base, s3, credentials, region)
    else:
        spec, metric_defs = _processing_spec(job, base, s3, credentials, region)
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
        started = time.monotonic()
        running.handle = pool().start(spec)
        exit_status, terminated = None, None
        while exit_status is None:
            exit_status = running.handle.wait(0.2)
            _collect(shipper.ship(final=exit_status is not None), metric_defs, metrics)
            if exit_status is not None:
                break
            if limit and not running.timed_out and time.monotonic() - started > float(limit):
                running.timed_out = True
            if (running.stop_requested or running.timed_out) and terminated is None:
                terminated = time.monotonic()
                running.handle.kill(signal.SIGTERM)
            elif terminated is not None and time.monotonic() - terminated > STOP_GRACE:
                running.handle.kill()
    if exit_status is not None and exit_status == 0 and not running.stop_requested:
        if kind == "training":
            _collect_builtin(base, metrics)
            _upload_training(job, base, s3)
        else:
            _upload_processing(job, base, s3)
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


# --------------------------------------------------------------------------- training
def _training_spec(job, base, s3, credentials, region) -> tuple[dict, list]:
    algo = job.algorithm_specification or {}
    if algo.get("AlgorithmName"):
        raise JobError(
            f"ClientError: AlgorithmName '{algo['AlgorithmName']}' (marketplace "
            "algorithms) is not supported by localaws; give a TrainingImage"
        )
    image = images.resolve(algo.get("TrainingImage", ""))
    hps = {k: str(v) for k, v in (job.hyper_parameters or {}).items()}
    channels: dict[str, dict] = {}
    for channel in job.input_data_config or []:
        name = channel["ChannelName"]
        source = channel.get("DataSource", {}).get("S3DataSource")
        if not source:
            raise JobError(
                f"ClientError: channel '{name}': only S3DataSource is supported by localaws"
            )
        if channel.get("InputMode", algo.get("TrainingInputMode", "File")) not in ("File", None):
            raise JobError(
                f"ClientError: channel '{name}': InputMode "
                f"'{channel.get('InputMode')}' is not supported by localaws (File only)"
            )
        s3io.download(
            s3,
            source["S3Uri"],
            os.path.join(base, "input", "data", name),
            source.get("S3DataType", "S3Prefix"),
        )
        channels[name] = {
            "ContentType": channel.get("ContentType"),
            "TrainingInputMode": "File",
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
        channels[name] = {k: v for k, v in channels[name].items() if v is not None}
    resources = job.resource_config or {}
    _one_instance(resources.get("InstanceCount", 1))
    resource_config = {
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "current_group_name": "homogeneousCluster",
        "current_instance_type": resources.get("InstanceType", "local"),
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "hosts": ["algo-1"],
                "instance_type": resources.get("InstanceType", "local"),
            }
        ],
        "network_interface_name": "eth0",
    }
    config = os.path.join(base, "input", "config")
    for fname, content in (
        ("hyperparameters.json", hps),
        ("inputdataconfig.json", channels),
        ("resourceconfig.json", resource_config),
    ):
        with open(os.path.join(config, fname), "w") as fh:
            json.dump(content, fh)
    extra = dict(getattr(job, "environment", None) or {})
    extra.update({"TRAINING_JOB_NAME": job.training_job_name, "TRAINING_JOB_ARN": job.arn})
    env = _base_env(job, credentials, region, _rewrite(extra, base))
    entry = algo.get("ContainerEntrypoint")
    args = algo.get("ContainerArguments") or []
    drivers = os.path.join(base, "input", "data", "sm_drivers")
    user_hps = {k: v for k, v in hps.items() if not k.startswith("sagemaker_")}
    env.update(training_env(base, hps, channels, resource_config, job.training_job_name))
    cwd = base
    if os.path.exists(os.path.join(drivers, "sourcecode.json")) or any(
        "sm_train.sh" in a for a in args
    ):
        # ModelTrainer: its shell driver hard-codes /opt/ml; run what it would run.
        with open(os.path.join(drivers, "sourcecode.json")) as fh:
            source = json.load(fh) or {}
        code = os.path.join(base, "input", "data", "code")
        cwd = code if os.path.isdir(code) else base
        if (source.get("source_dir") or "").endswith(".tar.gz"):
            with tarfile.open(os.path.join(code, os.path.basename(source["source_dir"]))) as tar:
                tar.extractall(code, filter="data")
        entry_script = source.get("entry_script") or ""
        env.update({"SM_SOURCE_DIR": code, "SM_ENTRY_SCRIPT": entry_script})
        if source.get("command"):
            command = " ".join(
                [source["command"], *(shlex.quote(str(a)) for a in source.get("args") or [])]
            )
            spec = {"kind": "command", "argv": ["/bin/sh", "-c", command]}
        elif entry_script.endswith(".py"):
            spec = {
                "kind": "script",
                "path": os.path.join(cwd, entry_script),
                "argv": _cli_args(hps),
            }
        elif entry_script:
            spec = {
                "kind": "command",
                "argv": ["/bin/sh", os.path.join(cwd, entry_script), *_cli_args(hps)],
            }
        else:
            raise JobError(
                "ClientError: ModelTrainer source code has neither entry_script nor command"
            )
    elif "sagemaker_program" in hps:
        submit = hps.get("sagemaker_submit_directory", "").strip('"')
        code = os.path.join(base, "code")
        if submit.startswith("s3://"):
            archive = os.path.join(base, "sourcedir.tar.gz")
            s3io.download_file(s3, submit, archive)
            with tarfile.open(archive) as tar:
                tar.extractall(code, filter="data")
        cwd = code
        program = hps["sagemaker_program"].strip('"')
        env.update(
            {
                "SM_MODULE_DIR": submit,
                "SM_USER_ENTRY_POINT": program,
                "SM_MODULE_NAME": program.rsplit(".", 1)[0],
            }
        )
        spec = {
            "kind": "script",
            "path": os.path.join(code, program),
            "argv": _cli_args(user_hps),
            "toolkit": True,
        }
    elif entry:
        spec = _command_spec(_rewrite(list(entry), base), _rewrite(list(args), base))
    elif image.has_builtin_algorithm:
        spec = {
            "kind": "call",
            "target": "localaws.compute.xgboost_algorithm:main",
            "argv": [],
            "toolkit": True,
        }
    else:
        raise JobError(
            f"ClientError: image {image.uri} needs a training script "
            "(ModelTrainer source_code, or the sagemaker_program hyperparameter)"
        )
    spec.update(cwd=cwd, env=env, failure_file=os.path.join(base, "output", "failure"))
    return spec, list(algo.get("MetricDefinitions") or [])


def _one_instance(count) -> None:
    if int(count or 1) != 1:
        raise JobError(
            f"ClientError: InstanceCount {count} is not supported by localaws, which "
            "runs every job on one instance (algo-1); use InstanceCount 1 locally"
        )


def _cli_args(hps: dict[str, str]) -> list[str]:
    args: list[str] = []
    for key, value in hps.items():
        try:
            decoded = json.loads(value)
            value = decoded if isinstance(decoded, str) else json.dumps(decoded)
        except (ValueError, TypeError):
            pass
        args += [f"--{key}", str(value)]
    return args


def training_env(
    base: str, hps: dict[str, str], channels: dict, resource_config: dict, job_name: str
) -> dict[str, str]:
    """SM_* variables as the SageMaker training toolkit and ModelTrainer's drivers set them."""

    def decode(v: str) -> Any:
        try:
            return json.loads(v)
        except (ValueError, TypeError):
            return v

    user = {k: decode(v) for k, v in hps.items() if not k.startswith("sagemaker_")}
    framework = {k: decode(v) for k, v in hps.items() if k.startswith("sagemaker_")}
    dirs = {
        "model_dir": f"{base}/model",
        "input_dir": f"{base}/input",
        "input_data_dir": f"{base}/input/data",
        "input_config_dir": f"{base}/input/config",
        "output_dir": f"{base}/output",
        "output_data_dir": f"{base}/output/data",
        "output_intermediate_dir": f"{base}/output/intermediate",
    }
    channel_dirs = {c: f"{base}/input/data/{c}" for c in channels}
    training_env = {
        **dirs,
        "channel_input_dirs": channel_dirs,
        "current_host": "algo-1",
        "hosts": ["algo-1"],
        "current_instance_type": resource_config["current_instance_type"],
        "hyperparameters": user,
        "framework_params": framework,
        "input_data_config": channels,
        "job_name": job_name,
        "log_level": 20,
        "master_hostname": "algo-1",
        "module_dir": f"{base}/code",
        "network_interface_name": "eth0",
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": 0,
        "num_neurons": 0,
        "resource_config": resource_config,
        "user_args": _cli_args(hps_user_strings(user)),
    }
    env: dict[str, Any] = {f"SM_{k.upper()}": v for k, v in dirs.items()}
    env.update(
        {
            "SM_HOSTS": ["algo-1"],
            "SM_CURRENT_HOST": "algo-1",
            "SM_HOST_COUNT": 1,
            "SM_CURRENT_HOST_RANK": 0,
            "SM_MASTER_ADDR": "algo-1",
            "SM_MASTER_PORT": 7777,
            "SM_CURRENT_INSTANCE_TYPE": resource_config["current_instance_type"],
            "SM_NETWORK_INTERFACE_NAME": "eth0",
            "SM_HPS": user,
            "SM_FRAMEWORK_PARAMS": framework,
            "SM_RESOURCE_CONFIG": resource_config,
            "SM_INPUT_DATA_CONFIG": channels,
            "SM_CHANNELS": sorted(channels),
            "SM_NUM_CPUS": os.cpu_count() or 1,
            "SM_NUM_GPUS": 0,
            "SM_NUM_NEURONS": 0,
            "SM_LOG_LEVEL": 20,
            "SM_OUTPUT_FAILURE": f"{base}/output/failure",
            "SM_MODULE_DIR": f"{base}/code",
            "SM_TRAINING_ENV": training_env,
            "SM_USER_ARGS": training_env["user_args"],
        }
    )
    for channel, path in channel_dirs.items():
        env[f"SM_CHANNEL_{channel.upper()}"] = path
    for key, value in user.items():
        env[f"SM_HP_{key.replace('-', '_').upper()}"] = value
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}


def hps_user_strings(user: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in user.items()}


def _upload_training(job, base: str, s3) -> None:
    output = (job.output_data_config or {}).get("S3OutputPath")
    if not output:
        raise JobError("ClientError: OutputDataConfig.S3OutputPath is required")
    prefix = f"{output.rstrip('/')}/{job.training_job_name}/output"
    for folder, archive in (("model", "model.tar.gz"), ("output/data", "output.tar.gz")):
        src = os.path.join(base, folder)
        if folder != "model" and not os.listdir(src):
            continue
        path = os.path.join(base, "..", archive)
        with tarfile.open(path, "w:gz") as tar:
            for name in sorted(os.listdir(src)):
                tar.add(os.path.join(src, name), arcname=name)
        s3io.upload_file(s3, path, f"{prefix}/{archive}")
    job.model_artifacts = {"S3ModelArtifacts": f"{prefix}/model.tar.gz"}


# --------------------------------------------------------------------------- processing
def _command_spec(entry: list[str], args: list[str]) -> dict:
    program = os.path.basename(entry[0])
    if PYTHONS.match(program) and len(entry) >= 2 and entry[1].endswith(".py"):
        return {"kind": "script", "path": entry[1], "argv": [*entry[2:], *args]}
    if PYTHONS.match(program) and not args and len(entry) == 1:
        raise JobError("ClientError: ContainerEntrypoint runs python without a script")
    argv = [sys.executable if PYTHONS.match(program) else entry[0], *entry[1:], *args]
    return {"kind": "command", "argv": argv}


def _processing_spec(job, base, s3, credentials, region) -> tuple[dict, list]:
    app = job.app_specification or {}
    images.resolve(app.get("ImageUri", ""))
    cluster = (getattr(job, "processing_resources", None) or {}).get("ClusterConfig", {})
    _one_instance(cluster.get("InstanceCount", 1))
    for item in job.processing_inputs or []:
        source = item.get("S3Input")
        if not source:
            raise JobError(
                f"ClientError: processing input '{item.get('InputName')}': only S3Input "
                "is supported by localaws (no DatasetDefinition)"
            )
        if source.get("S3InputMode", "File") != "File":
            raise JobError(
                f"ClientError: processing input '{item.get('InputName')}': S3InputMode "
                f"'{source.get('S3InputMode')}' is not supported by localaws (File only)"
            )
        s3io.download(
            s3, source["S3Uri"], _local(source["LocalPath"], base), source.get("S3DataType")
        )
    for output in (job.processing_output_config or {}).get("Outputs", []):
        if "S3Output" in output:
            os.makedirs(_local(output["S3Output"]["LocalPath"], base), exist_ok=True)
    config = os.path.join(base, "config")
    request = {
        "ProcessingJobArn": job.arn,
        "ProcessingJobName": job.processing_job_name,
        "AppSpecification": app,
        "ProcessingInputs": job.processing_inputs or [],
        "ProcessingOutputConfig": job.processing_output_config or {},
        "RoleArn": job.role_arn,
    }
    with open(os.path.join(config, "processingjobconfig.json"), "w") as fh:
        json.dump(request, fh, default=str)
    with open(os.path.join(config, "resourceconfig.json"), "w") as fh:
        json.dump({"current_host": "algo-1", "hosts": ["algo-1"]}, fh)
    entry = app.get("ContainerEntrypoint")
    if not entry:
        raise JobError(
            "ClientError: AppSpecification.ContainerEntrypoint is required by localaws "
            "(the image's default entry point does not exist locally)"
        )
    extra = {
        **(getattr(job, "environment", None) or {}),
        "PROCESSING_JOB_NAME": job.processing_job_name,
    }
    env = _base_env(job, credentials, region, _rewrite(extra, base))
    spec = _command_spec(
        _rewrite(list(entry), base), _rewrite(list(app.get("ContainerArguments") or []), base)
    )
    spec.update(cwd=base, env=env, failure_file=os.path.join(base, "output", "message"))
    return spec, []


def _local(path: str, base: str) -> str:
    if not (path == OPT_ML or path.startswith(OPT_ML + "/")):
        raise JobError(f"ClientError: LocalPath '{path}' must lie under /opt/ml/")
    return _rewrite(path, base)


def _upload_processing(job, base: str, s3) -> None:
    for output in (job.processing_output_config or {}).get("Outputs", []):
        target = output.get("S3Output")
        if target:
            s3io.upload_dir(s3, _local(target["LocalPath"], base), target["S3Uri"])
