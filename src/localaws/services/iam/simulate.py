"""IAM SimulatePrincipalPolicy, which moto 5.2.5 lacks (it answered HTTP 500).

The principal (user, role or group ARN) has its identity policies evaluated: inline and
attached managed policies, plus a user's groups' policies, plus any PolicyInputList documents.
Each ActionNames x ResourceArns pair (ResourceArns defaults to `*`) gives one EvaluationResult:
`explicitDeny` if a Deny statement matches, else `allowed` if an Allow matches, else
`implicitDeny`, with the deciding MatchedStatements (policy id, type and position).
Statements are matched by the evaluator S3 enforcement uses (`localaws.services.iam.policy`:
wildcards, NotAction/NotResource, case-insensitive actions). As in that enforcement,
statements with a Condition are not evaluated; their keys are listed in MissingContextValues.
Resource policies, permissions boundaries and Organizations SCPs are not simulated.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import InvalidInput, NoSuchEntity, NotFoundException
from moto.iam.responses import IamResponse

from localaws.core.patching import Patches
from localaws.services.iam.policy import matches

patches = Patches("iam.simulate")
_PRINCIPAL_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}):(user|role|group)/(?:.*/)?([^/]+)$")


def _statement_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]] | None:
    """(start, end) (line, column) of each statement in a policy's JSON text, or None."""
    decoder = json.JSONDecoder()

    def skip(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    def position(offset: int) -> tuple[int, int]:
        line = text.count("\n", 0, offset) + 1
        return line, offset - (text.rfind("\n", 0, offset) + 1) + 1

    def span(start: int) -> tuple[int, tuple[tuple[int, int], tuple[int, int]]]:
        _, end = decoder.raw_decode(text, start)
        return end, (position(start), position(end))

    try:
        i = skip(0)
        if text[i] != "{":
            return None
        i += 1
        while True:
            i = skip(i)
            key, i = decoder.raw_decode(text, i)
            i = skip(skip(i) + 1)  # the colon
            if key != "Statement":
                _, i = decoder.raw_decode(text, i)
                i = skip(i) + 1  # the comma
                continue
            if text[i] == "{":
                return [span(i)[1]]
            spans, i = [], skip(i + 1)
            while text[i] != "]":
                i, found = span(i)
                spans.append(found)
                i = skip(i)
                i = skip(i + 1) if text[i] == "," else i
            return spans
    except (ValueError, IndexError):
        return None


def _principal_policies(backend: Any, arn: str) -> list[tuple[str, str, str]]:
    """(source id, source type, document) of every identity policy of the principal ARN."""
    match = _PRINCIPAL_ARN.match(arn or "")
    if not match:
        raise InvalidInput(
            f"Invalid ARN {arn!r}: PolicySourceArn must be an IAM user, group or role ARN."
        )
    kind, name = match.group(2), match.group(3)
    try:
        if kind == "role":
            role = backend.get_role_by_arn(arn)
            inline = [
                (n, "role", backend.get_role_policy(role.name, n)[1])
                for n in backend.list_role_policies(role.name)
            ]
            return inline + _managed(backend.list_attached_role_policies(role.name)[0])
        if kind == "user":
            user = backend.get_user(name)
            if user.arn != arn:
                raise NotFoundException(arn)
            policies = [
                (n, "user", backend.get_user_policy(name, n)["policy_document"])
                for n in backend.list_user_policies(name)
            ]
            policies += _managed(backend.list_attached_user_policies(name)[0])
            for group in backend.get_groups_for_user(name):
                policies += _group_policies(backend, group.name)
            return policies
        group = backend.get_group(name)
        if group.arn != arn:
            raise NotFoundException(arn)
        return _group_policies(backend, name)
    except (NoSuchEntity, NotFoundException):
        raise NoSuchEntity(f"The {kind} with name {name} cannot be found.") from None


def _group_policies(backend: Any, group: str) -> list[tuple[str, str, str]]:
    inline = [
        (n, "group", backend.get_group_policy(group, n)["policy_document"])
        for n in backend.list_group_policies(group)
    ]
    return inline + _managed(backend.list_attached_group_policies(group)[0])


def _managed(policies: Any) -> list[tuple[str, str, str]]:
    found = []
    for policy in policies:
        version = next(v for v in policy.versions if v.is_default)
        kind = "aws-managed" if policy.arn.startswith("arn:aws:iam::aws:") else "user-managed"
        found.append((policy.name, kind, version.document))
    return found


def _document_text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def evaluate(policies: list[tuple[str, str, str]], action: str, resource: str) -> dict[str, Any]:
    """One EvaluationResult of `action` on `resource` under the given identity policies."""
    allows: list[dict[str, Any]] = []
    denies: list[dict[str, Any]] = []
    missing: set[str] = set()
    for source_id, source_type, document in policies:
        text = _document_text(document)
        statements = json.loads(text).get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        spans = _statement_spans(text)
        for index, statement in enumerate(statements):
            if not (
                matches(statement, "Action", "NotAction", action, case=False)
                and matches(statement, "Resource", "NotResource", resource, case=True)
            ):
                continue
            if "Condition" in statement:
                missing.update(
                    key for operator in statement["Condition"].values() for key in operator
                )
                continue
            matched: dict[str, Any] = {"SourcePolicyId": source_id, "SourcePolicyType": source_type}
            if spans and len(spans) == len(statements):
                (line, column), (end_line, end_column) = spans[index]
                matched["StartPosition"] = {"Line": line, "Column": column}
                matched["EndPosition"] = {"Line": end_line, "Column": end_column}
            effect = statement.get("Effect")
            (denies if effect == "Deny" else allows if effect == "Allow" else []).append(matched)
    decision = "explicitDeny" if denies else "allowed" if allows else "implicitDeny"
    deciding = denies or allows
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": decision,
        "MatchedStatements": deciding,
        "MissingContextValues": sorted(missing),
        "ResourceSpecificResults": [
            {
                "EvalResourceName": resource,
                "EvalResourceDecision": decision,
                "MatchedStatements": deciding,
                "MissingContextValues": sorted(missing),
            }
        ],
    }


@patches.add(IamResponse, "simulate_principal_policy")
def simulate_principal_policy(self) -> Any:
    """The SimulatePrincipalPolicy action (added to moto's IamResponse)."""
    actions = self._get_param("ActionNames") or []
    resources = self._get_param("ResourceArns") or ["*"]
    if not actions:
        raise InvalidInput("ActionNames must contain at least one action.")
    policies = _principal_policies(self.backend, self._get_param("PolicySourceArn"))
    for index, document in enumerate(self._get_param("PolicyInputList") or [], start=1):
        try:
            json.loads(document)
        except ValueError:
            raise InvalidInput(f"PolicyInputList.{index} is not a valid JSON policy.") from None
        policies.append((f"PolicyInputList.{index}", "none", document))
    results = [evaluate(policies, action, resource) for action in actions for resource in resources]
    try:
        max_items = int(self._get_param("MaxItems") or 1000)
        start = int(self._get_param("Marker") or 0)
    except ValueError:
        raise InvalidInput("Marker and MaxItems must be those of a previous answer.") from None
    page = results[start : start + max_items]
    result: dict[str, Any] = {
        "EvaluationResults": page,
        "IsTruncated": start + max_items < len(results),
    }
    if result["IsTruncated"]:
        result["Marker"] = str(start + max_items)
    return ActionResult(result)
