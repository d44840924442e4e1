"""Region lists from botocore's data, computed once per process instead of at every call.

moto builds region lists at import: its EC2 models (imported with CloudFormation's and the
Step Functions parser's) ask three new boto3 Sessions, each of which loads the EC2 service
model and the endpoint data again: about 0.45 s of a server start's CPU. The answer depends
only on botocore's data files, which do not change while the process runs, so one shared
session answers each distinct question once (a session given a data path of its own is asked
itself). This group changes what moto does at import: `services.boot_groups()` applies it
before moto's service modules load.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import boto3.session

from localaws.core.patching import Patches

patches = Patches("boto3.region_lists")


@patches.wrap(boto3.session.Session, "get_available_regions")
def get_available_regions(
    original: Callable[..., list[str]],
    self: boto3.session.Session,
    service_name: str,
    partition_name: str = "aws",
    allow_non_regional: bool = False,
) -> list[str]:
    if self._session.get_config_variable("data_path"):  # models of its own: ask it
        return original(self, service_name, partition_name, allow_non_regional)
    return list(_regions(original, service_name, partition_name, allow_non_regional))


@functools.cache
def _regions(
    original: Callable[..., list[str]], service: str, partition: str, non_regional: bool
) -> tuple[str, ...]:
    return tuple(original(_shared(), service, partition, non_regional))


@functools.cache
def _shared() -> boto3.session.Session:
    return boto3.session.Session()
