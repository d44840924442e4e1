"""Training jobs: channels in, config files and SM_* variables, the script to run, model out.

`job_spec` downloads the channels, writes `input/config/{hyperparameters,inputdataconfig,
resourceconfig}.json`, sets the SM_* variables as the SageMaker training toolkit /
ModelTrainer drivers do, and picks what runs: ModelTrainer's `sm_drivers` + `code` channels,
the classic `sagemaker_program` / `sagemaker_submit_directory` hyperparameters, a
ContainerEntrypoint, or for an XGBoost image without a script the built-in algorithm
(`xgboost_algorithm`). `upload` packs `model.tar.gz` (and `output.tar.gz`) to S3.
"""

from __future__ import annotations

import json
import os
import shlex
import tarfile
from typing import Any

from localaws.compute import images, s3io
from localaws.compute.container import (
    JobError,
    base_env,
    cli_args,
    command_spec,
    one_instance,
    rewrite,
)


def job_spec(job: Any, base: str, s3: Any, credentials: dict, region: str) -> tuple[dict, list]:
    """The worker spec and MetricDefinitions of training `job`, its inputs staged in `base`."""
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
    one_instance(resources.get("InstanceCount", 1))
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
    env = base_env(job, credentials, region, rewrite(extra, base))
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
                "argv": cli_args(hps),
            }
        elif entry_script:
            spec = {
                "kind": "command",
                "argv": ["/bin/sh", os.path.join(cwd, entry_script), *cli_args(hps)],
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
            "argv": cli_args(user_hps),
            "toolkit": True,
        }
    elif entry:
        spec = command_spec(rewrite(list(entry), base), rewrite(list(args), base))
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
        "user_args": cli_args(hps_user_strings(user)),
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
    """User hyperparameters as strings (non-strings JSON-encoded)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in user.items()}


def upload(job: Any, base: str, s3: Any) -> None:
    """Upload `model.tar.gz` (and `output.tar.gz` if the job wrote output data)."""
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
