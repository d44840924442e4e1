"""IAM API requests -> IAM checks: the role, user, group, policy or instance profile ARN the
request names (`RoleName` -> `role<path><name>`, with the existing role's path), `*` for lists
and account-level actions. Attach/Detach*Policy carry `iam:PolicyARN`; a role's tags are its
`aws:ResourceTag/*`. SimulatePrincipalPolicy acts on its `PolicySourceArn`.
"""

from __future__ import annotations

from typing import Any

from moto.iam.models import iam_backends

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.lookups import role_named
from localaws.services.iam.policy import Check

patches = Patches("iam.api_authorization", after=("iam.enforcement",))


def _path(request: Request, existing: Any) -> str:
    if existing is not None:
        return existing.path or "/"
    return request.param("Path") or "/"


def _resource(request: Request) -> tuple[str, dict[str, Any]]:
    backend = iam_backends[request.account]["aws"]
    if source := request.param("PolicySourceArn"):
        return source, {}
    if name := request.param("RoleName"):
        role = role_named(backend, name)
        tags = {t["Key"]: t["Value"] for t in (role.tags if role else None) or []}
        arn = role.arn if role else request.arn("iam", f"role{_path(request, None)}{name}", False)
        return arn, {"aws:ResourceTag/*": tags}
    if name := request.param("UserName"):
        user = backend.users.get(name)
        arn = user.arn if user else request.arn("iam", f"user{_path(request, None)}{name}", False)
        return arn, {}
    if name := request.param("GroupName"):
        group = backend.groups.get(name)
        return request.arn("iam", f"group{_path(request, group)}{name}", region=False), {}
    if arn := request.param("PolicyArn"):
        return arn, {}
    if request.action == "CreatePolicy" and (name := request.param("PolicyName")):
        return request.arn("iam", f"policy{request.param('Path') or '/'}{name}", region=False), {}
    if name := request.param("InstanceProfileName"):
        return request.arn("iam", f"instance-profile/{name}", region=False), {}
    return "*", {}


def resolve(request: Request) -> list[Check] | None:
    resource, context = _resource(request)
    if request.action.startswith(("Attach", "Detach")) and request.param("PolicyArn"):
        context["iam:PolicyARN"] = request.param("PolicyArn")
    return [Check(f"iam:{request.action}", resource, context)]


patches.put(RESOLVERS, "iam", resolve)
