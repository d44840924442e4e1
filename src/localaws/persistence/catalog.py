"""Which moto services localaws persists, where their backends live, and what changes them."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceSpec:
    """Where a service's backends live and how `persistence.store` splits them into files.

    `partition` (S3, DynamoDB): the dict saved one file per entry by `store` itself. The
    others are saved one resource per file by `persistence.shards`: every dict attribute of
    the backend, plus `lists` (attribute, the item attribute that keys it), `paths` (a dict
    inside a helper object: (attribute, its attribute)) and `nested` (in each resource of
    a collection: (collection, attribute, key attribute for a list or None for a dict)).
    """

    module: str
    backends: str
    partition: str | None = None
    lists: tuple[tuple[str, str], ...] = ()
    paths: tuple[tuple[str, str], ...] = ()
    nested: tuple[tuple[str, str, str | None], ...] = ()

    def key_attr(self, name: tuple) -> str | None:
        """The key attribute of the list collection `name` (None: a dict)."""
        if len(name) == 1:
            return dict(self.lists).get(name[0])
        if len(name) == 3:
            return next((k for p, a, k in self.nested if (p, a) == (name[0], name[2])), None)
        return None


# moto keeps Step Functions' state machines in a list, each one's executions in a list of
# its own; CloudWatch Logs' streams live in their group; STS's assumed roles in a list;
# SageMaker's pipeline executions in their pipeline.
_STATES = {
    "lists": (("state_machines", "arn"),),
    "nested": (("state_machines", "executions", "execution_arn"),),
}
_TAGS = (("tagger", "tags"),)


SERVICES: dict[str, ServiceSpec] = {
    "s3": ServiceSpec("moto.s3.models", "s3_backends", "buckets"),
    "dynamodb": ServiceSpec("moto.dynamodb.models", "dynamodb_backends", "tables"),
    "iam": ServiceSpec("moto.iam.models", "iam_backends", paths=_TAGS),
    "sts": ServiceSpec(
        "moto.sts.models", "sts_backends", lists=(("assumed_roles", "access_key_id"),)
    ),
    "cloudformation": ServiceSpec("moto.cloudformation.models", "cloudformation_backends"),
    "stepfunctions": ServiceSpec("moto.stepfunctions.models", "stepfunctions_backends", **_STATES),
    "stepfunctions_parser": ServiceSpec(
        "moto.stepfunctions.parser.models", "stepfunctions_parser_backends", **_STATES
    ),
    # A pipeline holds its executions: each one its own file, or a step's save would pickle
    # every execution of the pipeline (all tenants' runs).
    "sagemaker": ServiceSpec(
        "moto.sagemaker.models",
        "sagemaker_backends",
        nested=(("pipelines", "pipeline_executions", None),),
    ),
    "logs": ServiceSpec(
        "moto.logs.models", "logs_backends", paths=_TAGS, nested=(("groups", "streams", None),)
    ),
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
