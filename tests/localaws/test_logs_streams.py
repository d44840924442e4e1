"""CloudWatch Logs streams saved in chunks (`services.logs.streams`): every event, in order,
after restarts, with writes before and after each one."""

from __future__ import annotations

import time

import pytest
from compute_helpers import own_server

from localaws.services.logs.streams import CHUNK


def _messages(logs, group: str, stream: str) -> list[str]:
    out: list[str] = []
    token = None
    while True:
        kwargs = {"nextToken": token} if token else {}
        page = logs.get_log_events(
            logGroupName=group, logStreamName=stream, startFromHead=True, **kwargs
        )
        out += [e["message"] for e in page["events"]]
        if not page["events"] or page["nextForwardToken"] == token:
            return out
        token = page["nextForwardToken"]


@pytest.mark.slow
def test_a_long_stream_keeps_every_event_in_order_across_restarts(tmp_path):
    from localaws.cli import start, stop

    with own_server(tmp_path / "state") as (config, _, session):

        def client():
            return session.client("logs", endpoint_url=config.endpoint_url)

        logs, group, stream = client(), "/aws/sagemaker/Endpoints/pool", "AllTraffic/localaws"
        logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        sent: list[str] = []

        def put(count: int) -> None:
            batch = [f"line {len(sent) + i}" for i in range(count)]
            now = int(time.time() * 1000)  # PutLogEvents drops events older than 14 days
            logs.put_log_events(
                logGroupName=group,
                logStreamName=stream,
                logEvents=[{"timestamp": now, "message": m} for m in batch],
            )
            sent.extend(batch)

        for count in (CHUNK - 1, 1, 3, CHUNK + 5):  # a chunk sealed exactly, then past it
            put(count)
        stop(config)
        saved = [p.read_bytes() for p in config.state_dir.rglob("*.pkl")]
        assert any(b"_restore_stream" in data for data in saved)  # saved in chunks
        start(config)
        logs = client()
        assert _messages(logs, group, stream) == sent
        put(CHUNK)  # appended to a restored stream
        stop(config)
        start(config)
        logs = client()
        assert _messages(logs, group, stream) == sent
        assert len(sent) == 3 * CHUNK + 8
