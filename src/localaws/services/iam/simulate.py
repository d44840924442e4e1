"""IAM SimulatePrincipalPolicy, which moto 5.2.5 lacks (it answered HTTP 500).

The principal (user, role or group ARN) has its identity policies evaluated: inline and
attached managed policies, plus a user's groups' policies, plus any PolicyInputList documents,
and the ResourcePolicy if given. Each ActionNames x ResourceArns pair (ResourceArns defaults
to `*`) gives one EvaluationResult decided by `localaws.services.iam.policy.evaluate`, the
code that enforces every request, so the two cannot disagree: `explicitDeny`, `allowed` or
`implicitDeny`, with the deciding MatchedStatements (policy id, type and position).
Conditions are evaluated against ContextEntries plus the principal's own global keys
(`aws:PrincipalArn`, `aws:PrincipalTag/*`, ...); keys a matching statement's Condition reads
that neither supplies are listed in MissingContextValues (such a condition is false, or true
for the negated operators, as in enforcement). Permissions boundaries and Organizations SCPs
are not simulated.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import InvalidInput, NoSuchEntity
from moto.iam.responses import IamResponse

from localaws.core.patching import Patches
from localaws.services.iam.policy import Caller, Check, PolicySource, evaluate, statements
from localaws.services.iam.principals import caller_for_arn

patches = Patches("iam.simulate")


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


def _context(entries: Any) -> dict[str, Any]:
    """ContextEntries as condition keys (list types keep every value)."""
    context: dict[str, Any] = {}
    for entry in entries or []:
        values = entry.get("ContextKeyValues") or []
        kind = entry.get("ContextKeyType") or "string"
        context[entry["ContextKeyName"]] = values if kind.endswith("List") else values[0]
    return context


def _matched(source: PolicySource, index: int) -> dict[str, Any]:
    matched: dict[str, Any] = {
        "SourcePolicyId": source.source_id,
        "SourcePolicyType": source.source_type,
    }
    spans = _statement_spans(source.text)
    if spans and len(spans) == len(statements(source.text)):
        (line, column), (end_line, end_column) = spans[index]
        matched["StartPosition"] = {"Line": line, "Column": column}
        matched["EndPosition"] = {"Line": end_line, "Column": end_column}
    return matched


def evaluation_result(caller: Caller, check: Check) -> dict[str, Any]:
    """One EvaluationResult, decided by the evaluator enforcement uses."""
    decision = evaluate(caller, check)
    deciding = [_matched(source, index) for source, index in decision.matched]
    missing = sorted(decision.missing)
    return {
        "EvalActionName": check.action,
        "EvalResourceName": check.resource,
        "EvalDecision": decision.decision,
        "MatchedStatements": deciding,
        "MissingContextValues": missing,
        "ResourceSpecificResults": [
            {
                "EvalResourceName": check.resource,
                "EvalResourceDecision": decision.decision,
                "MatchedStatements": deciding,
                "MissingContextValues": missing,
            }
        ],
    }


def _parsed(document: str, name: str) -> None:
    try:
        json.loads(document)
    except ValueError:
        raise InvalidInput(f"{name} is not a valid JSON policy.") from None


@patches.add(IamResponse, "simulate_principal_policy")
def simulate_principal_policy(self) -> Any:
    """The SimulatePrincipalPolicy action (added to moto's IamResponse)."""
    actions = self._get_param("ActionNames") or []
    resources = self._get_param("ResourceArns") or ["*"]
    if not actions:
        raise InvalidInput("ActionNames must contain at least one action.")
    source_arn = self._get_param("PolicySourceArn")
    try:
        caller = caller_for_arn(self.backend, source_arn)
    except KeyError as exc:
        raise NoSuchEntity(exc.args[0]) from None
    if caller is None:
        raise InvalidInput(
            f"Invalid ARN {source_arn!r}: PolicySourceArn must be an IAM user, group or role ARN."
        )
    for index, document in enumerate(self._get_param("PolicyInputList") or [], start=1):
        _parsed(document, f"PolicyInputList.{index}")
        caller.policies.append(PolicySource(f"PolicyInputList.{index}", "none", document))
    resource_policy = None
    if document := self._get_param("ResourcePolicy"):
        _parsed(document, "ResourcePolicy")
        resource_policy = PolicySource("ResourcePolicy", "resource", document)
    context = _context(self._get_param("ContextEntries"))
    results = [
        evaluation_result(caller, Check(action, resource, context, resource_policy))
        for action in actions
        for resource in resources
    ]
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
