"""Processing and training jobs really run on this machine (localaws compute plane), over HTTP."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time

import numpy as np
import pytest
import xgboost as xgb
from compute_helpers import (
    SKLEARN_IMAGE,
    XGBOOST_IMAGE,
    job_log,
    make_bucket_and_role,
    tar_gz,
    unique,
    untar,
    wait_job,
)

RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}


@pytest.fixture
def tenant(localaws, clients):
    return make_bucket_and_role(clients, "h3jobs")


def _processing(sm, s3, bucket, role, script: str, name: str, data_uri: str | None = None, **kw):
    s3.put_object(Bucket=bucket, Key=f"code/{name}.py", Body=textwrap.dedent(script).encode())
    inputs = [
        {
            "InputName": "code",
            "S3Input": {
                "S3Uri": f"s3://{bucket}/code/{name}.py",
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
            },
        }
    ]
    if data_uri:
        inputs.append(
            {
                "InputName": "data",
                "S3Input": {
                    "S3Uri": data_uri,
                    "LocalPath": "/opt/ml/processing/input/data",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        )
    sm.create_processing_job(
        ProcessingJobName=name,
        RoleArn=role,
        ProcessingResources={"ClusterConfig": {**RESOURCES}},
        AppSpecification={
            "ImageUri": kw.pop("image", SKLEARN_IMAGE),
            "ContainerEntrypoint": ["python3", f"/opt/ml/processing/input/code/{name}.py"],
            "ContainerArguments": ["--out", "/opt/ml/processing/output"],
        },
        ProcessingInputs=inputs,
        ProcessingOutputConfig={
            "Outputs": [
                {
                    "OutputName": "out",
                    "S3Output": {
                        "S3Uri": f"s3://{bucket}/out/{name}",
                        "LocalPath": "/opt/ml/processing/output",
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        },
        **kw,
    )


@pytest.mark.slow
def test_processing_job_reads_inputs_runs_script_uploads_outputs(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=bucket, Key="data/raw/a.csv", Body=b"x,y\n1,2\n3,4\n")
    name = unique("proc")
    _processing(
        sm,
        s3,
        bucket,
        role,
        """
        import argparse, os, boto3, pandas as pd
        p = argparse.ArgumentParser(); p.add_argument("--out"); a = p.parse_args()
        df = pd.read_csv("/opt/ml/processing/input/data/a.csv")
        df["z"] = df.x + df.y
        df.to_csv(os.path.join(a.out, "sums.csv"), index=False)
        print("caller", boto3.client("sts").get_caller_identity()["Arn"])
        print("job", os.environ["PROCESSING_JOB_NAME"], os.environ["STAGE"])
    """,
        name,
        data_uri=f"s3://{bucket}/data/raw",
        Environment={"STAGE": "unit"},
    )
    job = wait_job(sm, "processing", name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["Environment"] == {"STAGE": "unit"}
    assert job["ProcessingEndTime"] >= job["ProcessingStartTime"]
    body = s3.get_object(Bucket=bucket, Key=f"out/{name}/sums.csv")["Body"].read().decode()
    assert body.split() == ["x,y,z", "1,2,3", "3,4,7"]
    lines = job_log(clients("logs"), "processing", name)
    role_name = role.split("/")[-1]
    assert any(
        line.startswith("caller arn:aws:sts::") and f"assumed-role/{role_name}/" in line
        for line in lines
    ), lines
    assert f"job {name} unit" in lines


@pytest.mark.slow
def test_xgboost_builtin_algorithm_writes_xgboost_model(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 4))
    labels = (features[:, 0] + 0.5 * features[:, 1] > 0).astype(int)
    rows = np.column_stack([labels, features])
    for channel, part in (("train", rows[:200]), ("validation", rows[200:])):
        csv = "\n".join(",".join(f"{v:.6g}" for v in row) for row in part)
        s3.put_object(Bucket=bucket, Key=f"algo/{channel}/data.csv", Body=csv.encode())
    name = unique("algo")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={
            "objective": "binary:logistic",
            "num_round": "20",
            "max_depth": "3",
            "eval_metric": "auc",
        },
        InputDataConfig=[
            {
                "ChannelName": ch,
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/algo/{ch}"}
                },
            }
            for ch in ("train", "validation")
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_job(sm, "training", name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/models/{name}/output/model.tar.gz"
    files = untar(
        s3.get_object(Bucket=bucket, Key=f"models/{name}/output/model.tar.gz")["Body"].read()
    )
    assert list(files) == ["xgboost-model"]
    booster = xgb.Booster()
    booster.load_model(bytearray(files["xgboost-model"]))
    predictions = booster.predict(xgb.DMatrix(features[200:]))
    assert ((predictions > 0.5) == labels[200:]).mean() > 0.85
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert metrics["validation:auc"] > 0.9 and "train:auc" in metrics
    assert any("validation-auc" in line for line in job_log(clients("logs"), "training", name))


@pytest.mark.slow
def test_training_script_mode_follows_the_toolkit_contract(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=bucket, Key="script/train/data.csv", Body=b"1,2\n3,4\n")
    script = """
        import argparse, json, os
        p = argparse.ArgumentParser()
        p.add_argument("--epochs", type=int); p.add_argument("--lr", type=float)
        a = p.parse_args()
        assert os.environ["SM_HP_EPOCHS"] == "3" and json.loads(os.environ["SM_HPS"])["lr"] == 0.5
        assert json.loads(os.environ["SM_CHANNELS"]) == ["train"]
        assert os.environ["SM_USER_ENTRY_POINT"] == "train.py"  # as the toolkit sets them
        hps = json.loads(os.environ["SM_TRAINING_ENV"])["hyperparameters"]
        assert hps == {"epochs": 3, "lr": 0.5}
        rows = open(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "data.csv")).read().split()
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w") as fh:
            json.dump({"rows": len(rows), "epochs": a.epochs}, fh)
        open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w").write("ok")
        for epoch in range(a.epochs):
            print(f"epoch={epoch} loss={1.0 / (epoch + 1):.3f}")
    """
    s3.put_object(
        Bucket=bucket,
        Key="script/sourcedir.tar.gz",
        Body=tar_gz({"train.py": textwrap.dedent(script)}),
    )
    name = unique("script")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={
            "TrainingImage": XGBOOST_IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}],
        },
        HyperParameters={
            "epochs": "3",
            "lr": "0.5",
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"s3://{bucket}/script/sourcedir.tar.gz"',
        },
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{bucket}/script/train",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_job(sm, "training", name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "loss", "Regex": r"loss=([0-9.]+)"}
    ]
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == [("loss", 0.333)]
    model = untar(
        s3.get_object(Bucket=bucket, Key=f"models/{name}/output/model.tar.gz")["Body"].read()
    )
    assert model == {"model.json": b'{"rows": 2, "epochs": 3}'}
    output = untar(
        s3.get_object(Bucket=bucket, Key=f"models/{name}/output/output.tar.gz")["Body"].read()
    )
    assert output == {"report.txt": b"ok"}


def test_raising_script_fails_with_its_error_and_readable_logs(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    name = unique("raise")
    _processing(
        sm,
        s3,
        bucket,
        role,
        """
        print("starting")
        raise ValueError("column 'Churn?' is missing")
    """,
        name,
    )
    job = wait_job(sm, "processing", name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "ValueError: column 'Churn?' is missing" in job["FailureReason"]
    assert job["FailureReason"].startswith("AlgorithmError:")
    lines = job_log(clients("logs"), "processing", name)
    assert lines[0] == "starting" and "Traceback (most recent call last):" in lines
    assert not s3.list_objects_v2(Bucket=bucket, Prefix=f"out/{name}/").get("Contents")


def test_a_deleted_job_log_group_is_created_again(clients, tenant):
    bucket, role = tenant
    sm, s3, logs = clients("sagemaker"), clients("s3"), clients("logs")
    script = """
        print("hello from", __name__)
    """
    for attempt in range(2):  # the second job's group is known to exist, then deleted
        name = unique("logs")
        _processing(sm, s3, bucket, role, script, name)
        assert wait_job(sm, "processing", name)["ProcessingJobStatus"] == "Completed"
        assert job_log(logs, "processing", name) == ["hello from __main__"]
        if attempt == 0:
            logs.delete_log_group(logGroupName="/aws/sagemaker/ProcessingJobs")


def _start_sleeper(clients, tenant, name: str) -> int:
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    _processing(
        sm,
        s3,
        bucket,
        role,
        """
        import os, time
        print("pid", os.getpid(), flush=True)
        time.sleep(120)
    """,
        name,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            lines = job_log(clients("logs"), "processing", name)
        except (AssertionError, clients("logs").exceptions.ResourceNotFoundException):
            lines = []
        pids = [int(line.split()[1]) for line in lines if line.startswith("pid ")]
        if pids:
            return pids[0]
        time.sleep(0.2)
    raise AssertionError("the job never printed its pid")


def test_processes_a_job_leaves_behind_end_with_it(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    name = unique("leftover")
    script = """
        import subprocess
        child = subprocess.Popen(["sleep", "120"])
        print("child", child.pid, flush=True)
    """
    _processing(sm, s3, bucket, role, script, name)
    assert wait_job(sm, "processing", name)["ProcessingJobStatus"] == "Completed"
    (line,) = job_log(clients("logs"), "processing", name)
    child = int(line.split()[1])
    deadline = time.time() + 10
    while time.time() < deadline and _alive(child):
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(") ", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_killed_job_process_fails_the_job(clients, tenant):
    name = unique("killed")
    os.kill(_start_sleeper(clients, tenant, name), signal.SIGKILL)
    job = wait_job(clients("sagemaker"), "processing", name, timeout=30)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "killed by signal SIGKILL" in job["FailureReason"]


@pytest.mark.slow
def test_killed_worker_fails_its_jobs_and_a_new_one_takes_over(clients, tenant):
    name = unique("orphan")
    pid = _start_sleeper(clients, tenant, name)
    with open(f"/proc/{pid}/stat") as fh:
        worker = int(fh.read().rsplit(") ", 1)[1].split()[1])
    os.kill(worker, signal.SIGKILL)
    job = wait_job(clients("sagemaker"), "processing", name, timeout=30)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "worker process died" in job["FailureReason"]
    deadline = time.time() + 10
    while _alive(pid):
        assert time.time() < deadline, "the job process outlived its worker"
        time.sleep(0.1)
    bucket, role = tenant
    name = unique("after")
    _processing(clients("sagemaker"), clients("s3"), bucket, role, "print('fine')\n", name)
    assert wait_job(clients("sagemaker"), "processing", name)["ProcessingJobStatus"] == "Completed"


def test_stop_processing_job_stops_it(clients, tenant):
    name = unique("stopped")
    _start_sleeper(clients, tenant, name)
    sm = clients("sagemaker")
    sm.stop_processing_job(ProcessingJobName=name)
    job = wait_job(sm, "processing", name, timeout=30)
    assert job["ProcessingJobStatus"] == "Stopped"
    with pytest.raises(sm.exceptions.ClientError, match="status Stopped"):
        sm.stop_processing_job(ProcessingJobName=name)


def test_job_role_without_access_to_the_data_fails_with_access_denied(clients, tenant):
    bucket, role = tenant
    other_bucket, _ = make_bucket_and_role(clients, "h3other")
    s3 = clients("s3")
    s3.put_object(Bucket=other_bucket, Key="data/secret.csv", Body=b"1,2\n")
    name = unique("denied")
    _processing(
        clients("sagemaker"),
        s3,
        bucket,
        role,
        "print('should not run')\n",
        name,
        data_uri=f"s3://{other_bucket}/data",
    )
    job = wait_job(clients("sagemaker"), "processing", name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "AccessDenied" in job["FailureReason"] and other_bucket in job["FailureReason"]


def test_unsupported_image_and_bad_requests_fail_clearly(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    name = torch = unique("torch")
    _processing(
        sm,
        s3,
        bucket,
        role,
        "print(1)\n",
        name,
        image="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
    )
    job = wait_job(sm, "processing", name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert "pytorch-training" in job["FailureReason"] and "not supported" in job["FailureReason"]
    s3.put_object(Bucket=bucket, Key="algo/train/data.csv", Body=b"1,0.5\n0,0.1\n")
    name = unique("nohp")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/algo/train"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_job(sm, "training", name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "num_round" in job["FailureReason"]
    name = unique("twohosts")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "2"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/algo/train"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig={**RESOURCES, "InstanceCount": 2},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_job(sm, "training", name)
    assert job["TrainingJobStatus"] == "Failed" and "InstanceCount 2" in job["FailureReason"]
    with pytest.raises(sm.exceptions.ResourceInUse):
        _processing(sm, s3, bucket, role, "print(1)\n", torch)


@pytest.mark.slow
def test_job_running_when_the_server_dies_comes_back_failed(tmp_path):
    import glob

    import boto3

    from localaws.cli import env_vars, start, stop
    from localaws.core.config import Config
    from localaws.ephemeral import free_port

    config = Config(state_dir=tmp_path / "state", port=free_port())
    info = start(config)
    try:
        env = env_vars(config)
        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

        def client(name):
            return session.client(name, endpoint_url=config.endpoint_url)

        bucket, role = make_bucket_and_role(client, "h3crash")
        name = unique("crash")
        _processing(
            client("sagemaker"),
            client("s3"),
            bucket,
            role,
            """
            import os, time
            print("pid", os.getpid(), flush=True)
            time.sleep(120)
        """,
            name,
        )
        sm = client("sagemaker")
        definition = {
            "Version": "2020-12-01",
            "Steps": [
                {
                    "Name": "Sleep",
                    "Type": "Processing",
                    "Arguments": {
                        k: v
                        for k, v in sm.describe_processing_job(ProcessingJobName=name).items()
                        if k
                        in (
                            "AppSpecification",
                            "ProcessingInputs",
                            "RoleArn",
                            "ProcessingResources",
                        )
                    },
                }
            ],
        }
        sm.create_pipeline(
            PipelineName="crash", RoleArn=role, PipelineDefinition=json.dumps(definition)
        )
        execution = sm.start_pipeline_execution(PipelineName="crash")["PipelineExecutionArn"]
        deadline, pid = time.time() + 60, None
        while not sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)[
            "PipelineExecutionSteps"
        ]:
            assert time.time() < deadline, "the pipeline never started its step"
            time.sleep(0.2)
        while pid is None:
            assert time.time() < deadline, "the job never started"
            for log in glob.glob(
                str(config.state_dir / "jobs" / "processing" / f"{name}-*" / "job.log")
            ):
                lines = open(log).read().split()
                pid = int(lines[1]) if len(lines) > 1 else None
            time.sleep(0.2)
        # The line the job printed reaches CloudWatch Logs while it runs (written in-process)
        while f"pid {pid}" not in job_log(client("logs"), "processing", name):
            assert time.time() < deadline, "the job's output never reached CloudWatch Logs"
            time.sleep(0.2)
        os.kill(info["pid"], signal.SIGKILL)
        deadline = time.time() + 20
        while _alive(pid):  # the worker ends the jobs of a server that died
            assert time.time() < deadline, "the job process outlived the server"
            time.sleep(0.2)
        start(config)
        job = client("sagemaker").describe_processing_job(ProcessingJobName=name)
        assert job["ProcessingJobStatus"] == "Failed"
        assert "localaws stopped while this processing job was running" in job["FailureReason"]
        described = client("sagemaker").describe_pipeline_execution(PipelineExecutionArn=execution)
        assert described["PipelineExecutionStatus"] == "Failed"
        assert "localaws stopped while this pipeline execution" in described["FailureReason"]
        step = client("sagemaker").list_pipeline_execution_steps(PipelineExecutionArn=execution)[
            "PipelineExecutionSteps"
        ][0]
        assert (step["StepName"], step["StepStatus"]) == ("Sleep", "Failed")
        # ... and was durable before the server died, as an acknowledged PutLogEvents is
        assert f"pid {pid}" in job_log(client("logs"), "processing", name)
    finally:
        stop(config)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:  # a zombie is dead too
        return fh.read().split(") ")[-1][0] != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_worker_pool_runs_scripts_reports_exit_and_kills(tmp_path, warm):
    from localaws.compute.workers import WorkerPool

    pool = WorkerPool(warm=warm)
    try:
        base = tmp_path / "opt_ml"
        (base / "output").mkdir(parents=True)
        script = tmp_path / "job.py"
        script.write_text(
            textwrap.dedent("""
            import os, sys
            print("argv", sys.argv[1:], "env", os.environ["JOB_VAR"])
            open("/opt/ml/output/seen.txt", "w").write(os.getcwd())
            sys.exit(int(sys.argv[1]))
        """)
        )
        spec = {
            "kind": "script",
            "path": str(script),
            "cwd": str(tmp_path),
            "opt_ml": str(base),
            "env": {"JOB_VAR": "x", "PATH": os.environ["PATH"]},
            "failure_file": str(base / "output" / "failure"),
        }
        ok = pool.start({**spec, "argv": ["0"], "log": str(tmp_path / "ok.log")})
        assert ok.wait(60) == 0
        assert (tmp_path / "ok.log").read_text() == "argv ['0'] env x\n"
        assert (base / "output" / "seen.txt").read_text() == str(tmp_path)
        assert pool.start({**spec, "argv": ["3"], "log": str(tmp_path / "three.log")}).wait(60) == 3
        sleeper = tmp_path / "sleep.py"
        sleeper.write_text("import time\ntime.sleep(60)\n")
        handle = pool.start(
            {**spec, "path": str(sleeper), "argv": [], "log": str(tmp_path / "sleep.log")}
        )
        handle.kill(signal.SIGKILL)
        assert handle.wait(30) == -signal.SIGKILL
        broken = tmp_path / "broken.py"
        broken.write_text("raise RuntimeError('no model')\n")
        handle = pool.start(
            {**spec, "path": str(broken), "argv": [], "log": str(tmp_path / "broken.log")}
        )
        assert handle.wait(60) == 1
        assert (base / "output" / "failure").read_text() == "RuntimeError: no model"
    finally:
        pool.shutdown()


@pytest.mark.slow
def test_training_job_stops_on_request_and_at_max_runtime(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=bucket, Key="sleep/train/x.csv", Body=b"1\n")
    s3.put_object(
        Bucket=bucket,
        Key="sleep/src.tar.gz",
        Body=tar_gz({"sleep.py": "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n"}),
    )

    def create(name: str, seconds: int) -> None:
        sm.create_training_job(
            TrainingJobName=name,
            RoleArn=role,
            AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            HyperParameters={
                "sagemaker_program": '"sleep.py"',
                "sagemaker_submit_directory": f'"s3://{bucket}/sleep/src.tar.gz"',
            },
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{bucket}/sleep/train",
                        }
                    },
                }
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
            ResourceConfig=RESOURCES,
            StoppingCondition={"MaxRuntimeInSeconds": seconds},
        )

    timed = unique("maxrt")
    create(timed, 2)
    stopped = unique("stop")
    create(stopped, 600)
    deadline = time.time() + 60
    while sm.describe_training_job(TrainingJobName=stopped)["SecondaryStatus"] != "Training":
        assert time.time() < deadline
        time.sleep(0.2)
    sm.stop_training_job(TrainingJobName=stopped)
    job = wait_job(sm, "training", stopped, timeout=30)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "Stopped")
    job = wait_job(sm, "training", timed, timeout=60)
    assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Training",
        "MaxRuntimeExceeded",
    ]
    with pytest.raises(sm.exceptions.ClientError, match="status Stopped"):
        sm.stop_training_job(TrainingJobName=timed)
