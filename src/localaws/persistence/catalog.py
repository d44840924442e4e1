"""Which moto services localaws persists, where their backends live, and what changes them."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    module: str
    backends: str
    partition: str | None = None  # attribute holding a dict persisted one file per entry


SERVICES: dict[str, ServiceSpec] = {
    "s3": ServiceSpec("moto.s3.models", "s3_backends", "buckets"),
    "dynamodb": ServiceSpec("moto.dynamodb.models", "dynamodb_backends", "tables"),
    "iam": ServiceSpec("moto.iam.models", "iam_backends"),
    "sts": ServiceSpec("moto.sts.models", "sts_backends"),
    "cloudformation": ServiceSpec("moto.cloudformation.models", "cloudformation_backends"),
    "stepfunctions": ServiceSpec("moto.stepfunctions.models", "stepfunctions_backends"),
    "stepfunctions_parser": ServiceSpec(
        "moto.stepfunctions.parser.models", "stepfunctions_parser_backends"
    ),
    "sagemaker": ServiceSpec("moto.sagemaker.models", "sagemaker_backends"),
    "logs": ServiceSpec("moto.logs.models", "logs_backends"),
    "events": ServiceSpec("moto.events.models", "events_backends"),
    "sns": ServiceSpec("moto.sns.models", "sns_backends"),
    "sqs": ServiceSpec("moto.sqs.models", "sqs_backends"),
    "secretsmanager": ServiceSpec("moto.secretsmanager.models", "secretsmanager_backends"),
    "ecr": ServiceSpec("moto.ecr.models", "ecr_backends"),
}
# SigV4 signing name -> services whose state a mutating request may change.
SIGNING_NAMES: dict[str, tuple[str, ...]] = {
    "states": ("stepfunctions", "stepfunctions_parser"),
    # CloudFormation creates resources of other services in-process.
    "cloudformation": tuple(SERVICES),
}


def backend_dict(service: str, load: bool = False) -> Any:
    """moto's BackendDict of `service`; None if never imported (nothing to save) unless `load`."""
    spec = SERVICES[service]
    module = sys.modules.get(spec.module)
    if module is None:
        if not load:
            return None
        module = importlib.import_module(spec.module)
    return getattr(module, spec.backends)


def resolve_backend(module: str, attr: str, account: str, region: str) -> Any:
    """The live backend a pickled reference names (see `pickling`)."""
    return getattr(importlib.import_module(module), attr)[account][region]
