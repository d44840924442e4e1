"""Per-request work of moto's dispatcher done once (`moto.dispatch`): same answers as moto's."""

from __future__ import annotations

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from localaws.core.patching import apply_all
from localaws.services import moto_dispatch

HOSTS = [
    "api.sagemaker.us-east-1.amazonaws.com",
    "runtime.sagemaker.us-east-1.amazonaws.com",
    "s3.us-east-1.amazonaws.com",
    "s3.eu-west-1.amazonaws.com",
    "iam.us-east-1.amazonaws.com",
    "states.us-east-1.amazonaws.com",
    "sts.us-east-1.amazonaws.com",
    "logs.us-east-1.amazonaws.com",
    "dynamodb",
    "moto_api",
    None,
    "nothing.example.com",
]


@pytest.fixture
def patched():
    apply_all([moto_dispatch.patches])
    try:
        yield
    finally:
        moto_dispatch.patches.undo()


def test_the_backend_of_each_host_is_moto_s_and_found_once(patched):
    app = DomainDispatcherApplication(create_backend_app)
    moto_dispatch.patches.undo()
    expected = {host: app.get_backend_for_host(host) for host in HOSTS}  # moto's own
    apply_all([moto_dispatch.patches])
    assert expected["api.sagemaker.us-east-1.amazonaws.com"] == "sagemaker"
    calls = []
    app.backend_url_patterns = _Counting(app.backend_url_patterns, calls)
    for _ in range(3):
        assert {host: app.get_backend_for_host(host) for host in HOSTS} == expected
    # moto's scan of the URL patterns ran once per host that has a backend to find there
    # (hosts with none are scanned again each time, as moto would; few requests have one)
    scanned = [h for h in HOSTS if h not in (None, "moto_api", "dynamodb")]
    found_once = [h for h in scanned if expected[h] is not None]
    assert len(calls) == len(found_once) + 3 * (len(scanned) - len(found_once))


class _Counting(list):
    """The URL pattern list, counting how often it is scanned."""

    def __init__(self, items, calls):
        super().__init__(items)
        self._calls = calls

    def __iter__(self):
        self._calls.append(1)
        return super().__iter__()
