"""CloudFormation requests -> IAM checks: the stack ARN (`stack/<name>/<id>`, or
`stack/<name>/*` before it exists), and `iam:PassRole` for a `RoleARN` (service role).

As on AWS without a service role, the resources a stack creates are not authorized again
here: localaws creates them in-process (on AWS they are created with the caller's rights).
"""

from __future__ import annotations

from moto.cloudformation.models import cloudformation_backends

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check

patches = Patches("cloudformation.authorization", after=("iam.enforcement",))


def _stack_arn(request: Request, name: str) -> str:
    if name.startswith("arn:"):
        return name
    backend = cloudformation_backends[request.account][request.region]
    for stack in list(backend.stacks.values()):  # a copy: a CreateStack may be adding one
        if stack.name == name and stack.status != "DELETE_COMPLETE":
            return stack.stack_id
    return request.arn("cloudformation", f"stack/{name}/*")


def resolve(request: Request) -> list[Check] | None:
    name = request.param("StackName")
    resource = _stack_arn(request, name) if isinstance(name, str) and name else "*"
    checks = [Check(f"cloudformation:{request.action}", resource)]
    role = request.param("RoleARN")
    if isinstance(role, str) and role:
        passed = {"iam:PassedToService": "cloudformation.amazonaws.com"}
        checks.append(Check("iam:PassRole", role, passed))
    return checks


patches.put(RESOLVERS, "cloudformation", resolve)
