"""moto's response serializer, parsing the timestamps it formats without dateutil.

moto 5.2.5's `TimestampSerializer` turns each timestamp into a datetime with botocore's
`parse_to_aware_datetime` before formatting it, and its models keep many as ISO 8601 text (S3
versions' LastModified): every one went through dateutil. `core.timestamps` parses that text
to the same datetime; anything else still goes to botocore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core import serialize

from localaws.core.patching import Patches
from localaws.core.timestamps import fast_timestamp

patches = Patches("moto.serialization")


@patches.wrap(serialize, "parse_to_aware_datetime")
def parse_to_aware_datetime(original: Callable[[Any], Any], value: Any) -> Any:
    return original(fast_timestamp(value) if isinstance(value, str) else value)
