"""Step Functions on localaws: executions run and their tasks reach this server, as AWS does."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from compute_helpers import TRUST_STATES, make_role, own_server

ACCOUNT = "123456789012"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def wait_done(sfn, execution_arn: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING":
            return desc
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
        time.sleep(0.02)


def run(sfn, definition: dict, role_arn: str, execution_input: dict | None = None) -> dict:
    """Create a state machine, run it once to the end, return DescribeExecution."""
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input or {}))
    return wait_done(sfn, started["executionArn"])


def task(resource: str, parameters: dict, **fields) -> dict:
    return {
        "Type": "Task",
        "Resource": f"arn:aws:states:::{resource}",
        "Parameters": parameters,
        **fields,
    }


def chain(*states: tuple[str, dict]) -> dict:
    """A definition running `states` (name, state) in order."""
    out = {}
    for (name, state), following in zip(states, [*states[1:], None], strict=True):
        out[name] = {**state, "Next": following[0]} if following else {**state, "End": True}
    return {"StartAt": states[0][0], "States": out}


@pytest.fixture(scope="module")
def admin_role(localaws):
    iam = boto3.Session().client("iam", region_name="us-east-1")
    return make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])


@pytest.fixture(scope="module")
def table(localaws):
    name = uid("sfn-table")
    boto3.Session().client("dynamodb", region_name="us-east-1").create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    return name


def test_integrations_run_to_succeeded_with_side_effects(clients, admin_role, table):
    s3, sm, iam, ddb, sfn = (
        clients(n) for n in ("s3", "sagemaker", "iam", "dynamodb", "stepfunctions")
    )
    bucket, group, role_name = uid("sfn-bucket"), uid("sfn-group"), uid("made-by-sfn")
    s3.create_bucket(Bucket=bucket)
    key = {"pk": {"S.$": "$.id"}}
    definition = chain(
        (
            "Put",
            task(
                "aws-sdk:s3:putObject",
                {"Bucket": bucket, "Key": "hello.txt", "Body.$": "$.text"},
                ResultPath=None,
            ),
        ),
        (
            "Get",
            task(
                "aws-sdk:s3:getObject",
                {"Bucket": bucket, "Key": "hello.txt"},
                ResultSelector={"body.$": "$.Body"},
                ResultPath="$.read",
            ),
        ),
        (
            "Group",
            task(
                "aws-sdk:sagemaker:createModelPackageGroup",
                {"ModelPackageGroupName": group, "Tags": [{"Key": "tenant-id", "Value": "t1"}]},
                ResultPath="$.group",
            ),
        ),
        (
            "Role",
            task(
                "aws-sdk:iam:createRole",
                {"RoleName": role_name, "AssumeRolePolicyDocument": TRUST_STATES},
                ResultSelector={"arn.$": "$.Role.Arn"},
                ResultPath="$.role",
            ),
        ),
        (
            "PutItem",
            task(
                "dynamodb:putItem",
                {"TableName": table, "Item": {"pk": {"S.$": "$.id"}, "status": {"S": "NEW"}}},
                ResultPath=None,
            ),
        ),
        (
            "UpdateItem",
            task(
                "dynamodb:updateItem",
                {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": "SET #s = :s",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "ACTIVE"}},
                },
                ResultPath=None,
            ),
        ),
        (
            "GetItem",
            task(
                "dynamodb:getItem",
                {"TableName": table, "Key": key},
                ResultSelector={"status.$": "$.Item.status.S"},
                ResultPath="$.item",
            ),
        ),
        (
            "SdkGetItem",
            task(
                "aws-sdk:dynamodb:getItem",
                {"TableName": table, "Key": key},
                ResultSelector={"status.$": "$.Item.status.S"},
                ResultPath="$.sdkItem",
            ),
        ),
        (
            "Copy",
            task(
                "dynamodb:putItem",
                {
                    "TableName": table,
                    "Item": {"pk": {"S": "copy"}, "status": {"S.$": "$.item.status"}},
                },
                ResultPath=None,
            ),
        ),
    )

    desc = run(sfn, definition, admin_role, {"id": "acme", "text": "hello, tenant"})

    assert desc["status"] == "SUCCEEDED", desc
    output = json.loads(desc["output"])
    assert output["read"] == {"body": "hello, tenant"}
    assert output["group"]["ModelPackageGroupArn"].endswith(f"model-package-group/{group}")
    assert output["item"] == {"status": "ACTIVE"} and output["sdkItem"] == {"status": "ACTIVE"}
    assert s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hello, tenant"
    assert sm.list_tags(ResourceArn=output["group"]["ModelPackageGroupArn"])["Tags"] == [
        {"Key": "tenant-id", "Value": "t1"}
    ]
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert output["role"]["arn"] == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    items = {i["pk"]["S"]: i["status"]["S"] for i in ddb.scan(TableName=table)["Items"]}
    assert items["acme"] == "ACTIVE" and items["copy"] == "ACTIVE"

    deleted = run(
        sfn,
        chain(
            ("Del", task("dynamodb:deleteItem", {"TableName": table, "Key": {"pk": {"S": "copy"}}}))
        ),
        admin_role,
    )
    assert deleted["status"] == "SUCCEEDED"
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "copy"}})


def test_tasks_sign_as_the_state_machine_role(clients):
    """S3 checks the task's calls against the execution role's policies."""
    s3, iam, sfn = clients("s3"), clients("iam"), clients("stepfunctions")
    mine, other = uid("sfn-mine"), uid("sfn-other")
    for bucket in (mine, other):
        s3.create_bucket(Bucket=bucket)
    role = make_role(
        iam,
        [
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:GetObject"],
                "Resource": f"arn:aws:s3:::{mine}/*",
            }
        ],
    )

    def put(bucket: str) -> dict:
        return run(
            sfn,
            chain(
                ("Put", task("aws-sdk:s3:putObject", {"Bucket": bucket, "Key": "k", "Body": "x"}))
            ),
            role,
        )

    assert put(mine)["status"] == "SUCCEEDED"
    denied = put(other)
    assert denied["status"] == "FAILED"
    assert denied["error"] == "S3.AccessDeniedException", denied
    assert not s3.list_objects_v2(Bucket=other).get("Contents")


@pytest.mark.parametrize(
    "resource,parameters,error",
    [
        (
            "aws-sdk:s3:getObject",
            {"Bucket": "no-such-bucket-h2", "Key": "k"},
            "S3.NoSuchBucketException",
        ),
        ("aws-sdk:iam:getRole", {"RoleName": "no-such-role-h2"}, "Iam.NoSuchEntityException"),
        (
            "aws-sdk:dynamodb:getItem",
            {"TableName": "no-such-table-h2", "Key": {"pk": {"S": "a"}}},
            "DynamoDb.ResourceNotFoundException",
        ),
        (
            "dynamodb:getItem",
            {"TableName": "no-such-table-h2", "Key": {"pk": {"S": "a"}}},
            "DynamoDB.ResourceNotFoundException",
        ),
        # SageMaker models ResourceNotFound; its ValidationException is unmodelled, which Step
        # Functions reports under the SDK's service exception name.
        (
            "aws-sdk:sagemaker:deleteModelPackageGroup",
            {"ModelPackageGroupName": "no-such-group"},
            "SageMaker.SageMakerException",
        ),
    ],
)
def test_failing_task_surfaces_the_aws_error_name(clients, admin_role, resource, parameters, error):
    sfn = clients("stepfunctions")
    desc = run(sfn, chain(("T", task(resource, parameters))), admin_role)
    assert desc["status"] == "FAILED"
    assert desc["error"] == error
    assert desc["cause"]
    history = sfn.get_execution_history(executionArn=desc["executionArn"])["events"]
    failed = [e for e in history if e["type"] == "TaskFailed"]
    assert failed and failed[0]["taskFailedEventDetails"]["error"] == error
    assert history[-1]["type"] == "ExecutionFailed"


def test_catch_on_aws_error_names(clients, admin_role, table):
    sfn, ddb = clients("stepfunctions"), clients("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    definition = {
        "StartAt": "Create",
        "States": {
            "Create": task(
                "dynamodb:putItem",
                {
                    "TableName": table,
                    "Item": {"pk": {"S": "taken"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                },
                Catch=[
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.error",
                        "Next": "Read",
                    }
                ],
                End=True,
            ),
            "Read": task(
                "aws-sdk:s3:getObject",
                {"Bucket": "no-such-bucket-h2", "Key": "k"},
                Catch=[
                    {"ErrorEquals": ["S3.NoSuchKeyException"], "Next": "Wrong"},
                    {
                        "ErrorEquals": ["S3.NoSuchBucketException"],
                        "ResultPath": "$.s3error",
                        "Next": "Any",
                    },
                ],
                End=True,
            ),
            "Any": task(
                "aws-sdk:sagemaker:describeModelPackageGroup",
                {"ModelPackageGroupName": "no-such-group"},
                Catch=[
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "ResultPath": "$.smerror",
                        "Next": "Done",
                    }
                ],
                End=True,
            ),
            "Wrong": {"Type": "Fail", "Error": "WrongCatch"},
            "Done": {"Type": "Pass", "End": True},
        },
    }
    desc = run(sfn, definition, admin_role)
    assert desc["status"] == "SUCCEEDED", desc
    output = json.loads(desc["output"])
    assert output["error"]["Error"] == "DynamoDB.ConditionalCheckFailedException"
    assert output["s3error"]["Error"] == "S3.NoSuchBucketException"
    assert output["smerror"]["Error"].startswith("SageMaker.")
    assert "does not exist" in output["smerror"]["Cause"]


def test_start_without_name_twice_and_describe(clients, admin_role):
    sfn = clients("stepfunctions")
    machine = sfn.create_state_machine(
        name=uid("sm"),
        roleArn=admin_role,
        definition=json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}
        ),
    )["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine, input='{"n": 1}')["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second
    name = second.rsplit(":", 1)[1]
    assert str(uuid.UUID(name)) == name
    for arn in (first, second):
        desc = wait_done(sfn, arn)
        assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"ok": True}
        assert "stopDate" in desc
    assert json.loads(sfn.describe_execution(executionArn=first)["input"]) == {"n": 1}
    listed = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert {e["executionArn"] for e in listed} == {first, second}
    events = sfn.get_execution_history(executionArn=first)["events"]
    types = [e["type"] for e in events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "PassStateEntered" in types
    newest = sfn.get_execution_history(executionArn=first, reverseOrder=True, maxResults=1)
    assert newest["events"][0]["type"] == "ExecutionSucceeded" and newest["nextToken"]
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=first, PaginationConfig={"PageSize": 2}
    )
    assert [e["id"] for page in pages for e in page["events"]] == [e["id"] for e in events]


def _tiny_model_artifact() -> bytes:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3))
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2},
        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int)),
        4,
    )
    raw = bytes(booster.save_raw(raw_format="ubj"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    return buf.getvalue()


@pytest.mark.slow
def test_invoke_endpoint_integration(clients, admin_role):
    s3, sm, sfn = clients("s3"), clients("sagemaker"), clients("stepfunctions")
    bucket, name = uid("sfn-models"), uid("sfn-ep")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="model.tar.gz", Body=_tiny_model_artifact())
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=admin_role,
        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": f"s3://{bucket}/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 60
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    def invoke(endpoint: str) -> dict:
        return run(
            sfn,
            chain(
                (
                    "Invoke",
                    task(
                        "aws-sdk:sagemakerruntime:invokeEndpoint",
                        {
                            "EndpointName": endpoint,
                            "ContentType": "text/csv",
                            "Accept": "text/csv",
                            "Body.$": "$.row",
                        },
                    ),
                )
            ),
            admin_role,
            {"row": "1.0,0.0,0.0\n-1.0,0.0,0.0"},
        )

    desc = invoke(name)
    assert desc["status"] == "SUCCEEDED", desc
    output = json.loads(desc["output"])
    assert output["ContentType"].startswith("text/csv")
    scores = [float(v) for v in output["Body"].replace("\n", ",").split(",") if v.strip()]
    assert len(scores) == 2 and scores[0] > 0.5 > scores[1]

    missing = invoke(uid("no-endpoint"))
    assert missing["status"] == "FAILED"
    assert missing["error"].startswith("SageMakerRuntime.")


def test_retry_on_an_aws_error_name(clients, admin_role):
    sfn = clients("stepfunctions")
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": task(
                "aws-sdk:s3:getObject",
                {"Bucket": "no-such-bucket-h2", "Key": "k"},
                Retry=[
                    {
                        "ErrorEquals": ["S3.NoSuchBucketException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 1,
                    }
                ],
                Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Gave up"}],
                End=True,
            ),
            "Gave up": {"Type": "Pass", "End": True},
        },
    }
    desc = run(sfn, definition, admin_role)
    assert desc["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=desc["executionArn"])["events"]
    assert [e["type"] for e in events].count("TaskScheduled") == 2


@pytest.mark.slow
def test_executions_survive_a_restart(tmp_path):
    """History and output of an ended execution are still there after stop + start."""
    from localaws.cli import start, stop

    with own_server(tmp_path / "state") as (config, _, session):
        sfn = session.client("stepfunctions", endpoint_url=config.endpoint_url)
        iam = session.client("iam", endpoint_url=config.endpoint_url)
        role = make_role(iam, [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
        desc = run(
            sfn,
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "kept", "End": True}}},
            role,
        )
        assert desc["status"] == "SUCCEEDED"
        before = sfn.get_execution_history(executionArn=desc["executionArn"])["events"]
        stop(config)
        start(config)
        sfn = session.client("stepfunctions", endpoint_url=config.endpoint_url)
        after = sfn.describe_execution(executionArn=desc["executionArn"])
        assert after["status"] == "SUCCEEDED" and json.loads(after["output"]) == "kept"
        history = sfn.get_execution_history(executionArn=desc["executionArn"])["events"]
        assert [e["type"] for e in history] == [e["type"] for e in before]
        again = sfn.start_execution(stateMachineArn=desc["stateMachineArn"])["executionArn"]
        assert wait_done(sfn, again)["status"] == "SUCCEEDED"
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):  # a restored name is taken
            sfn.start_execution(stateMachineArn=desc["stateMachineArn"], name=desc["name"])
        with pytest.raises(ClientError) as exc:  # restored executions hold no task tokens
            sfn.send_task_failure(taskToken="no-such-token", error="E")
        assert exc.value.response["Error"]["Code"] == "InvalidToken"


def test_an_execution_name_is_taken_until_it_is_reused_as_aws_says(clients, admin_role):
    """StartExecution with a running execution's name and input answers that execution; a
    different input, or a name of an ended execution, is ExecutionAlreadyExists (API
    reference, StartExecution), among many executions of the machine."""
    sfn = clients("stepfunctions")
    waiting = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}}
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(waiting), roleArn=admin_role
    )["stateMachineArn"]
    names = [f"run-{i}" for i in range(12)]
    arns = [
        sfn.start_execution(stateMachineArn=machine, name=n, input='{"n": 1}')["executionArn"]
        for n in names
    ]
    again = sfn.start_execution(stateMachineArn=machine, name=names[5], input='{"n": 1}')
    assert again["executionArn"] == arns[5]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists) as exc:
        sfn.start_execution(stateMachineArn=machine, name=names[5], input='{"n": 2}')
    assert arns[5] in exc.value.response["Error"]["Message"]
    sfn.stop_execution(executionArn=arns[7])
    assert wait_done(sfn, arns[7])["status"] == "ABORTED"
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=machine, name=names[7], input='{"n": 1}')
    fresh = sfn.start_execution(stateMachineArn=machine, name="run-new", input="{}")
    assert fresh["executionArn"].endswith(":run-new")
    for arn in [*arns, fresh["executionArn"]]:
        if arn != arns[7]:
            sfn.stop_execution(executionArn=arn)


def test_optimized_sagemaker_integration(clients, admin_role):
    sm, sfn = clients("sagemaker"), clients("stepfunctions")
    name = uid("opt-model")
    created = run(
        sfn,
        chain(
            (
                "Model",
                task(
                    "sagemaker:createModel",
                    {
                        "ModelName": name,
                        "ExecutionRoleArn": admin_role,
                        "PrimaryContainer": {
                            "Image": XGB_IMAGE,
                            "ModelDataUrl": "s3://bucket/model.tar.gz",
                        },
                    },
                ),
            )
        ),
        admin_role,
    )
    assert created["status"] == "SUCCEEDED", created
    assert json.loads(created["output"])["ModelArn"].endswith(f"model/{name}")
    assert sm.describe_model(ModelName=name)["PrimaryContainer"]["Image"] == XGB_IMAGE

    failed = run(
        sfn,
        chain(
            (
                "Endpoint",
                task(
                    "sagemaker:createEndpoint",
                    {"EndpointName": uid("opt-ep"), "EndpointConfigName": "no-such-config"},
                ),
            )
        ),
        admin_role,
    )
    assert failed["status"] == "FAILED"
    assert failed["error"].startswith("SageMaker."), failed


def test_role_that_step_functions_cannot_assume_is_refused(clients):
    iam, sfn = clients("iam"), clients("stepfunctions")
    name = uid("sagemaker-only")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    wrong = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
        "Arn"
    ]
    definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    for role in (wrong, f"arn:aws:iam::{ACCOUNT}:role/{uid('missing')}"):
        with pytest.raises(ClientError, match="is authorized to assume the provided role") as exc:
            sfn.create_state_machine(name=uid("sm"), definition=definition, roleArn=role)
        assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    assert not [
        m for m in sfn.list_state_machines()["stateMachines"] if m["stateMachineArn"].endswith(name)
    ]


SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.mark.slow
def test_sagemaker_job_sync_waits_for_the_job(clients, admin_role):
    """`sagemaker:createProcessingJob.sync` ends when the job does, with its Describe output."""
    s3, sfn = clients("s3"), clients("stepfunctions")
    bucket = uid("sfn-jobs")
    s3.create_bucket(Bucket=bucket)
    scripts = {
        "ok": "import pathlib\npathlib.Path('/opt/ml/processing/output/done.txt')"
        ".write_text('done')\n",
        "bad": "raise SystemExit('no data for this tenant')\n",
    }
    for name, code in scripts.items():
        s3.put_object(Bucket=bucket, Key=f"code/{name}.py", Body=code.encode())

    def job(script: str) -> dict:
        return task(
            "sagemaker:createProcessingJob.sync",
            {
                "ProcessingJobName.$": "$$.Execution.Name",
                "RoleArn": admin_role,
                "ProcessingResources": {
                    "ClusterConfig": {
                        "InstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "VolumeSizeInGB": 5,
                    }
                },
                "AppSpecification": {
                    "ImageUri": SKLEARN_IMAGE,
                    "ContainerEntrypoint": [
                        "python3",
                        f"/opt/ml/processing/input/code/{script}.py",
                    ],
                },
                "ProcessingInputs": [
                    {
                        "InputName": "code",
                        "S3Input": {
                            "S3Uri": f"s3://{bucket}/code/{script}.py",
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
                                "S3Uri": f"s3://{bucket}/out/{script}",
                                "LocalPath": "/opt/ml/processing/output",
                                "S3UploadMode": "EndOfJob",
                            },
                        }
                    ]
                },
            },
        )

    done = run(clients("stepfunctions"), chain(("Job", job("ok"))), admin_role)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"])["ProcessingJobStatus"] == "Completed"
    assert s3.get_object(Bucket=bucket, Key="out/ok/done.txt")["Body"].read() == b"done"

    failed = run(sfn, chain(("Job", job("bad"))), admin_role)
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.TaskFailed"
    assert json.loads(failed["cause"])["ProcessingJobStatus"] == "Failed"


@pytest.mark.slow
def test_wait_for_task_token_callback(clients, admin_role):
    s3, sfn = clients("s3"), clients("stepfunctions")
    bucket = uid("sfn-callback")
    s3.create_bucket(Bucket=bucket)
    definition = chain(
        (
            "Ask",
            task(
                "aws-sdk:s3:putObject.waitForTaskToken",
                {"Bucket": bucket, "Key": "token", "Body.$": "$$.Task.Token"},
                TimeoutSeconds=60,
            ),
        )
    )
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(definition), roleArn=admin_role
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 30
    while not s3.list_objects_v2(Bucket=bucket).get("Contents"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    token = s3.get_object(Bucket=bucket, Key="token")["Body"].read().decode()
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    desc = wait_done(sfn, arn)
    assert desc["status"] == "SUCCEEDED" and json.loads(desc["output"]) == {"approved": True}


def test_executions_of_one_machine_run_on_their_own_program(clients, admin_role):
    """The parsed program is shared per definition: concurrent runs must not see each other's
    state, and an updated definition is what the next execution runs."""
    sfn = clients("stepfunctions")
    doubled = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Big",
                    "States": {
                        "Big": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$", "NumericGreaterThan": 5, "Next": "High"}],
                            "Default": "Low",
                        },
                        "High": {"Type": "Pass", "Result": "high", "End": True},
                        "Low": {"Type": "Pass", "Result": "low", "End": True},
                    },
                },
                "ResultPath": "$.labels",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(doubled), roleArn=admin_role
    )["stateMachineArn"]
    inputs = [{"items": list(range(i, i + 8))} for i in range(8)]
    started = [
        sfn.start_execution(stateMachineArn=machine, input=json.dumps(i))["executionArn"]
        for i in inputs
    ]
    for arn, given in zip(started, inputs, strict=True):
        out = json.loads(wait_done(sfn, arn)["output"])
        assert out["labels"] == ["high" if v > 5 else "low" for v in given["items"]]

    doubled["States"]["Each"]["ItemProcessor"]["States"]["High"]["Result"] = "HIGH"
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(doubled))
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": [9]}))
    assert json.loads(wait_done(sfn, arn["executionArn"])["output"])["labels"] == ["HIGH"]


def test_a_definition_that_does_not_parse_is_refused_and_changes_nothing(clients, admin_role):
    """CreateStateMachine / UpdateStateMachine validate the definition (InvalidDefinition, as
    AWS answers); the parse that validates is the one executions run."""
    sfn = clients("stepfunctions")
    good = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}
    bad = {"StartAt": "P", "States": {"P": {"Type": "NoSuchType", "End": True}}}
    name = uid("sm")
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.create_state_machine(name=name, definition=json.dumps(bad), roleArn=admin_role)
    listed = sfn.list_state_machines()["stateMachines"]
    assert name not in [m["name"] for m in listed]
    machine = sfn.create_state_machine(name=name, definition=json.dumps(good), roleArn=admin_role)
    arn = machine["stateMachineArn"]
    with pytest.raises(sfn.exceptions.InvalidDefinition):
        sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(bad))
    assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == good
    started = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert json.loads(wait_done(sfn, started)["output"]) == 1


def test_a_definite_path_through_an_index_is_the_value(clients, admin_role):
    """Over HTTP, in a Pass state's Parameters and a Choice, as Step Functions evaluates them."""
    sfn = clients("stepfunctions")
    definition = {
        "StartAt": "Pick",
        "States": {
            "Pick": {"Type": "Pass", "Parameters": {"name.$": "$.items[1].name"}, "Next": "Is"},
            "Is": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.name", "StringEquals": "second", "Next": "Yes"}],
                "Default": "No",
            },
            "Yes": {"Type": "Succeed"},
            "No": {"Type": "Fail", "Error": "WrongValue"},
        },
    }
    machine = sfn.create_state_machine(
        name=uid("sm"), definition=json.dumps(definition), roleArn=admin_role
    )["stateMachineArn"]
    arn = sfn.start_execution(
        stateMachineArn=machine,
        input=json.dumps({"items": [{"name": "first"}, {"name": "second"}]}),
    )["executionArn"]
    done = wait_done(sfn, arn)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"name": "second"}


