"""STS requests -> IAM checks: AssumeRole is allowed only if the role's trust policy allows it.

As the IAM User Guide describes role assumption within one account: the trust policy (a
resource policy, with its Conditions) must allow `sts:AssumeRole` for the caller, naming it
directly (its user or role ARN, or `*`) or through the account (`arn:aws:iam::<acct>:root`),
in which case an identity policy of the caller must allow `sts:AssumeRole` on the role too.
Session tags (`Tags`) also need `sts:TagSession` in the trust policy; they become the
session's `aws:PrincipalTag/*` (kept in memory: sessions made before a restart lose them).
Condition keys: `sts:RoleSessionName`, `sts:ExternalId`, `aws:RequestTag/*`, `aws:TagKeys`,
`sts:TransitiveTagKeys`. A role that does not exist is AccessDenied, as on AWS.
"""

from __future__ import annotations

from typing import Any

from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.lookups import role_with_arn
from localaws.services.iam.policy import Check, PolicySource
from localaws.services.iam.principals import session_tags

patches = Patches("sts.authorization", after=("iam.enforcement",))
_ASSUME_ACTIONS = {"AssumeRole"}


def _tags(request: Any) -> list[dict[str, str]]:
    tags = request._get_param("Tags")
    if isinstance(tags, list):
        return [t for t in tags if isinstance(t, dict) and "Key" in t]
    found, index = [], 1
    while (key := request._get_param(f"Tags.member.{index}.Key")) is not None:
        found.append({"Key": key, "Value": request._get_param(f"Tags.member.{index}.Value")})
        index += 1
    return found


def resolve(request: Request) -> list[Check] | None:
    if request.action not in _ASSUME_ACTIONS:
        return None
    role_arn = request.param("RoleArn") or ""
    backend = iam_backends[request.account]["aws"]
    role = role_with_arn(backend, role_arn)
    trust = PolicySource(role.name, "resource", role.assume_role_policy_document) if role else None
    context: dict[str, Any] = {
        "sts:RoleSessionName": request.param("RoleSessionName"),
        "sts:ExternalId": request.param("ExternalId"),
    }
    tags = _tags(request.response)
    checks = []
    if tags:
        for tag in tags:
            context[f"aws:RequestTag/{tag['Key']}"] = tag.get("Value", "")
        context["aws:TagKeys"] = [t["Key"] for t in tags]
    checks.append(Check("sts:AssumeRole", role_arn, context, trust, trust=True))
    if tags:
        checks.append(Check("sts:TagSession", role_arn, context, trust, trust=True))
    return checks


@patches.wrap(TokenResponse, "assume_role")
def assume_role(original, self) -> Any:
    """AssumeRole, remembering the session tags of the keys it hands out."""
    result = original(self)
    tags = _tags(self)
    credentials = getattr(result, "result", {}).get("Credentials") if tags else None
    if credentials is not None:
        session_tags[credentials.access_key_id] = {t["Key"]: t.get("Value", "") for t in tags}
    return result


patches.put(RESOLVERS, "sts", resolve)
