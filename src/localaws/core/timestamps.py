"""Timestamps parsed as botocore parses them, with a fast path for ISO 8601 UTC text.

botocore's `parse_timestamp` hands every string to dateutil (~40 us each). Both ends of a
request that carries timestamps pay it per timestamp: moto's serializer parses the ISO text
its models keep (`2026-11-30T14:31:00.000Z`) before formatting it, and boto3 clients parse it
back. A page of 100 S3 versions spent more on that than on listing them.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from botocore.utils import parse_timestamp
from dateutil.tz import tzutc

_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z\Z")


def fast_timestamp(value: Any) -> datetime.datetime:
    """botocore's `parse_timestamp`: the same datetime (tz `tzutc()`) and the same errors."""
    if isinstance(value, str) and _ISO_UTC.match(value):
        try:
            return datetime.datetime.fromisoformat(value[:-1]).replace(tzinfo=tzutc())
        except ValueError:  # out of range: botocore's own error
            pass
    return parse_timestamp(value)
