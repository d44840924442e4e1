"""Step Functions requests -> IAM checks: the state machine, execution or activity ARN.

`stateMachineArn` (StartExecution, DescribeStateMachine, ListExecutions, ...), `executionArn`
(DescribeExecution, StopExecution, GetExecutionHistory), `resourceArn` (tags), `activityArn`;
CreateStateMachine names `stateMachine:<name>` and, like UpdateStateMachine, needs
`iam:PassRole` on its `roleArn` for `states.amazonaws.com`. Lists act on `*`.
"""

from __future__ import annotations

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check

patches = Patches("stepfunctions.authorization", after=("iam.enforcement",))
_ARN_PARAMS = ("executionArn", "stateMachineArn", "resourceArn", "activityArn", "mapRunArn")


def resolve(request: Request) -> list[Check] | None:
    action, body = request.action, request.body
    resource = next((body[p] for p in _ARN_PARAMS if isinstance(body.get(p), str)), None)
    if action in ("CreateStateMachine", "CreateActivity") and body.get("name"):
        kind = "stateMachine" if action == "CreateStateMachine" else "activity"
        resource = request.arn("states", f"{kind}:{body['name']}")
    checks = [Check(f"states:{action}", resource or "*")]
    if isinstance(body.get("roleArn"), str):
        passed = {"iam:PassedToService": "states.amazonaws.com"}
        checks.append(Check("iam:PassRole", body["roleArn"], passed))
    return checks


patches.put(RESOLVERS, "states", resolve)
