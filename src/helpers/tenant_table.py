"""The one reader of the tenant table: a tenant's item, or every tenant's.

`tenant_item` is the look-up every helper uses; a missing tenant is always
`TenantNotFound` naming the tenant and the table.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from helpers.errors import TenantError, TenantNotFound
from helpers.naming import DEFAULT_TABLE, validate_tenant_id
from helpers.session import AwsSession


def _plain(item: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A DynamoDB item as {attribute: value} (every attribute of the table is a scalar)."""
    return {key: next(iter(value.values())) for key, value in item.items()}


def get_tenant_item(
    session: AwsSession, tenant_id: str, table_name: str = DEFAULT_TABLE
) -> dict[str, str] | None:
    """The tenant's table item as {attribute: value}, or None if there is none."""
    item = (
        session.client("dynamodb")
        .get_item(TableName=table_name, Key={"tenant-name": {"S": tenant_id}}, ConsistentRead=True)
        .get("Item")
    )
    return None if item is None else _plain(item)


def tenant_item(
    session: AwsSession,
    tenant_id: str,
    table_name: str = DEFAULT_TABLE,
    required: tuple[str, ...] = (),
) -> dict[str, str]:
    """The tenant's table item; TenantNotFound if there is none, TenantError if it lacks any
    of the `required` attributes (its creation has not finished)."""
    item = get_tenant_item(session, validate_tenant_id(tenant_id), table_name)
    if item is None:
        raise TenantNotFound.in_table(tenant_id, table_name)
    missing = [a for a in required if a not in item]
    if missing:
        raise TenantError(
            f"tenant {tenant_id!r} item in table {table_name!r} lacks {missing}; "
            "is its creation finished?",
            error="TenantIncomplete",
        )
    return item


def list_tenants(session: AwsSession, table_name: str = DEFAULT_TABLE) -> pd.DataFrame:
    """Every tenant item of the table, one row per tenant, sorted by name."""
    rows = []
    for page in session.client("dynamodb").get_paginator("scan").paginate(TableName=table_name):
        rows += [_plain(item) for item in page["Items"]]
    frame = pd.DataFrame(rows)
    return frame.sort_values("tenant-name").reset_index(drop=True) if rows else frame
