"""StartSyncExecution as the API reference documents it: an EXPRESS machine's execution runs to
its end within the request (SUCCEEDED with output, FAILED with error and cause); a STANDARD
machine is refused with StateMachineTypeNotSupported and nothing runs."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from compute_helpers import make_role

from helpers.session import AwsSession

DEFINITION = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Refuse"}],
            "Default": "Greet",
        },
        "Greet": {
            "Type": "Pass",
            "Parameters": {"greeting.$": "States.Format('hello {}', $.name)"},
            "End": True,
        },
        "Refuse": {"Type": "Fail", "Error": "Tenant.Refused", "Cause": "asked to fail"},
    },
}


@pytest.fixture
def machines(clients):
    """(sfn client without the `sync-` host prefix, {type: state machine ARN})."""
    iam = clients("iam")
    sfn = clients("stepfunctions", config=Config(inject_host_prefix=False))
    suffix = uuid.uuid4().hex[:8]
    role = make_role(iam)
    arns = {
        kind: sfn.create_state_machine(
            name=f"sync-{kind.lower()}-{suffix}",
            definition=json.dumps(DEFINITION),
            roleArn=role,
            type=kind,
        )["stateMachineArn"]
        for kind in ("EXPRESS", "STANDARD")
    }
    return sfn, arns


def test_an_express_execution_runs_to_its_end_within_the_request(machines):
    sfn, arns = machines
    done = sfn.start_sync_execution(
        stateMachineArn=arns["EXPRESS"], name="first", input=json.dumps({"name": "acme"})
    )
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"greeting": "hello acme"}
    assert json.loads(done["input"]) == {"name": "acme"}
    assert done["name"] == "first" and done["stateMachineArn"] == arns["EXPRESS"]
    assert done["startDate"] <= done["stopDate"]
    assert "error" not in done and "cause" not in done


def test_a_failed_express_execution_answers_its_error_and_cause(machines):
    sfn, arns = machines
    done = sfn.start_sync_execution(stateMachineArn=arns["EXPRESS"], input='{"fail": true}')
    assert (done["status"], done["error"], done["cause"]) == (
        "FAILED",
        "Tenant.Refused",
        "asked to fail",
    )
    assert "output" not in done
    assert done["name"]  # a name was made for it


def test_a_standard_machine_is_refused_and_nothing_runs(machines):
    sfn, arns = machines
    with pytest.raises(ClientError) as refused:
        sfn.start_sync_execution(stateMachineArn=arns["STANDARD"], input='{"name": "x"}')
    assert refused.value.response["Error"]["Code"] == "StateMachineTypeNotSupported"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert sfn.list_executions(stateMachineArn=arns["STANDARD"])["executions"] == []


def test_bad_input_and_a_missing_machine_are_named(machines):
    sfn, arns = machines
    with pytest.raises(ClientError, match="InvalidExecutionInput"):
        sfn.start_sync_execution(stateMachineArn=arns["EXPRESS"], input="{not json")
    missing = arns["EXPRESS"].rsplit(":", 1)[0] + ":no-such-machine"
    with pytest.raises(ClientError, match="StateMachineDoesNotExist"):
        sfn.start_sync_execution(stateMachineArn=missing)


def test_the_helpers_clients_reach_localaws_without_the_sync_host_prefix():
    for backend, injected in (("local", False), ("aws", True)):
        session = AwsSession(backend, "us-east-1", boto3.Session(region_name="us-east-1"))
        config = session.client("stepfunctions").meta.config
        assert config.inject_host_prefix is injected


def test_an_express_execution_whose_task_calls_a_service_answers_its_result(clients, machines):
    """The request waits while the execution's task makes its own request to this server
    (DynamoDB, whose writes localaws serializes): no deadlock, and the item is there."""
    sfn, _ = machines
    iam, ddb = clients("iam"), clients("dynamodb")
    suffix = uuid.uuid4().hex[:8]
    table = f"sync-{suffix}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    role = make_role(iam, [{"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"}])
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": table, "Item": {"id": {"S.$": "$.id"}}},
                "ResultPath": None,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"sync-task-{suffix}",
        definition=json.dumps(definition),
        roleArn=role,
        type="EXPRESS",
    )["stateMachineArn"]
    done = sfn.start_sync_execution(stateMachineArn=machine, input='{"id": "acme"}')
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"id": "acme"}
    assert ddb.get_item(TableName=table, Key={"id": {"S": "acme"}})["Item"] == {"id": {"S": "acme"}}
