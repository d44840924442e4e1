"""Job and endpoint output to CloudWatch Logs, in the log groups and streams SageMaker uses.

Jobs: group `/aws/sagemaker/TrainingJobs`, `.../ProcessingJobs` or `.../TransformJobs`, stream
`{job-name}/algo-1-{epoch seconds of the job start}`; lines are shipped while the job runs.
Endpoints: group `/aws/sagemaker/Endpoints/{name}`, stream `{variant}/localaws`.
"""

from __future__ import annotations

import time

from localaws.compute.s3io import client
from localaws.core.credentials import admin_credentials

GROUPS = {
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
    "transform": "/aws/sagemaker/TransformJobs",
}
_BATCH = 5000
_log_groups: set[tuple[str, str]] = set()  # (region, group) known to exist


class LogShipper:
    """Tails a job's log file into one CloudWatch Logs stream."""

    def __init__(self, kind: str, job_name: str, log_file: str, region: str) -> None:
        self.group = GROUPS[kind]
        self.stream = f"{job_name}/algo-1-{int(time.time())}"
        self.log_file = log_file
        self._offset = 0
        self._partial = ""
        self._logs = client("logs", admin_credentials(), region)
        # One request per job, not two: the group is created once (again if it was deleted).
        if (region, self.group) in _log_groups:
            try:
                self._logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
                return
            except self._logs.exceptions.ResourceNotFoundException:
                _log_groups.discard((region, self.group))
        try:
            self._logs.create_log_group(logGroupName=self.group)
        except self._logs.exceptions.ResourceAlreadyExistsException:
            pass
        _log_groups.add((region, self.group))
        self._logs.create_log_stream(logGroupName=self.group, logStreamName=self.stream)

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
        now = int(time.time() * 1000)
        for start in range(0, len(lines), _BATCH):
            self._logs.put_log_events(
                logGroupName=self.group,
                logStreamName=self.stream,
                logEvents=[
                    {"timestamp": now, "message": line} for line in lines[start : start + _BATCH]
                ],
            )
        return lines


_log_streams: set[tuple[str, str, str]] = set()


def endpoint_log(region: str, endpoint_name: str, variant: str, *messages: str) -> None:
    """Write to the endpoint's CloudWatch Logs group as SageMaker does
    (`/aws/sagemaker/Endpoints/{name}`, stream `{variant}/localaws`). Never raises."""
    group, stream = f"/aws/sagemaker/Endpoints/{endpoint_name}", f"{variant}/localaws"
    try:
        logs = client("logs", admin_credentials(), region)
        if (region, group, stream) not in _log_streams:
            for create, kwargs in (
                (logs.create_log_group, {"logGroupName": group}),
                (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
            ):
                try:
                    create(**kwargs)
                except logs.exceptions.ResourceAlreadyExistsException:
                    pass
            _log_streams.add((region, group, stream))
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": m} for m in messages],
        )
    except Exception:  # logging must never fail a deployment or a request
        _log_streams.discard((region, group, stream))
