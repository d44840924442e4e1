"""The abalone work as a state machine of Step Functions' optimized SageMaker integrations:
createProcessingJob.sync -> createTrainingJob.sync (built-in XGBoost) -> createModel ->
createTransformJob.sync. Names and paths come from the input with `.$` fields (`RoleArn.$`
among them); boto3 only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from compat.checks import INSTANCE, SKLEARN_IMAGE, XGBOOST_IMAGE, Row, unique

STATES = ("Preprocess", "Train", "CreateModel", "Transform")
_SYNC = "arn:aws:states:::sagemaker:"


def _uri(*parts: str) -> str:
    """An S3 URI built at run time from the input's bucket and run name."""
    return "States.Format('s3://{}/sfn/{}/" + "/".join(parts) + "', $.bucket, $.run)"


def _processing_io(name: str, uri_field: str, uri: str, output: bool = False) -> dict:
    local = f"/opt/ml/processing/{name}"
    if output:
        return {
            "OutputName": name,
            "S3Output": {uri_field: uri, "LocalPath": local, "S3UploadMode": "EndOfJob"},
        }
    return {
        "InputName": name,
        "S3Input": {
            uri_field: uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
        },
    }


def definition() -> dict:
    """The ASL definition; input: {"bucket", "run", "role", "data"} (data: an S3 prefix)."""
    channel = lambda name: {  # noqa: E731
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": _uri("process", name)}
        },
    }
    preprocess = {
        "Type": "Task",
        "Resource": f"{_SYNC}createProcessingJob.sync",
        "Parameters": {
            "ProcessingJobName.$": "States.Format('{}-process', $.run)",
            "RoleArn.$": "$.role",
            "AppSpecification": {
                "ImageUri": SKLEARN_IMAGE,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/preprocess.py"],
            },
            "ProcessingInputs": [
                _processing_io("code", "S3Uri.$", _uri("code", "preprocess.py")),
                _processing_io("input", "S3Uri.$", "$.data"),
            ],
            "ProcessingOutputConfig": {
                "Outputs": [
                    _processing_io(part, "S3Uri.$", _uri("process", part), output=True)
                    for part in ("train", "validation", "test", "batch")
                ]
            },
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceCount": 1,
                    "InstanceType": INSTANCE,
                    "VolumeSizeInGB": 10,
                }
            },
        },
        "ResultSelector": {"status.$": "$.ProcessingJobStatus"},
        "ResultPath": "$.process",
        "Next": "Train",
    }
    train = {
        "Type": "Task",
        "Resource": f"{_SYNC}createTrainingJob.sync",
        "Parameters": {
            "TrainingJobName.$": "States.Format('{}-train', $.run)",
            "RoleArn.$": "$.role",
            "AlgorithmSpecification": {"TrainingImage": XGBOOST_IMAGE, "TrainingInputMode": "File"},
            "HyperParameters": {"objective": "reg:squarederror", "num_round": "30"},
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {"S3OutputPath.$": _uri("model")},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": INSTANCE, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "ResultSelector": {"model.$": "$.ModelArtifacts.S3ModelArtifacts"},
        "ResultPath": "$.train",
        "Next": "CreateModel",
    }
    create_model = {
        "Type": "Task",
        "Resource": f"{_SYNC}createModel",
        "Parameters": {
            "ModelName.$": "$.run",
            "ExecutionRoleArn.$": "$.role",
            "PrimaryContainer": {"Image": XGBOOST_IMAGE, "ModelDataUrl.$": "$.train.model"},
        },
        "ResultPath": None,
        "Next": "Transform",
    }
    transform = {
        "Type": "Task",
        "Resource": f"{_SYNC}createTransformJob.sync",
        "Parameters": {
            "TransformJobName.$": "States.Format('{}-transform', $.run)",
            "ModelName.$": "$.run",
            "TransformInput": {
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": _uri("process", "batch")}
                },
                "ContentType": "text/csv",
                "SplitType": "Line",
            },
            "TransformOutput": {
                "S3OutputPath.$": _uri("transform"),
                "Accept": "text/csv",
                "AssembleWith": "Line",
            },
            "TransformResources": {"InstanceCount": 1, "InstanceType": INSTANCE},
        },
        "ResultSelector": {"status.$": "$.TransformJobStatus"},
        "ResultPath": "$.transform",
        "End": True,
    }
    return {
        "Comment": "abalone: process, train, model, batch transform (.sync integrations)",
        "StartAt": "Preprocess",
        "States": {
            "Preprocess": preprocess,
            "Train": train,
            "CreateModel": create_model,
            "Transform": transform,
        },
    }


def run(session, bucket: str, role: str, timeout: float = 600) -> tuple[str, dict, list[Row]]:
    """Create and run the state machine once: (run name, DescribeExecution, rows)."""
    sfn, s3 = session.client("stepfunctions"), session.client("s3")
    name = unique("abalone-sfn")
    s3.put_object(
        Bucket=bucket,
        Key=f"sfn/{name}/code/preprocess.py",
        Body=(Path(__file__).parent / "scripts" / "preprocess.py").read_bytes(),
    )
    machine = sfn.create_state_machine(
        name=name, definition=json.dumps(definition()), roleArn=role
    )["stateMachineArn"]
    started = sfn.start_execution(
        stateMachineArn=machine,
        name=name,
        input=json.dumps(
            {"bucket": bucket, "run": name, "role": role, "data": f"s3://{bucket}/abalone/raw"}
        ),
    )
    deadline = time.monotonic() + timeout
    while (desc := sfn.describe_execution(executionArn=started["executionArn"]))[
        "status"
    ] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"state machine execution {name} still running")
        time.sleep(0.5)
    events = sfn.get_execution_history(executionArn=started["executionArn"], maxResults=1000)
    exited = {
        e["stateExitedEventDetails"]["name"]
        for e in events["events"]
        if e["type"].endswith("StateExited")
    }
    rows, failed_seen = [], False
    labels = {
        "Preprocess": "state machine: createProcessingJob.sync",
        "Train": "state machine: createTrainingJob.sync (built-in XGBoost)",
        "CreateModel": "state machine: createModel",
        "Transform": "state machine: createTransformJob.sync",
    }
    for state in STATES:
        if state in exited:
            rows.append(Row(labels[state], True))
        else:
            detail = "not reached" if failed_seen else f"{desc.get('error')}: {desc.get('cause')}"
            rows.append(Row(labels[state], False, detail[:200]))
            failed_seen = True
    if rows[-1].works and not s3.list_objects_v2(
        Bucket=bucket, Prefix=f"sfn/{name}/transform/"
    ).get("Contents"):
        rows[-1] = Row(rows[-1].feature, False, "the job ended Completed but wrote no output")
    return name, desc, rows
