"""Step Functions task clients parse timestamps as botocore does, faster for ISO 8601 UTC."""

from __future__ import annotations

import pytest
from botocore.utils import parse_timestamp

from localaws.services.stepfunctions.clients import fast_timestamp


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-30T14:31:00.000Z",  # what S3 and IAM answer
        "2026-11-30T14:31:00Z",
        "2026-11-30T14:31:00.1Z",
        "2026-11-30T14:31:00.123456Z",
        "2026-11-30T14:31:00.1234567Z",  # past microseconds: botocore's own path
        "2026-11-30T14:31:00+02:00",
        "Mon, 30 Nov 2026 14:31:00 GMT",  # HTTP headers (Last-Modified)
        "1700000000.5",
        1700000000,
    ],
)
def test_fast_timestamp_is_botocores(value):
    fast, slow = fast_timestamp(value), parse_timestamp(value)
    assert fast == slow and fast.utcoffset() == slow.utcoffset()
    assert fast.isoformat() == slow.isoformat()


def test_fast_timestamp_refuses_what_botocore_refuses():
    with pytest.raises(ValueError, match="Invalid timestamp"):
        fast_timestamp("2026-13-45T99:00:00Z")
