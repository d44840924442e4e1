"""CloudWatch Logs requests -> IAM checks: `log-group:<name>` or, for the stream-level
actions (PutLogEvents, GetLogEvents), `log-group:<name>:log-stream:<stream>`. A request naming
no group (DescribeLogGroups, say) acts on `log-group:*`."""

from __future__ import annotations

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check

patches = Patches("logs.authorization", after=("iam.enforcement",))
_STREAM_ACTIONS = {"PutLogEvents", "GetLogEvents"}


def resolve(request: Request) -> list[Check] | None:
    body = request.body
    group = body.get("logGroupName") or body.get("logGroupIdentifier")
    if isinstance(group, str) and group.startswith("arn:"):
        return [Check(f"logs:{request.action}", group.removesuffix(":*"))]
    if not isinstance(group, str):
        return [Check(f"logs:{request.action}", request.arn("logs", "log-group:*"))]
    resource = f"log-group:{group}"
    if request.action in _STREAM_ACTIONS and body.get("logStreamName"):
        resource += f":log-stream:{body['logStreamName']}"
    return [Check(f"logs:{request.action}", request.arn("logs", resource))]


patches.put(RESOLVERS, "logs", resolve)
