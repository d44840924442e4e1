"""Job and endpoint output to CloudWatch Logs, in the log groups and streams SageMaker uses.

Jobs: group `/aws/sagemaker/TrainingJobs`, `.../ProcessingJobs` or `.../TransformJobs`, stream
`{job-name}/algo-1-{epoch seconds of the job start}`; lines are shipped while the job runs.
Endpoints: group `/aws/sagemaker/Endpoints/{name}`, stream `{variant}/localaws`.

Written in the server's process to moto's logs backend of the admin's account, as the admin's
CreateLogGroup / CreateLogStream / PutLogEvents requests would write them (the admin may do
anything: no IAM check to make), and saved as those requests' writes are (`hooks.changed`
with the group or stream written) before the call returns; no HTTP request per batch of lines.
"""

from __future__ import annotations

import time
from typing import Any

from localaws.core import hooks
from localaws.core.config import ACCOUNT_ID

GROUPS = {
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
    "transform": "/aws/sagemaker/TransformJobs",
}
_BATCH = 5000


def _backend(region: str) -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[ACCOUNT_ID][region]


def _stream(region: str, group: str, stream: str, exist_ok: bool) -> Any:
    """moto's log stream `stream` of `group`, both created when missing (with `exist_ok`
    False, an existing stream is moto's ResourceAlreadyExistsException, as CreateLogStream)."""
    from moto.logs.exceptions import ResourceAlreadyExistsException

    backend = _backend(region)
    found = backend.groups.get(group)
    if found is None:
        try:
            found = backend.create_log_group(group, None)
        except ResourceAlreadyExistsException:  # another job's thread created it meanwhile
            found = backend.groups[group]
        else:
            hooks.changed("logs", found)
    if exist_ok and stream in found.streams:
        return found.streams[stream]
    backend.create_log_stream(group, stream)
    made = found.streams[stream]
    hooks.changed("logs", made)
    return made


def _put(region: str, group: str, stream: Any, messages: list[str]) -> None:
    now = int(time.time() * 1000)
    for start in range(0, len(messages), _BATCH):
        events = [{"timestamp": now, "message": m} for m in messages[start : start + _BATCH]]
        _backend(region).put_log_events(group, stream.log_stream_name, events)
    if messages:
        hooks.changed("logs", stream)


class LogShipper:
    """Tails a job's log file into one CloudWatch Logs stream."""

    def __init__(self, kind: str, job_name: str, log_file: str, region: str) -> None:
        self.group = GROUPS[kind]
        self.region = region
        self.stream = f"{job_name}/algo-1-{int(time.time())}"
        self.log_file = log_file
        self._offset = 0
        self._partial = ""
        self._log_stream = _stream(region, self.group, self.stream, exist_ok=False)

    def ship(self, final: bool = False) -> list[str]:
        """Send lines written since the last call; return them."""
        try:
            with open(self.log_file, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self._offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = "" if final else lines.pop()
        lines = [line for line in lines if line]
        _put(self.region, self.group, self._log_stream, lines)
        return lines


def endpoint_log(region: str, endpoint_name: str, variant: str, *messages: str) -> None:
    """Write to the endpoint's CloudWatch Logs group as SageMaker does
    (`/aws/sagemaker/Endpoints/{name}`, stream `{variant}/localaws`). Never raises."""
    group, stream = f"/aws/sagemaker/Endpoints/{endpoint_name}", f"{variant}/localaws"
    try:
        _put(region, group, _stream(region, group, stream, exist_ok=True), list(messages))
    except Exception:  # noqa: BLE001 - logging must never fail a deployment or a request
        pass