def test_history_pages_hold_100_events_by_default_and_at_most_1000(clients, admin_role):
    """maxResults: "The default is 100 and the maximum allowed page size is 1000. A value of 0
    uses the default." (API_GetExecutionHistory): a caller that reads one page of a long
    history without nextToken misses events on AWS, so it must here too."""
    sfn = clients("stepfunctions")
    inner = {"StartAt": "Each", "States": {"Each": {"Type": "Pass", "End": True}}}
    fan = {"Type": "Map", "ItemsPath": "$.items", "Iterator": inner, "End": True}
    desc = run(sfn, {"StartAt": "Fan", "States": {"Fan": fan}}, admin_role, {"items": [0] * 40})
    arn = desc["executionArn"]
    everything = [
        e["id"]
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        for e in page["events"]
    ]
    assert len(everything) > 100 and everything == sorted(everything)
    for asked in ({}, {"maxResults": 0}):
        page = sfn.get_execution_history(executionArn=arn, **asked)
        assert [e["id"] for e in page["events"]] == everything[:100] and page["nextToken"]
    whole = sfn.get_execution_history(executionArn=arn, maxResults=1000)
    assert [e["id"] for e in whole["events"]] == everything and "nextToken" not in whole
    with pytest.raises(ClientError) as exc:
        sfn.get_execution_history(executionArn=arn, maxResults=1001)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    assert "'maxResults'" in exc.value.response["Error"]["Message"]


