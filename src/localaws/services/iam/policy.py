"""The one IAM policy evaluator: enforcement of every service and SimulatePrincipalPolicy use it.

`evaluate(caller, check, resource_policy)` decides one action on one resource as the IAM User
Guide's "Policy evaluation logic" does within one account:
1. an explicit `Deny` in any applicable policy (identity or resource) wins;
2. otherwise an `Allow` in an identity policy, or in the resource policy for a principal it
   names directly (the user or role ARN, a session ARN, or `*`), allows;
3. otherwise the request is implicitly denied. A resource policy naming the account
   (`123456789012` or `arn:aws:iam::123456789012:root`) only delegates to identity policies.
Trust policies (`trust=True`, for sts:AssumeRole) are stricter: the trust policy itself must
allow the caller, and if it does so only through the account, an identity policy must too.

Statements match by Action/NotAction (case-insensitive), Resource/NotResource (case-sensitive,
with `${...}` policy variables), Principal/NotPrincipal (resource policies) and Condition
(`localaws.services.iam.conditions`). Permissions boundaries, session policies and
Organizations SCPs are not modelled (localaws has none of them).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from localaws.services.iam.conditions import (
    Context,
    condition_holds,
    condition_keys,
    substitute,
    wildcard,
)

_ASSUMED = re.compile(r"^arn:(aws[\w-]*):sts::(\d{12}):assumed-role/([^/]+)/(.+)$")


@dataclass(frozen=True)
class PolicySource:
    """One policy document and where it comes from (as SimulatePrincipalPolicy reports it)."""

    source_id: str
    source_type: str  # user | group | role | aws-managed | user-managed | resource | none
    text: str


@dataclass
class Caller:
    """Who makes a request: `arn` as STS reports it, `principal_arn` as `aws:PrincipalArn`."""

    arn: str
    principal_arn: str
    account: str
    policies: list[PolicySource]
    tags: dict[str, str] = field(default_factory=dict)

    def ids(self) -> set[str]:
        """The principal values a resource policy may name to mean this caller directly."""
        return {self.arn, self.principal_arn}

    def account_ids(self) -> set[str]:
        return {self.account, f"arn:aws:iam::{self.account}:root"}


@dataclass
class Check:
    """One authorization question: `action` on `resource`, with the request's condition keys."""

    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    resource_policy: PolicySource | None = None
    trust: bool = False  # resource_policy is the role's trust policy (sts:AssumeRole ...)


@dataclass
class Decision:
    """The answer: `allowed`, `explicitDeny` or `implicitDeny`, with what decided it."""

    decision: str
    matched: list[tuple[PolicySource, int]]
    missing: set[str]

    @property
    def allowed(self) -> bool:
        return self.decision == "allowed"


@functools.lru_cache(maxsize=2048)
def statements(text: str) -> tuple[dict[str, Any], ...]:
    """The statements of a policy document (parsed once per distinct text)."""
    document = json.loads(text) if isinstance(text, str) else text
    found = document.get("Statement", []) if isinstance(document, dict) else []
    return tuple([found] if isinstance(found, dict) else found)


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value or [])


def _any_match(patterns: Any, value: str, case: bool, context: Context | None = None) -> bool:
    for pattern in _listed(patterns):
        if context is not None:
            pattern = substitute(pattern, context)
            if pattern is None:
                continue
        if pattern == "*" or wildcard(pattern, case).fullmatch(value):
            return True
    return False


def _element(statement: dict, key: str, value: str, case: bool, context: Context | None) -> bool:
    if key in statement:
        return _any_match(statement[key], value, case, context)
    if f"Not{key}" in statement:
        return not _any_match(statement[f"Not{key}"], value, case, context)
    return False


def _principal_values(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if isinstance(principal, dict):
        return _listed(principal.get("AWS"))
    return []


def principal_match(statement: dict, caller: Caller) -> str | None:
    """`direct`, `account` (the caller's account is named) or None, for a resource policy."""

    def match(principal: Any) -> str | None:
        values = _principal_values(principal)
        if "*" in values or caller.ids() & set(values):
            return "direct"
        if caller.account_ids() & set(values):
            return "account"
        return None

    if "Principal" in statement:
        return match(statement["Principal"])
    if "NotPrincipal" in statement:
        return None if match(statement["NotPrincipal"]) else "direct"
    return None


def base_context(caller: Caller) -> dict[str, Any]:
    """The global condition keys every request carries for this caller."""
    context: dict[str, Any] = {
        "aws:PrincipalArn": caller.principal_arn,
        "aws:PrincipalAccount": caller.account,
        "aws:PrincipalType": "AssumedRole" if ":assumed-role/" in caller.arn else "User",
        "aws:SecureTransport": "false",
        "aws:username": caller.principal_arn.rsplit("/", 1)[-1]
        if ":user/" in caller.principal_arn
        else None,
    }
    for key, value in caller.tags.items():
        context[f"aws:PrincipalTag/{key}"] = value
    return context


def evaluate(caller: Caller, check: Check) -> Decision:
    """Decide `check` for `caller` (see the module docstring)."""
    context = Context(base_context(caller))
    for key, value in check.context.items():
        context[key] = value
    denies: list[tuple[PolicySource, int]] = []
    allows: list[tuple[PolicySource, int]] = []
    resource_allows: list[tuple[PolicySource, int]] = []
    delegated: list[tuple[PolicySource, int]] = []
    missing: set[str] = set()

    def scan(source: PolicySource, resource_policy: bool) -> None:
        for index, statement in enumerate(statements(source.text)):
            how = principal_match(statement, caller) if resource_policy else "direct"
            if how is None:
                continue
            if not _element(statement, "Action", check.action, False, None):
                continue
            if not _element(statement, "Resource", check.resource, True, context):
                if not (check.trust and "Resource" not in statement):
                    continue
            condition = statement.get("Condition")
            if condition:
                missing.update(k for k in condition_keys(condition) if k not in context)
                if not condition_holds(condition, context):
                    continue
            effect = statement.get("Effect")
            if effect == "Deny":
                denies.append((source, index))
            elif effect == "Allow":
                if not resource_policy:
                    allows.append((source, index))
                elif how == "direct":
                    resource_allows.append((source, index))
                else:
                    delegated.append((source, index))

    for source in caller.policies:
        scan(source, False)
    if check.resource_policy is not None:
        scan(check.resource_policy, True)
    if denies:
        return Decision("explicitDeny", denies, missing)
    if check.trust:
        granted = resource_allows or (delegated and allows)
        return Decision(
            "allowed" if granted else "implicitDeny", resource_allows or allows, missing
        )
    if allows or resource_allows:
        return Decision("allowed", allows + resource_allows, missing)
    return Decision("implicitDeny", [], missing)


def session_role_arn(arn: str) -> tuple[str, str] | None:
    """(role name, account) of an assumed-role session ARN, or None."""
    match = _ASSUMED.match(arn)
    return (match.group(3), match.group(2)) if match else None
