"""Where localaws used to differ from AWS (issue 13): each difference, now as AWS behaves.

One tenant-like bucket and role for the module; raw boto3 calls over HTTP and pipeline
definitions written as JSON, so each test names the API behaviour it checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from botocore.exceptions import ClientError
from compute_helpers import (
    SKLEARN_IMAGE,
    TRUST_STATES,
    XGBOOST_IMAGE,
    make_bucket_and_role,
    unique,
    wait_job,
)

RESOURCES = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}


@pytest.fixture(scope="module")
def tenant(localaws):
    import boto3

    session = boto3.Session(region_name="us-east-1")
    return make_bucket_and_role(lambda service: session.client(service), "diff")


@pytest.fixture(scope="module")
def states_role(localaws) -> str:
    import boto3

    iam = boto3.Session().client("iam", region_name="us-east-1")
    return iam.create_role(
        RoleName=unique("sfn"), AssumeRolePolicyDocument=json.dumps(TRUST_STATES)
    )["Role"]["Arn"]


def _pass_machine(result: str = "a") -> str:
    return json.dumps(
        {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": result, "End": True}}}
    )


# --------------------------------------------------------------------------- Step Functions
def test_create_state_machine_is_idempotent_only_for_the_same_definition(clients, states_role):
    sfn = clients("stepfunctions")
    name = unique("idem")
    arn = sfn.create_state_machine(name=name, definition=_pass_machine(), roleArn=states_role)[
        "stateMachineArn"
    ]
    # The same definition again, even with other whitespace: the existing ARN.
    again = sfn.create_state_machine(
        name=name, definition=json.dumps(json.loads(_pass_machine()), indent=2), roleArn=states_role
    )
    assert again["stateMachineArn"] == arn
    with pytest.raises(ClientError) as caught:
        sfn.create_state_machine(name=name, definition=_pass_machine("b"), roleArn=states_role)
    error = caught.value.response["Error"]
    assert error["Code"] == "StateMachineAlreadyExists"
    assert error["Message"] == f"State Machine Already Exists: '{arn}'"
    with pytest.raises(sfn.exceptions.StateMachineAlreadyExists):
        sfn.create_state_machine(
            name=name, definition=_pass_machine(), roleArn=states_role, type="EXPRESS"
        )
    # Nothing changed: the first definition is kept.
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"]) == json.loads(_pass_machine())


def test_any_field_name_ending_in_dollar_is_a_path(clients, states_role):
    sfn = clients("stepfunctions")
    definition = {
        "StartAt": "Fields",
        "States": {
            "Fields": {
                "Type": "Pass",
                "Parameters": {
                    "RoleArn.$": "$.role",
                    "Nested": {"RoleArn.$": "$$.Execution.Name"},
                    "Comment.$": "States.Format('for {}', $.role)",
                    "Plain": "RoleArn.$ stays text here",
                },
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=unique("paths"), definition=json.dumps(definition), roleArn=states_role
    )["stateMachineArn"]
    role = "arn:aws:iam::123456789012:role/tenant-a"
    started = sfn.start_execution(
        stateMachineArn=machine, name="run-1", input=json.dumps({"role": role})
    )
    deadline = time.monotonic() + 30
    while (desc := sfn.describe_execution(executionArn=started["executionArn"]))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert desc["status"] == "SUCCEEDED", desc
    assert json.loads(desc["output"]) == {
        "RoleArn": role,
        "Nested": {"RoleArn": "run-1"},
        "Comment": f"for {role}",
        "Plain": "RoleArn.$ stays text here",
    }


# --------------------------------------------------------------------------- SageMaker names
def test_create_model_and_endpoint_config_refuse_a_taken_name(clients, tenant):
    bucket, role = tenant
    sm = clients("sagemaker")
    name = unique("dup")
    container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{bucket}/m/model.tar.gz"}
    sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer=container)
    with pytest.raises(ClientError) as caught:
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=role,
            PrimaryContainer={**container, "ModelDataUrl": f"s3://{bucket}/other.tar.gz"},
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f'Cannot create already existing model "arn:aws:sagemaker:us-east-1:123456789012:'
        f'model/{name}".'
    )
    kept = sm.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataUrl"]
    assert kept == container["ModelDataUrl"]

    variants = [
        {
            "VariantName": "AllTraffic",
            "ModelName": name,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
    ]
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    with pytest.raises(ClientError) as caught:
        sm.create_endpoint_config(
            EndpointConfigName=name, ProductionVariants=[{**variants[0], "VariantName": "B"}]
        )
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        f'Cannot create already existing endpoint configuration "arn:aws:sagemaker:us-east-1:'
        f'123456789012:endpoint-config/{name}".'
    )
    config = sm.describe_endpoint_config(EndpointConfigName=name)
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"


# --------------------------------------------------------------------------- error messages
@pytest.mark.slow
def test_bad_builtin_xgboost_hyperparameter_reads_like_sagemaker(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(Bucket=bucket, Key="xgb/train/data.csv", Body=b"1,0.5\n0,0.1\n1,0.7\n")
    name = unique("badhp")
    sm.create_training_job(
        TrainingJobName=name,
        RoleArn=role,
        AlgorithmSpecification={"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"num_round": "2", "max_depth": "deep", "objective": "binary:logistic"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/xgb/train"}
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    job = wait_job(sm, "training", name)
    reason = job["FailureReason"]
    assert job["TrainingJobStatus"] == "Failed"
    assert reason.startswith("ClientError: XGBoost rejected the parameters or data:"), reason
    assert "max_depth" in reason
    assert "localaws" not in reason and "AlgorithmError" not in reason


# --------------------------------------------------------------------------- pipelines
def _run_pipeline(sm, name: str, role: str, steps: list[dict]) -> tuple[str, dict]:
    definition = json.dumps({"Version": "2020-12-01", "Parameters": [], "Steps": steps})
    try:
        sm.create_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=role)
    except ClientError:
        sm.update_pipeline(PipelineName=name, PipelineDefinition=definition, RoleArn=role)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    deadline = time.monotonic() + 120
    while (execution := sm.describe_pipeline_execution(PipelineExecutionArn=arn))[
        "PipelineExecutionStatus"
    ] == "Executing":
        assert time.monotonic() < deadline, f"{arn} still executing"
        time.sleep(0.2)
    listed = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
    assert execution["PipelineExecutionStatus"] == "Succeeded", (execution, listed)
    return arn, {s["StepName"]: s for s in listed}


def test_register_step_creates_a_missing_model_package_group(clients, tenant):
    bucket, role = tenant
    sm = clients("sagemaker")
    group = unique("nogroup")
    register = {
        "Name": "Register",
        "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": group,
            "ModelApprovalStatus": "PendingManualApproval",
            "InferenceSpecification": {
                "Containers": [
                    {"Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{bucket}/m/model.tar.gz"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        },
    }
    name = unique("reg")
    for version in (1, 2):  # the second run finds the group the first created
        _, steps = _run_pipeline(sm, name, role, [register])
        arn = steps["Register"]["Metadata"]["RegisterModel"]["Arn"]
        assert arn.endswith(f"model-package/{group}/{version}")
    assert sm.describe_model_package_group(ModelPackageGroupName=group)[
        "ModelPackageGroupStatus"
    ] in ("Completed", "Pending", "InProgress")


@pytest.mark.slow
def test_cache_hits_on_a_rerun_with_a_changed_output_path(clients, tenant):
    bucket, role = tenant
    sm, s3 = clients("sagemaker"), clients("s3")
    s3.put_object(
        Bucket=bucket,
        Key="cache/code/count.py",
        Body=b"open('/opt/ml/processing/out/n.txt', 'w').write('ran')\n",
    )
    # As the SDK writes outputs by default: under the execution id, new for every run.
    output = {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{bucket}/cache/runs", {"Get": "Execution.PipelineExecutionId"}],
        }
    }
    step = {
        "Name": "Count",
        "Type": "Processing",
        "CacheConfig": {"Enabled": True, "ExpireAfter": "PT1H"},
        "Arguments": {
            "AppSpecification": {
                "ImageUri": SKLEARN_IMAGE,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/count.py"],
            },
            "ProcessingInputs": [
                {
                    "InputName": "code",
                    "S3Input": {
                        "S3Uri": f"s3://{bucket}/cache/code/count.py",
                        "LocalPath": "/opt/ml/processing/input/code",
                        "S3DataType": "S3Prefix",
                        "S3InputMode": "File",
                    },
                }
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "out",
                        "S3Output": {
                            "S3Uri": output,
                            "LocalPath": "/opt/ml/processing/out",
                            "S3UploadMode": "EndOfJob",
                        },
                    }
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "VolumeSizeInGB": 10,
                }
            },
            "RoleArn": role,
        },
    }
    name = unique("cache")
    first, steps1 = _run_pipeline(sm, name, role, [step])
    assert "CacheHitResult" not in steps1["Count"]
    second, steps2 = _run_pipeline(sm, name, role, [step])
    assert steps2["Count"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first}
    assert steps2["Count"]["Metadata"] == steps1["Count"]["Metadata"]
    runs = s3.list_objects_v2(Bucket=bucket, Prefix="cache/runs/")["Contents"]
    assert [o["Key"] for o in runs] == [f"cache/runs/{first.rsplit('/', 1)[-1]}/n.txt"]
    # A change to what the key holds (the environment) runs the step again.
    step["Arguments"]["Environment"] = {"MODE": "changed"}
    _, steps3 = _run_pipeline(sm, name, role, [step])
    assert "CacheHitResult" not in steps3["Count"]


# --------------------------------------------------------------------------- localaws env
@pytest.mark.slow
def test_env_lets_sdk_code_find_its_default_bucket_offline(localaws, tmp_path):
    """`localaws env`'s exports, in a clean environment: the SDK reads the defaults file they
    name (bucket, telemetry off) and `default_bucket()` answers without STS."""
    from localaws.cli import env_vars

    exported = subprocess.run(
        [sys.executable, "-m", "localaws", "--state-dir", str(localaws.state_dir), "env"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "LOCALAWS_PORT": str(localaws.port)},
    ).stdout
    variables = env_vars(localaws)
    assert (
        f"export SAGEMAKER_ADMIN_CONFIG_OVERRIDE={variables['SAGEMAKER_ADMIN_CONFIG_OVERRIDE']}"
        in exported
    )
    script = """
import json, botocore.client
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.config.config import load_sagemaker_config

real = botocore.client.BaseClient._make_api_call
def no_sts(self, operation, params):
    assert self.meta.service_model.service_name != "sts", "STS was called"
    return real(self, operation, params)
botocore.client.BaseClient._make_api_call = no_sts

config = load_sagemaker_config()
modules = config["SageMaker"]["PythonSDK"]["Modules"]
answer = {"bucket": Session().default_bucket(), "telemetry_opt_out": modules["TelemetryOptOut"]}
print(json.dumps(answer))
"""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SAGEMAKER_"))}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**clean, **variables, "HOME": str(tmp_path)},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer == {"bucket": "sagemaker-us-east-1-123456789012", "telemetry_opt_out": True}
