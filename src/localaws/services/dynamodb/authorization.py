"""DynamoDB requests -> IAM checks: the table (or index) ARN, and `dynamodb:LeadingKeys`.

`dynamodb:LeadingKeys` holds the partition key values an item request names (GetItem,
PutItem, UpdateItem, DeleteItem, the batch and transaction forms per table, Query's key
condition); a Scan names none, so the key is absent then, as on AWS (a `ForAllValues:`
condition on it then holds: grant Scan deliberately). Batch and transaction requests are
checked per table and per member action, as AWS documents for TransactWriteItems.
"""

from __future__ import annotations

import re
from typing import Any

from moto.dynamodb.models import dynamodb_backends

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check

patches = Patches("dynamodb.authorization", after=("iam.enforcement",))
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _hash_key(request: Request, table: str) -> str | None:
    found = dynamodb_backends[request.account][request.region].tables.get(table)
    return found.hash_key_attr if found is not None else None


def _scalar(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        inner = next(iter(value.values()))
        return inner if isinstance(inner, str) else None
    return None


def _leading(request: Request, table: str, items: list[dict]) -> list[str] | None:
    attr = _hash_key(request, table)
    values = [_scalar(item.get(attr)) for item in items if isinstance(item, dict) and attr]
    return [v for v in values if v is not None] or None


def _write_key(write: dict) -> dict:
    return (write.get("PutRequest") or {}).get("Item") or (write.get("DeleteRequest") or {}).get(
        "Key"
    )


def _query_keys(request: Request, table: str) -> list[str] | None:
    attr = _hash_key(request, table)
    if not attr:
        return None
    conditions = request.body.get("KeyConditions") or {}
    if attr in conditions:
        return [v for v in map(_scalar, conditions[attr].get("AttributeValueList", [])) if v]
    expression = request.body.get("KeyConditionExpression") or ""
    names = {k: v for k, v in (request.body.get("ExpressionAttributeNames") or {}).items()}
    values = request.body.get("ExpressionAttributeValues") or {}
    for left, right in re.findall(r"([#\w.-]+)\s*=\s*(:[\w]+)", expression):
        if names.get(left, left) == attr and (value := _scalar(values.get(right))):
            return [value]
    return None


def resolve(request: Request) -> list[Check] | None:
    body, action = request.body, request.action

    def table_arn(name: str, index: str | None = None) -> str:
        return request.arn("dynamodb", f"table/{name}" + (f"/index/{index}" if index else ""))

    def check(name: str, act: str, keys: list[str] | None, index: str | None = None) -> Check:
        context = {"dynamodb:LeadingKeys": keys} if keys else {}
        return Check(f"dynamodb:{act}", table_arn(name, index), context)

    if action in ("BatchGetItem", "BatchWriteItem"):
        checks = []
        for name, spec in (body.get("RequestItems") or {}).items():
            if action == "BatchGetItem":
                items = spec.get("Keys", [])
            else:
                items = [_write_key(r) for r in spec]
            checks.append(check(name, action, _leading(request, name, items)))
        return checks
    if action in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for member in body.get("TransactItems") or []:
            for kind, spec in member.items():
                item = spec.get("Key") or spec.get("Item") or {}
                name = spec.get("TableName", "")
                act = _TRANSACT_ACTIONS.get(kind, kind)
                checks.append(check(name, act, _leading(request, name, [item])))
        return checks
    if "ResourceArn" in body:
        return [Check(f"dynamodb:{action}", body["ResourceArn"])]
    name = body.get("TableName")
    if not name:
        return None
    if action in ("GetItem", "DeleteItem", "UpdateItem"):
        return [check(name, action, _leading(request, name, [body.get("Key") or {}]))]
    if action == "PutItem":
        return [check(name, action, _leading(request, name, [body.get("Item") or {}]))]
    if action == "Query":
        return [check(name, action, _query_keys(request, name), body.get("IndexName"))]
    return [check(name, action, None, body.get("IndexName"))]


patches.put(RESOLVERS, "dynamodb", resolve)
