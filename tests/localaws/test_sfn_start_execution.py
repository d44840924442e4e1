"""The optimized `arn:aws:states:::states:startExecution` integration: a state machine starts
a new execution (here: of itself, as a delete continuing as new does) and gets AWS's answer,
`ExecutionArn` and `StartDate` (docs.aws.amazon.com/step-functions/latest/dg/
connect-stepfunctions.html)."""

from __future__ import annotations

import json
import time

from compute_helpers import make_role

DEFINITION = {
    "StartAt": "Again",
    "States": {
        "Again": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.round", "IsPresent": True, "Next": "Second"}],
            "Default": "ContinueAsNew",
        },
        "ContinueAsNew": {
            "Type": "Task",
            "Resource": "arn:aws:states:::states:startExecution",
            "Parameters": {
                "StateMachineArn.$": "$$.StateMachine.Id",
                "Input": {
                    "round": 2,
                    "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$": "$$.Execution.Id",
                },
            },
            "End": True,
        },
        "Second": {"Type": "Pass", "Result": "second", "End": True},
    },
}


def test_a_state_machine_starts_a_new_execution_of_itself(clients):
    iam, sfn = clients("iam"), clients("stepfunctions")
    allow = {"Effect": "Allow", "Action": "states:StartExecution", "Resource": "*"}
    role = make_role(iam, [allow], name="sfn-start-self")
    machine = sfn.create_state_machine(
        name="start-self", definition=json.dumps(DEFINITION), roleArn=role
    )["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=first))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    answer = json.loads(described["output"])
    assert set(answer) == {"ExecutionArn", "StartDate"}
    second = sfn.describe_execution(executionArn=answer["ExecutionArn"])
    assert json.loads(second["input"]) == {
        "round": 2,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": first,
    }
    while (second := sfn.describe_execution(executionArn=answer["ExecutionArn"]))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert json.loads(second["output"]) == "second"
