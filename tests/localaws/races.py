"""A collection changed by another thread, switching threads often, as a loaded server does."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def changing(collection: dict, make: Callable[[int], Any]) -> Iterator[Callable[[], None]]:
    """While inside, a thread keeps adding `make(i)` under `new-<i>` to `collection` and
    removing the one added 50 before; yields `wait_for_change()`, which returns once the
    collection changed again (so the caller's next scan meets a changed collection)."""
    stop, changes = threading.Event(), [0]

    def churn() -> None:
        while not stop.is_set():
            i = changes[0]
            collection[f"new-{i}"] = make(i)
            collection.pop(f"new-{i - 50}", None)
            changes[0] += 1

    def wait_for_change() -> None:
        seen = changes[0]
        while changes[0] == seen:
            time.sleep(0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writer = threading.Thread(target=churn)
    writer.start()
    try:
        yield wait_for_change
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(interval)
