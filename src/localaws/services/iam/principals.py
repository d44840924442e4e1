"""Who a request (or a SimulatePrincipalPolicy call) is from: a `Caller` with its policies.

Identity policies of a user: inline, attached managed, and its groups' inline and attached;
of a role (and so of each of its sessions): inline and attached managed. A caller's principal
tags are the role's (or user's) tags, overridden by the session tags given to AssumeRole.
"""

from __future__ import annotations

import json
import re
from typing import Any

from localaws.services.iam.lookups import role_named, role_with_arn
from localaws.services.iam.policy import Caller, PolicySource

_PRINCIPAL_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):(user|role|group)/(?:.*/)?([^/]+)$")
# Session tags of assumed-role keys (access key id -> tags), recorded at AssumeRole.
session_tags: dict[str, dict[str, str]] = {}


class PrincipalGone(Exception):
    """The credentials belong to a user or role that no longer exists."""


def _managed(policies: Any) -> list[PolicySource]:
    found = []
    for policy in policies:
        version = next(v for v in policy.versions if v.is_default)
        kind = "aws-managed" if policy.arn.startswith("arn:aws:iam::aws:") else "user-managed"
        found.append(PolicySource(policy.name, kind, _text(version.document)))
    return found


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


# Each principal's policy dicts are read through copies taken in one C call: a PutRolePolicy
# or AttachRolePolicy on another thread may change them while a request is authorized.


def role_policies(role: Any) -> list[PolicySource]:
    inline = [PolicySource(n, "role", _text(d)) for n, d in list(role.policies.items())]
    return inline + _managed(list(role.managed_policies.values()))


def group_policies(group: Any) -> list[PolicySource]:
    inline = [PolicySource(n, "group", _text(d)) for n, d in list(group.policies.items())]
    return inline + _managed(list(group.managed_policies.values()))


def user_policies(backend: Any, user: Any) -> list[PolicySource]:
    policies = [PolicySource(n, "user", _text(d)) for n, d in list(user.policies.items())]
    policies += _managed(list(user.managed_policies.values()))
    for group in backend.get_groups_for_user(user.name):
        policies += group_policies(group)
    return policies


def _tags(tag_list: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def caller_for_key(access_key: Any) -> Caller:
    """The caller behind a moto access key (an IAM user's, or an assumed role's session)."""
    backend = access_key.backend
    account = access_key.account_id
    if hasattr(access_key, "_owner_role_name"):
        role = role_named(backend, access_key._owner_role_name)
        if role is None:
            raise PrincipalGone(access_key.arn)
        tags = {**_tags(role.tags), **session_tags.get(access_key._access_key_id, {})}
        return Caller(access_key.arn, role.arn, account, role_policies(role), tags)
    user = backend.users.get(access_key._owner_user_name)
    if user is None:
        raise PrincipalGone(access_key.arn)
    tags = _tags(backend.tagger.list_tags_for_resource(user.arn)["Tags"])
    return Caller(user.arn, user.arn, account, user_policies(backend, user), tags)


def caller_for_arn(backend: Any, arn: str) -> Caller | None:
    """The caller a user, role or group ARN names (a group: its members' group policies only);
    None if the ARN is not of that form. Raises NoSuchEntity-like KeyError if it is gone."""
    match = _PRINCIPAL_ARN.match(arn or "")
    if not match:
        return None
    account, kind, name = match.groups()
    if kind == "role":
        role = role_with_arn(backend, arn)
        if role is None:
            raise KeyError(f"The role with name {name} cannot be found.")
        return Caller(arn, arn, account, role_policies(role), _tags(role.tags))
    if kind == "user":
        user = backend.users.get(name)
        if user is None or user.arn != arn:
            raise KeyError(f"The user with name {name} cannot be found.")
        return Caller(arn, arn, account, user_policies(backend, user))
    group = backend.groups.get(name)
    if group is None or group.arn != arn:
        raise KeyError(f"The group with name {name} cannot be found.")
    return Caller(arn, arn, account, group_policies(group))
