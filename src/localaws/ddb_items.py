"""Which DynamoDB items a request touched, so that only those are saved.

moto keeps a table's items in `Table.items` (hash key value -> item, or -> {range: item}).
`TrackedItems` replaces that dict and, while `tracking()` is active in the current thread,
records every hash key the request reads or writes. Over-recording (keys only read) only
costs a few extra saved entries; DynamoDB writes are serialized by the persistence
middleware, so one request's set is not mixed with another's.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

_local = threading.local()


class TrackedItems(defaultdict):
    """moto's `Table.items` that reports the hash keys it is asked about."""

    table_name: str = ""

    def _touch(self, key) -> None:
        touched = getattr(_local, "touched", None)
        if touched is not None:
            touched.setdefault(self.table_name, set()).add(key)

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


def track(table) -> bool:
    """Make `table.items` tracked; False if it was not (its items must all be saved)."""
    items = table.items
    if isinstance(items, TrackedItems) and items.table_name == table.name:
        return True
    tracked = TrackedItems(dict, items)
    tracked.table_name = table.name
    table.items = tracked
    return False


@contextmanager
def tracking() -> Iterator[dict]:
    """Collect {table name: hash keys} touched in this thread inside the block."""
    touched: dict = {}
    _local.touched = touched
    try:
        yield touched
    finally:
        _local.touched = None


def install() -> None:
    """Track the items of every table moto creates from now on."""
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_localaws_tracked", False):
        return
    original = Table.__init__

    def __init__(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        track(self)

    Table.__init__ = __init__
    Table._localaws_tracked = True
