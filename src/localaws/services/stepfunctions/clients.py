"""boto3 clients for Step Functions tasks: they call this server, signed with the role's keys."""

from __future__ import annotations

import base64
import datetime
import json
import logging
import os
import threading
import time
from typing import Any

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.response import StreamingBody

from localaws.core import credentials, loopback
from localaws.core.timestamps import fast_timestamp

LOG = logging.getLogger(__name__)

# Service names in `arn:aws:states:::aws-sdk:<name>:<action>` that boto3 spells differently.
BOTO_SERVICE_NAMES: dict[str, str] = {
    "sagemakerruntime": "sagemaker-runtime",
    "cloudwatchlogs": "logs",
    "eventbridge": "events",
    "sfn": "stepfunctions",
    "states": "stepfunctions",
}

# How Step Functions spells a service in error names (`S3.NoSuchBucketException`): the
# PascalCase service name of the AWS SDK for Java 2.x (S3Client, SageMakerClient, IamClient...).
ERROR_SERVICE_NAMES: dict[str, str] = {
    "s3": "S3",
    "s3control": "S3Control",
    "sagemaker": "SageMaker",
    "sagemakerruntime": "SageMakerRuntime",
    "iam": "Iam",
    "sts": "Sts",
    "dynamodb": "DynamoDb",
    "sfn": "Sfn",
    "lambda": "Lambda",
    "sqs": "Sqs",
    "sns": "Sns",
    "ssm": "Ssm",
    "kms": "Kms",
    "ec2": "Ec2",
    "ecr": "Ecr",
    "ecs": "Ecs",
    "cloudwatch": "CloudWatch",
    "cloudwatchlogs": "CloudWatchLogs",
    "cloudformation": "CloudFormation",
    "secretsmanager": "SecretsManager",
    "eventbridge": "EventBridge",
}

_MAX_CLIENTS = 256
_ROLE_CREDENTIALS_TTL = 300.0  # seconds; well inside the lifetime of STS session keys
_lock = threading.Lock()
_botocore = botocore.session.get_session()  # one session: service models load once
# botocore parsed each timestamp of an XML answer with dateutil (`core.timestamps`)
_botocore.get_component("response_parser_factory").set_parser_defaults(
    timestamp_parser=fast_timestamp
)
_session = boto3.session.Session(botocore_session=_botocore)
_clients: dict[tuple[str, str, str], BaseClient] = {}
_role_keys: dict[str, tuple[float, dict[str, str]]] = {}


def endpoint_url() -> str:
    """This server's own URL (create_app sets MOTO_PORT)."""
    return f"http://127.0.0.1:{os.environ.get('MOTO_PORT', '5000')}"


def boto_service_name(sfn_service: str) -> str:
    return BOTO_SERVICE_NAMES.get(sfn_service, sfn_service)


def error_service_name(sfn_service: str) -> str:
    name = sfn_service.lower()
    return ERROR_SERVICE_NAMES.get(name, sfn_service[:1].upper() + sfn_service[1:])


def _admin_keys() -> dict[str, str]:
    try:
        return credentials.admin_credentials()
    except RuntimeError as exc:  # a server without a state directory (embedded in a test)
        LOG.warning("no admin credentials (%s); tasks sign with moto's default keys", exc)
        return {"AccessKeyId": "test", "SecretAccessKey": "test"}


def credentials_for(role_arn: str | None) -> dict[str, str]:
    """The role's temporary keys (cached a few minutes); admin keys if it cannot be assumed."""
    if not role_arn:
        return _admin_keys()
    now = time.monotonic()
    cached = _role_keys.get(role_arn)
    if cached and cached[0] > now:
        return cached[1]
    try:
        keys = credentials.role_credentials(role_arn, "localaws-stepfunctions")
    except Exception as exc:  # an unassumable role still lets the task run, as admin
        LOG.warning("cannot assume %s (%s); the task runs with admin credentials", role_arn, exc)
        return _admin_keys()
    _role_keys[role_arn] = (now + _ROLE_CREDENTIALS_TTL, keys)
    return keys


def client_for(region: str, service: str, state_credentials: Any = None) -> BaseClient:
    """A (cached) client of `service` against this server, signed as the task's role."""
    role_arn = getattr(state_credentials, "role_arn", None)
    keys = credentials_for(role_arn)
    service = boto_service_name(service)
    cache_key = (service, region, keys["AccessKeyId"] + keys.get("SessionToken", ""))
    client = _clients.get(cache_key)
    if client is None:
        with _lock:
            client = _clients.get(cache_key)
            if client is None:
                if len(_clients) >= _MAX_CLIENTS:  # role keys rotate: drop stale clients
                    _clients.clear()
                client = _session.client(
                    service,
                    region_name=region or "us-east-1",
                    endpoint_url=endpoint_url(),
                    aws_access_key_id=keys["AccessKeyId"],
                    aws_secret_access_key=keys["SecretAccessKey"],
                    aws_session_token=keys.get("SessionToken") or None,
                    config=Config(
                        parameter_validation=False,
                        retries={"max_attempts": 0, "total_max_attempts": 1},
                        connect_timeout=60,
                        read_timeout=900,
                    ),
                )
                _clients[cache_key] = loopback.attach(client)
    return client


def reset() -> None:
    """Forget cached clients and role keys (after a reset of IAM, say)."""
    with _lock:
        _clients.clear()
        _role_keys.clear()


def to_boto_params(client: BaseClient, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Task parameters as boto3 takes them: members matched case-insensitively (ASL spells
    them in PascalCase), objects given for string members JSON-encoded, text for blobs as-is."""
    api_name = client.meta.method_to_api_mapping.get(action)
    if api_name is None:
        return params
    shape = client.meta.service_model.operation_model(api_name).input_shape
    return _coerce(params, shape) if shape is not None else params


def _coerce(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        out = {}
        for key, item in value.items():
            name = members.get(key.lower())
            out[name or key] = _coerce(item, shape.members[name]) if name else item
        return out
    if kind == "list" and isinstance(value, list):
        return [_coerce(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _coerce(v, shape.value) for k, v in value.items()}
    if kind == "string" and isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if kind == "blob":
        if isinstance(value, str):
            return value.encode("utf-8")
        if not isinstance(value, bytes | bytearray):
            return json.dumps(value, separators=(",", ":")).encode("utf-8")
    return value


def to_state_value(value: Any) -> Any:
    """A boto3 response as Step Functions hands it on: JSON values only (streams read as text)."""
    if isinstance(value, dict):
        return {k: to_state_value(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [to_state_value(v) for v in value]
    if isinstance(value, StreamingBody):
        value = value.read()
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value
