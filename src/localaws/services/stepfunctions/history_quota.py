"""The size of Step Functions' history quota (`history_limit` enforces it), without moto:
tests and benchmarks read the setting's name and bounds without importing moto's parser."""

from __future__ import annotations

import os

HISTORY_LIMIT = 25_000
ENV = "LOCALAWS_SFN_HISTORY_LIMIT"


def configured_limit() -> int:
    """The limit in force: `HISTORY_LIMIT`, or the test-only `LOCALAWS_SFN_HISTORY_LIMIT`."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return HISTORY_LIMIT
    if not text.isdigit() or not 2 <= int(text) <= HISTORY_LIMIT:
        raise ValueError(
            f"{ENV} (test-only) must be a whole number from 2 to {HISTORY_LIMIT}, got {text!r}"
        )
    return int(text)
