"""`connect()` (every notebook's first cell) accepts a localaws too busy to answer its probe."""

from __future__ import annotations

import os
import urllib.request

from helpers.session import connect
from localaws import cli


def test_connect_to_a_busy_localaws(localaws, monkeypatch):
    real = urllib.request.urlopen

    def urlopen(url, *args, timeout=None, **kwargs):
        if str(url).endswith(cli.HEALTH_PATH):
            raise TimeoutError("timed out")
        return real(url, *args, timeout=timeout, **kwargs)

    monkeypatch.setattr(cli.urllib.request, "urlopen", urlopen)
    session = connect("local")
    assert os.environ["AWS_ENDPOINT_URL"] == localaws.endpoint_url
    assert session.client("sts").get_caller_identity()["Account"] == "123456789012"
