"""Ended Step Functions executions restored lazily (decoded on first use) read exactly as
before: after a restart, after a second one that nothing touched them in between, and after
a kill -9 while another execution ran, which comes back FAILED once and stays as saved."""

from __future__ import annotations

import json
import time

import pytest
from test_persistence import ROLE_TRUST, Server

from localaws.cli import stop

# restarts and a kill -9 of a private server
pytestmark = pytest.mark.slow

CHOOSE = {
    "StartAt": "Choose",
    "States": {
        "Choose": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.ok", "BooleanEquals": True, "Next": "Done"}],
            "Default": "Refuse",
        },
        "Done": {"Type": "Pass", "Result": {"kept": [1, 2, 3]}, "End": True},
        "Refuse": {"Type": "Fail", "Error": "Refused", "Cause": "not ok"},
    },
}
WAIT = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 120, "End": True}}}


def _ended(sfn, arn: str) -> dict:
    deadline = time.monotonic() + 30
    while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.05)
    return desc


def _read(sfn, arn: str) -> tuple:
    """What a client can read of one execution (describe, then its whole history)."""
    desc = sfn.describe_execution(executionArn=arn)
    del desc["ResponseMetadata"]
    return desc, sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]


def test_restored_executions_read_as_before_across_restarts_and_kill9(tmp_path):
    server = Server(tmp_path / "state")
    server.start()
    try:
        sfn, iam = server.client("stepfunctions"), server.client("iam")
        role = iam.create_role(RoleName="lazy", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]
        machine = sfn.create_state_machine(
            name="choose", roleArn=role["Arn"], definition=json.dumps(CHOOSE)
        )["stateMachineArn"]
        waiter = sfn.create_state_machine(
            name="waiter", roleArn=role["Arn"], definition=json.dumps(WAIT)
        )["stateMachineArn"]
        ok, refused = (
            sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(body))[
                "executionArn"
            ]
            for name, body in (("ok", {"ok": True}), ("refused", {"ok": False}))
        )
        assert _ended(sfn, ok)["status"] == "SUCCEEDED"
        assert _ended(sfn, refused)["status"] == "FAILED"
        listed = sfn.list_executions(stateMachineArn=machine)["executions"]
        before = {arn: _read(sfn, arn) for arn in (ok, refused)}

        stop(server.config)
        server.start()
        sfn = server.client("stepfunctions")
        assert _read(sfn, ok) == before[ok]  # `refused` is left undecoded until restart 2
        with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):  # its name, not decoded
            sfn.start_execution(stateMachineArn=machine, name="refused", input="{}")
        running = sfn.start_execution(stateMachineArn=waiter, name="cut")["executionArn"]
        assert sfn.describe_execution(executionArn=running)["status"] == "RUNNING"
        server.kill9()

        server.start()
        sfn = server.client("stepfunctions")
        assert {arn: _read(sfn, arn) for arn in (ok, refused)} == before
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == listed
        cut = _read(sfn, running)
        assert cut[0]["status"] == "FAILED" and "localaws stopped" in cut[0]["cause"]

        stop(server.config)
        server.start()
        sfn = server.client("stepfunctions")
        assert _read(sfn, running) == cut  # saved once as FAILED, not cut off again
        assert {arn: _read(sfn, arn) for arn in (ok, refused)} == before
    finally:
        stop(server.config)


def test_restored_dynamodb_items_are_equal_and_still_size_checked(tmp_path):
    """Items come back without their size re-checked per attribute at load, yet an update
    past DynamoDB's 400 KB item limit is still refused after the restart."""
    server = Server(tmp_path / "state")
    server.start()
    try:
        ddb = server.client("dynamodb")
        ddb.create_table(
            TableName="wide",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"pk": {"S": "a"}, **{f"a{i}": {"S": "x" * 1000} for i in range(300)}}
        item["n"] = {"N": "7"}
        item["l"] = {"L": [{"S": "one"}, {"M": {"k": {"BOOL": True}}}]}
        ddb.put_item(TableName="wide", Item=item)
        stop(server.config)
        server.start()
        ddb = server.client("dynamodb")
        assert ddb.get_item(TableName="wide", Key={"pk": {"S": "a"}})["Item"] == item
        with pytest.raises(ddb.exceptions.ClientError) as exc:
            ddb.update_item(
                TableName="wide",
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET big = :v",
                ExpressionAttributeValues={":v": {"S": "y" * 150_000}},
            )
        assert exc.value.response["Error"]["Code"] == "ValidationException"
        assert ddb.get_item(TableName="wide", Key={"pk": {"S": "a"}})["Item"] == item
    finally:
        stop(server.config)