def test_history_without_execution_data_has_no_input_or_output(clients, admin_role):
    """includeExecutionData=false: the same events without their input and output (AWS:
    "whether execution data (input or output of a history event) is returned")."""
    s3, sfn = clients("s3"), clients("stepfunctions")
    bucket = uid("sfn-versions")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    modified = s3.list_object_versions(Bucket=bucket)["Versions"][0]["LastModified"]
    listing = task(
        "aws-sdk:s3:listObjectVersions",
        {"Bucket": bucket},
        ResultSelector={"modified.$": "$.Versions[0].LastModified"},
    )
    desc = run(sfn, chain(("List", listing), ("Done", {"Type": "Pass"})), admin_role, {"n": 7})
    # a task's timestamps reach the state data as ISO 8601 text, as boto3 parsed them
    assert json.loads(desc["output"]) == {"modified": modified.isoformat()}
    arn = desc["executionArn"]
    full = sfn.get_execution_history(executionArn=arn, includeExecutionData=True)["events"]
    assert full == sfn.get_execution_history(executionArn=arn)["events"]  # true by default
    lean = sfn.get_execution_history(executionArn=arn, includeExecutionData=False)["events"]
    assert [(e["id"], e["type"]) for e in lean] == [(e["id"], e["type"]) for e in full]
    data = ("input", "output", "inputDetails", "outputDetails")

    def details(events):
        return [(k, v) for e in events for k, v in e.items() if k.endswith("EventDetails")]

    assert any(field in v for _, v in details(full) for field in data)
    assert not any(field in v for _, v in details(lean) for field in data)
    names = [v["name"] for k, v in details(lean) if k == "stateEnteredEventDetails"]
    assert names == ["List", "Done"]
    # a later full read still has the data: trimming a page changed no recorded event
    assert sfn.get_execution_history(executionArn=arn)["events"] == full
