"""localaws batch transform: CreateTransformJob really runs the model over S3 input.

The model is real XGBoost trained on scikit-learn's bundled breast cancer data (data this
project did not make); outputs are compared with the same booster's predictions in-process.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import tarfile
import time
import uuid

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from compute_helpers import XGBOOST_IMAGE, make_bucket_and_role, own_server, tar_gz, unique
from sklearn.datasets import load_breast_cancer

pytestmark = pytest.mark.slow  # real transform jobs in warm workers

# Its own model_fn: the job loads at once (no model artifact needed) and then takes its time.
SLOW_SCRIPT = """
import time
import numpy as np

def model_fn(model_dir):
    return "waits"

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    time.sleep(0.2)
    return np.zeros(1)

def output_fn(prediction, accept):
    return "0\\n", "text/csv"
"""


@pytest.fixture(scope="module")
def env(localaws):
    clients = boto3.Session(region_name="us-east-1").client
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=y), 10
    )
    bucket, role = make_bucket_and_role(clients, "transform")
    s3, sm = clients("s3"), clients("sagemaker")
    artifact = io.BytesIO()
    with tarfile.open(fileobj=artifact, mode="w:gz") as tar:
        raw = bytes(booster.save_raw(raw_format="ubj"))
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3.put_object(Bucket=bucket, Key="model/model.tar.gz", Body=artifact.getvalue())
    model = unique("bc-model")
    sm.create_model(
        ModelName=model,
        ExecutionRoleArn=role,
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{bucket}/model/model.tar.gz",
        },
    )
    return {
        "s3": s3,
        "sm": sm,
        "logs": clients("logs"),
        "bucket": bucket,
        "role": role,
        "model": model,
        "x": x,
        "expected": booster.inplace_predict(x),
    }


def csv_lines(rows: np.ndarray) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows).encode()


def put(env, key: str, body: bytes) -> str:
    env["s3"].put_object(Bucket=env["bucket"], Key=key, Body=body)
    return f"s3://{env['bucket']}/{key}"


def start(env, source: str, model: str | None = None, data_type="S3Prefix", **options) -> str:
    name = unique("tj")
    transform_input = {
        "DataSource": {"S3DataSource": {"S3DataType": data_type, "S3Uri": source}},
        "ContentType": options.pop("ContentType", "text/csv"),
        "SplitType": options.pop("SplitType", "Line"),
    }
    if "CompressionType" in options:
        transform_input["CompressionType"] = options.pop("CompressionType")
    output = {"S3OutputPath": f"s3://{env['bucket']}/out/{name}"}
    for key in ("Accept", "AssembleWith"):
        if key in options:
            output[key] = options.pop(key)
    env["sm"].create_transform_job(
        TransformJobName=name,
        ModelName=model or env["model"],
        TransformInput=transform_input,
        TransformOutput=output,
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **options,
    )
    return name


def wait(env, name: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = env["sm"].describe_transform_job(TransformJobName=name)
        if job["TransformJobStatus"] not in ("InProgress", "Stopping"):
            return job
        assert time.monotonic() < deadline, f"{name} still {job['TransformJobStatus']}"
        time.sleep(0.1)


def read(env, key: str) -> bytes:
    return env["s3"].get_object(Bucket=env["bucket"], Key=key)["Body"].read()


def scores(text: bytes) -> np.ndarray:
    return np.array([float(v) for v in text.decode().split()])


def test_prefix_input_matches_direct_prediction_with_outputs_and_logs(env):
    x, expected = env["x"], env["expected"]
    folder = f"in/{uuid.uuid4().hex[:6]}"
    put(env, f"{folder}/a.csv", csv_lines(x[:300]))
    put(env, f"{folder}/sub/b.csv", csv_lines(x[300:]))
    name = start(
        env, f"s3://{env['bucket']}/{folder}", BatchStrategy="MultiRecord", AssembleWith="Line"
    )
    assert env["sm"].describe_transform_job(TransformJobName=name)["TransformJobStatus"] in (
        "InProgress",
        "Completed",
    )
    job = wait(env, name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelName"] == env["model"] and "TransformEndTime" in job
    # the key relative to the prefix's folder ("in/<id>/"), plus ".out"
    first = scores(read(env, f"out/{name}/{folder.split('/')[1]}/a.csv.out"))
    second = scores(read(env, f"out/{name}/{folder.split('/')[1]}/sub/b.csv.out"))
    np.testing.assert_allclose(np.concatenate([first, second]), expected, rtol=1e-5, atol=1e-6)
    listed = env["sm"].list_transform_jobs(NameContains=name)["TransformJobSummaries"]
    assert [j["TransformJobStatus"] for j in listed] == ["Completed"]
    group = "/aws/sagemaker/TransformJobs"
    stream = env["logs"].describe_log_streams(logGroupName=group, logStreamNamePrefix=name)[
        "logStreams"
    ][0]["logStreamName"]
    events = env["logs"].get_log_events(logGroupName=group, logStreamName=stream)["events"]
    text = "\n".join(e["message"] for e in events)
    assert "300 record(s) in 1 request(s)" in text and "a.csv.out" in text


@pytest.mark.parametrize(
    ("options", "requests"),
    [
        ({"BatchStrategy": "SingleRecord", "AssembleWith": "Line"}, 40),
        ({"BatchStrategy": "MultiRecord", "AssembleWith": "None", "MaxPayloadInMB": 1}, 1),
        ({"BatchStrategy": "MultiRecord", "Accept": "application/json", "AssembleWith": "Line"}, 1),
        ({"SplitType": "None", "AssembleWith": "None"}, 1),
    ],
)
def test_split_batch_and_assemble_variants(env, options, requests):
    rows = env["x"][:40]
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/part.csv", csv_lines(rows))
    name = start(env, source, **dict(options))
    job = wait(env, name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    output = read(env, f"out/{name}/part.csv.out")
    if options.get("Accept") == "application/json":
        lines = output.decode().splitlines()
        assert len(lines) == requests
        got = [p["score"] for line in lines for p in json.loads(line)["predictions"]]
    else:
        got = [float(v) for v in output.decode().split()]
        # AssembleWith Line ends each response with a newline; None adds nothing
        assert output.endswith(b"\n")
    np.testing.assert_allclose(got, env["expected"][:40], rtol=1e-5, atol=1e-6)
    logs = env["logs"].get_log_events(
        logGroupName="/aws/sagemaker/TransformJobs",
        logStreamName=env["logs"].describe_log_streams(
            logGroupName="/aws/sagemaker/TransformJobs", logStreamNamePrefix=name
        )["logStreams"][0]["logStreamName"],
    )["events"]
    count = 1 if options.get("SplitType") == "None" else 40  # None: the object is one record
    assert any(f"{count} record(s) in {requests} request(s)" in e["message"] for e in logs)


def test_manifest_and_gzip_input(env):
    folder = f"in/{uuid.uuid4().hex[:6]}/"
    put(env, folder + "one.csv.gz", gzip.compress(csv_lines(env["x"][:10])))
    put(env, folder + "two.csv.gz", gzip.compress(csv_lines(env["x"][10:25])))
    put(env, folder + "ignored.csv.gz", b"not listed in the manifest")
    manifest = [{"prefix": f"s3://{env['bucket']}/{folder}"}, "one.csv.gz", "two.csv.gz"]
    source = put(env, f"manifests/{uuid.uuid4().hex[:6]}.json", json.dumps(manifest).encode())
    name = start(
        env, source, data_type="ManifestFile", CompressionType="Gzip", BatchStrategy="MultiRecord"
    )
    job = wait(env, name)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    got = np.concatenate(
        [scores(read(env, f"out/{name}/{k}.out")) for k in ("one.csv.gz", "two.csv.gz")]
    )
    np.testing.assert_allclose(got, env["expected"][:25], rtol=1e-5, atol=1e-6)
    with pytest.raises(ClientError):
        read(env, f"out/{name}/ignored.csv.gz.out")


def _refused(env, **overrides) -> str:
    kwargs = {
        "TransformJobName": unique("tj"),
        "ModelName": env["model"],
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{env['bucket']}/in"}
            }
        },
        "TransformOutput": {"S3OutputPath": f"s3://{env['bucket']}/out"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    kwargs.update(overrides)
    with pytest.raises(ClientError) as caught:
        env["sm"].create_transform_job(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    with pytest.raises(ClientError):  # nothing recorded
        env["sm"].describe_transform_job(TransformJobName=kwargs["TransformJobName"])
    return error["Message"]


def test_bad_requests_are_refused_and_change_nothing(env):
    assert 'Could not find model "arn:aws:sagemaker:' in _refused(env, ModelName="no-such-model")
    message = _refused(env, DataProcessing={"InputFilter": "$[1:]", "JoinSource": "Input"})
    assert "DataProcessing" in message and "InputFilter" in message
    bad_split = {
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{env['bucket']}/in"}
        },
        "SplitType": "RecordIO",
    }
    assert "RecordIO" in _refused(env, TransformInput=bad_split)
    capture = {"DestinationS3Uri": f"s3://{env['bucket']}/capture"}
    assert "DataCaptureConfig" in _refused(env, DataCaptureConfig=capture)


def test_duplicate_name_is_a_validation_exception(env):
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/d.csv", csv_lines(env["x"][:3]))
    name = start(env, source)
    wait(env, name)
    with pytest.raises(ClientError) as caught:
        env["sm"].create_transform_job(
            TransformJobName=name,
            ModelName=env["model"],
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}}
            },
            TransformOutput={"S3OutputPath": f"s3://{env['bucket']}/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException" and "must be unique" in error["Message"]


def test_bad_record_fails_naming_its_line_and_the_other_objects_still_run(env):
    folder = f"in/{uuid.uuid4().hex[:6]}"
    body = csv_lines(env["x"][:5]) + b"1.0,not-a-number\n" + csv_lines(env["x"][5:8])
    put(env, f"{folder}/a-bad.csv", body)
    put(env, f"{folder}/b-good.csv", csv_lines(env["x"][:4]))
    name = start(env, f"s3://{env['bucket']}/{folder}/", BatchStrategy="MultiRecord")
    job = wait(env, name)
    assert job["TransformJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert reason.startswith("ClientError: the model answered 400 for the record at line 6 of")
    assert "a-bad.csv" in reason
    # no partial output for the failed object; the good one is transformed (as AWS documents)
    with pytest.raises(ClientError):
        read(env, f"out/{name}/a-bad.csv.out")
    np.testing.assert_allclose(
        scores(read(env, f"out/{name}/b-good.csv.out")), env["expected"][:4], rtol=1e-5, atol=1e-6
    )


def test_bad_model_artifact_and_unreadable_input_fail_with_reasons(env):
    url = put(env, f"model/{uuid.uuid4().hex[:6]}/model.tar.gz", b"this is not a tarball")
    broken = unique("broken")
    env["sm"].create_model(
        ModelName=broken,
        ExecutionRoleArn=env["role"],
        PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url},
    )
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/ok.csv", csv_lines(env["x"][:3]))
    job = wait(env, start(env, source, model=broken))
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: the model could not be loaded")
    assert "not a valid .tar.gz" in job["FailureReason"]
    # the model's role may not read another bucket: AccessDenied, named
    other = unique("other")
    env["s3"].create_bucket(Bucket=other)
    env["s3"].put_object(Bucket=other, Key="x.csv", Body=csv_lines(env["x"][:3]))
    job = wait(env, start(env, f"s3://{other}/x.csv"))
    assert job["TransformJobStatus"] == "Failed" and "AccessDenied" in job["FailureReason"]


def test_stop_a_running_job(env):
    code = put(env, f"code/{uuid.uuid4().hex[:6]}/code.tar.gz", tar_gz({"slow.py": SLOW_SCRIPT}))
    slow = unique("slow")
    env["sm"].create_model(
        ModelName=slow,
        ExecutionRoleArn=env["role"],
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{env['bucket']}/model/model.tar.gz",
            "Environment": {"SAGEMAKER_PROGRAM": "slow.py", "SAGEMAKER_SUBMIT_DIRECTORY": code},
        },
    )
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/many.csv", b"1\n" * 200)
    name = start(env, source, model=slow, BatchStrategy="SingleRecord")
    time.sleep(1.0)
    env["sm"].stop_transform_job(TransformJobName=name)
    assert env["sm"].describe_transform_job(TransformJobName=name)["TransformJobStatus"] in (
        "Stopping",
        "Stopped",
    )
    job = wait(env, name, timeout=30)
    assert job["TransformJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as caught:
        env["sm"].stop_transform_job(TransformJobName=name)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def _pipeline_run(env, definition: dict, name: str | None = None) -> tuple[dict, dict]:
    """Run `definition` as a new pipeline, or as a new execution of pipeline `name`."""
    sm = env["sm"]
    if name is None:
        name = unique("tp")
        sm.create_pipeline(
            PipelineName=name, RoleArn=env["role"], PipelineDefinition=json.dumps(definition)
        )
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    deadline = time.monotonic() + 120
    while True:
        execution = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
        if execution["PipelineExecutionStatus"] not in ("Executing", "Stopping"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    return execution, {s["StepName"]: s for s in steps}


def _score_definition(env, source: str, cache: bool = False) -> tuple[dict, dict]:
    """A pipeline: a Transform step whose output path carries the execution id, then a
    condition on its properties; and that output path expression."""
    output = {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{env['bucket']}/pipe", {"Get": "Execution.PipelineExecutionId"}],
        }
    }
    definition = {
        "Version": "2020-12-01",
        "Parameters": [{"Name": "Input", "Type": "String", "DefaultValue": source}],
        "Steps": [
            {
                "Name": "Score",
                "Type": "Transform",
                "Arguments": {
                    "ModelName": env["model"],
                    "BatchStrategy": "MultiRecord",
                    "TransformInput": {
                        "DataSource": {
                            "S3DataSource": {
                                "S3DataType": "S3Prefix",
                                "S3Uri": {"Get": "Parameters.Input"},
                            }
                        },
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                    },
                    "TransformOutput": {"S3OutputPath": output, "AssembleWith": "Line"},
                    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
                },
            },
            {
                "Name": "Scored",
                "Type": "Condition",
                "Arguments": {
                    "Conditions": [
                        {
                            "Type": "Equals",
                            "LeftValue": {"Get": "Steps.Score.TransformOutput.S3OutputPath"},
                            "RightValue": output,
                        },
                        {
                            "Type": "Equals",
                            "LeftValue": {"Get": "Steps.Score.TransformJobStatus"},
                            "RightValue": "Completed",
                        },
                    ],
                    "IfSteps": [],
                    "ElseSteps": [
                        {"Name": "Wrong", "Type": "Fail", "Arguments": {"ErrorMessage": "no"}}
                    ],
                },
            },
        ],
    }
    if cache:
        definition["Steps"][0]["CacheConfig"] = {"Enabled": True, "ExpireAfter": "PT1H"}
    return definition, output


def test_transform_step_in_a_pipeline_with_its_properties_referred_to(env):
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/p.csv", csv_lines(env["x"][:20]))
    definition, output = _score_definition(env, source)
    execution, steps = _pipeline_run(env, definition)
    assert execution["PipelineExecutionStatus"] == "Succeeded", steps
    assert steps["Scored"]["Metadata"]["Condition"]["Outcome"] == "True"
    job_arn = steps["Score"]["Metadata"]["TransformJob"]["Arn"]
    job = env["sm"].describe_transform_job(TransformJobName=job_arn.rsplit("/", 1)[1])
    exec_id = execution["PipelineExecutionArn"].rsplit("/", 1)[1]
    assert job["TransformOutput"]["S3OutputPath"] == f"s3://{env['bucket']}/pipe/{exec_id}"
    got = scores(read(env, f"pipe/{exec_id}/p.csv.out"))
    np.testing.assert_allclose(got, env["expected"][:20], rtol=1e-5, atol=1e-6)


def test_transform_step_is_cached_on_a_rerun_with_a_new_output_path(env):
    """Transform's cache key is DataProcessing, Environment, ModelName and TransformInput
    (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html): the output
    path, which carries the execution id, does not count."""
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/p.csv", csv_lines(env["x"][:5]))
    definition, _ = _score_definition(env, source, cache=True)
    # only the Transform step: a cache hit's properties are the earlier run's (its output path)
    definition["Steps"] = definition["Steps"][:1]
    name = unique("tpc")
    env["sm"].create_pipeline(
        PipelineName=name, RoleArn=env["role"], PipelineDefinition=json.dumps(definition)
    )
    first, steps1 = _pipeline_run(env, definition, name)
    second, steps2 = _pipeline_run(env, definition, name)
    assert first["PipelineExecutionStatus"] == second["PipelineExecutionStatus"] == "Succeeded"
    assert "CacheHitResult" not in steps1["Score"]
    assert steps2["Score"]["CacheHitResult"] == {
        "SourcePipelineExecutionArn": first["PipelineExecutionArn"]
    }
    assert steps2["Score"]["Metadata"] == steps1["Score"]["Metadata"]


def test_create_transform_job_sync_in_a_state_machine(env):
    clients = boto3.Session(region_name="us-east-1").client
    iam, sfn = clients("iam"), clients("stepfunctions")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=unique("sfn-transform"), AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    iam.put_role_policy(
        RoleName=role["RoleName"],
        PolicyName="transform",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "sagemaker:CreateTransformJob",
                            "sagemaker:DescribeTransformJob",
                            "sagemaker:StopTransformJob",
                        ],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    source = put(env, f"in/{uuid.uuid4().hex[:6]}/s.csv", csv_lines(env["x"][:7]))
    broken = unique("broken-sfn")
    env["sm"].create_model(
        ModelName=broken,
        ExecutionRoleArn=env["role"],
        PrimaryContainer={
            "Image": XGBOOST_IMAGE,
            "ModelDataUrl": f"s3://{env['bucket']}/no/such/model.tar.gz",
        },
    )
    definition = {
        "StartAt": "Score",
        "States": {
            "Score": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                "Parameters": {
                    "TransformJobName.$": "$$.Execution.Name",
                    "ModelName.$": "$.model",
                    "TransformInput": {
                        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}},
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                    },
                    "TransformOutput": {
                        "S3OutputPath.$": "States.Format('s3://{}/sfn/{}', $.bucket, "
                        "$$.Execution.Name)"
                    },
                    "TransformResources": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
                },
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=unique("sm"), definition=json.dumps(definition), roleArn=role["Arn"]
    )["stateMachineArn"]

    def run(model: str) -> dict:
        name = unique("run")
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name=name,
            input=json.dumps({"model": model, "bucket": env["bucket"]}),
        )["executionArn"]
        deadline = time.monotonic() + 120
        while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        return {**desc, "name": name}

    done = run(env["model"])
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["TransformJobStatus"] == "Completed"
    got = scores(read(env, f"sfn/{done['name']}/s.csv.out"))
    np.testing.assert_allclose(got, env["expected"][:7], rtol=1e-5, atol=1e-6)

    failed = run(broken)
    assert failed["status"] == "FAILED" and failed["error"] == "States.TaskFailed"
    cause = json.loads(failed["cause"])
    assert cause["TransformJobStatus"] == "Failed"
    assert "could not be loaded" in cause["FailureReason"] and "NoSuchKey" in cause["FailureReason"]

    missing = run("no-such-model")
    assert missing["status"] == "FAILED" and missing["error"].startswith("SageMaker."), missing
    assert "Could not find model" in missing["cause"]


@pytest.mark.slow
def test_job_running_when_the_server_dies_comes_back_failed(tmp_path):
    from localaws.cli import start

    with own_server(tmp_path / "state") as (config, info, session):

        def client(name):
            return session.client(name, endpoint_url=config.endpoint_url)

        bucket, role = make_bucket_and_role(client, "tcrash")
        s3, sm = client("s3"), client("sagemaker")
        s3.put_object(Bucket=bucket, Key="code.tar.gz", Body=tar_gz({"slow.py": SLOW_SCRIPT}))
        s3.put_object(Bucket=bucket, Key="in/many.csv", Body=b"1\n" * 500)
        sm.create_model(
            ModelName="slow",
            ExecutionRoleArn=role,
            PrimaryContainer={
                "Image": XGBOOST_IMAGE,
                "Environment": {
                    "SAGEMAKER_PROGRAM": "slow.py",
                    "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://{bucket}/code.tar.gz",
                },
            },
        )
        sm.create_transform_job(
            TransformJobName="crash",
            ModelName="slow",
            TransformInput={
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/in"}
                },
                "SplitType": "Line",
            },
            TransformOutput={"S3OutputPath": f"s3://{bucket}/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
        time.sleep(2)
        assert sm.describe_transform_job(TransformJobName="crash")["TransformJobStatus"] == (
            "InProgress"
        )
        os.kill(info["pid"], signal.SIGKILL)
        time.sleep(1)
        start(config)
        job = client("sagemaker").describe_transform_job(TransformJobName="crash")
        assert job["TransformJobStatus"] == "Failed"
        assert "localaws stopped while this transform job was running" in job["FailureReason"]
