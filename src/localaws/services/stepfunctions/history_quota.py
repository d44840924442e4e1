"""The size of Step Functions' history quota (`history_limit` enforces it), without moto.

`services.apply` reads it at every start, before Step Functions' patch groups wait for moto's
first import of the service: a bad test-only `LOCALAWS_SFN_HISTORY_LIMIT` stops the start
with one line naming it, not the first execution.
"""

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
