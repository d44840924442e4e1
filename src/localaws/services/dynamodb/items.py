"""Which DynamoDB items a request touched, so that only those are saved: patch group
`dynamodb.items`.

moto keeps a table's items in `Table.items` (hash key value -> item, or -> {range: item}).
`TrackedItems` replaces that dict in every table moto creates and records each hash key a
request reads or writes in the request's scope (`core.request_scope`). Over-recording (keys
only read) only costs a few extra saved entries; the persistence middleware serializes
DynamoDB writes, so one request's set is not mixed with another's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from moto.dynamodb.models.table import Table

from localaws.core import request_scope
from localaws.core.patching import Patches

patches = Patches("dynamodb.items")


class TrackedItems(defaultdict):
    """moto's `Table.items` that reports the hash keys it is asked about."""

    table_name: str = ""

    def _touch(self, key) -> None:
        scope = request_scope.current()
        if scope is not None:
            scope.dynamodb_keys.setdefault(self.table_name, set()).add(key)

    def __getitem__(self, key):
        self._touch(key)
        return super().__getitem__(key)

    def __setitem__(self, key, value) -> None:
        self._touch(key)
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        self._touch(key)
        super().__delitem__(key)

    def pop(self, key, *default):
        self._touch(key)
        return super().pop(key, *default)

    def get(self, key, default=None):
        self._touch(key)
        return super().get(key, default)

    def setdefault(self, key, default=None):
        self._touch(key)
        return super().setdefault(key, default)

    def __reduce__(self):
        return _rebuild, (self.table_name, dict(self))


def _rebuild(table_name: str, items: dict) -> TrackedItems:
    tracked = TrackedItems(dict, items)
    tracked.table_name = table_name
    return tracked


def track(table: Table) -> bool:
    """Make `table.items` tracked; False if it was not (its items must all be saved)."""
    items = table.items
    if isinstance(items, TrackedItems) and items.table_name == table.name:
        return True
    tracked = TrackedItems(dict, items)
    tracked.table_name = table.name
    table.items = tracked
    return False


@patches.wrap(Table, "__init__")
def _init(original: Any, self: Table, *args: Any, **kwargs: Any) -> None:
    """Track the items of every table moto creates."""
    original(self, *args, **kwargs)
    track(self)
