"""Timestamps parsed as botocore does, faster for ISO 8601 UTC (`core.timestamps`): Step
Functions task clients and moto's serializer get the same datetimes."""

from __future__ import annotations

import pytest
from botocore.utils import parse_timestamp

from localaws.core.timestamps import fast_timestamp


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


@pytest.mark.parametrize(
    "value",
    ["2026-11-30T14:31:00.000Z", "2026-11-30T14:31:00.250Z", "Mon, 30 Nov 2026 14:31:00 GMT"],
)
def test_moto_serializer_formats_timestamps_as_before(value):
    from botocore.utils import parse_to_aware_datetime
    from moto.core.serialize import TimestampSerializer

    from localaws.services.serialization import parse_to_aware_datetime as patched

    assert patched(parse_to_aware_datetime, value) == parse_to_aware_datetime(value)
    serializer = TimestampSerializer("iso8601")
    for fmt in ("iso8601", "iso8601_zeroed", "rfc822", "unixtimestamp"):
        converted = getattr(serializer, f"_timestamp_{fmt}")
        assert converted(patched(parse_to_aware_datetime, value)) == converted(
            parse_to_aware_datetime(value)
        )
