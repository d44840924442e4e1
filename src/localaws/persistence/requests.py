"""What a request may change: the services, and in S3 / DynamoDB the buckets and tables.

`classify` decides from the request alone (signing name, action, path, body) before moto
runs; `refine` narrows the S3 / DynamoDB part after moto ran, from what the request's scope
recorded (the object names moto parsed, the hash keys it touched).
"""

from __future__ import annotations

import io
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

from localaws.core.request_scope import RequestScope
from localaws.persistence.catalog import SERVICES, SIGNING_NAMES

_READ_PREFIXES = (
    "Get",
    "List",
    "Describe",
    "Query",
    "Scan",
    "BatchGet",
    "Head",
    "Search",
    "Validate",
    "Test",
    "Simulate",
    "Lookup",
    "Check",
    "Estimate",
    "Filter",
)


@dataclass
class Plan:
    """What a request may change: (service, parts or None) pairs."""

    targets: list[tuple[str, set[str] | None]]


def classify(environ: dict) -> tuple[Plan | None, bytes | None]:
    """Return what a request may change (None if it only reads) and its body if read here."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api"):
        return (Plan([(s, None) for s in SERVICES]) if method == "POST" else None), None
    try:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
        signing = scope[3].lower()
    except IndexError:
        return None, None  # unsigned or presigned: refused (localaws.iam)
    services = SIGNING_NAMES.get(signing, (signing,))
    services = tuple(s for s in services if s in SERVICES)
    if not services:
        return None, None
    body = None
    if signing == "s3":
        if method in ("GET", "HEAD", "OPTIONS"):
            return None, None
        return Plan([("s3", _s3_parts(environ, path))]), None
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif signing == "sagemaker" and path.endswith("/invocations"):
        return None, None
    else:
        body = _read_body(environ)
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    if action.startswith(_READ_PREFIXES) and action != "GetId":
        return None, body
    if signing == "dynamodb":
        body = body if body is not None else _read_body(environ)
        return Plan([("dynamodb", _dynamodb_parts(body))]), body
    return Plan([(s, None) for s in services]), body


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _s3_parts(environ: dict, path: str) -> set[str] | None:
    host = environ.get("HTTP_HOST", "").split(":")[0]
    # Virtual-hosted style: <bucket>.s3.<...> or <bucket>.localhost
    for suffix in (".s3.amazonaws.com", ".localhost"):
        if host.endswith(suffix):
            return {host[: -len(suffix)]}
    if ".s3." in host:
        return {host.split(".s3.", 1)[0]}
    bucket = path.lstrip("/").split("/", 1)[0]
    return {urllib.parse.unquote(bucket)} if bucket else None


def _dynamodb_parts(body: bytes) -> set[str] | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    names: set[str] = set()
    if isinstance(data.get("TableName"), str):
        names.add(data["TableName"])
    names.update(data.get("RequestItems") or {})
    for item in data.get("TransactItems") or []:
        for op in item.values():
            if isinstance(op, dict) and isinstance(op.get("TableName"), str):
                names.add(op["TableName"])
    if not names:
        return None
    # Table names may also be ARNs; fall back to a full save for those.
    return None if any(n.startswith("arn:") for n in names) else names


def refine(service: str, parts: set[str] | None, scope: RequestScope, method: str) -> Any:
    """What of `parts` to save after the request ran (the `parts` argument of `Store.append`).

    S3: only the objects the request named (moto's parsed key names); DynamoDB: only the
    hash keys the request touched."""
    if parts is None:
        return parts
    if service == "dynamodb":
        return {table: set(scope.dynamodb_keys.get(table, ())) for table in parts}
    if service != "s3":
        return parts
    spec: set[str] | None
    if scope.s3_keys:
        spec = set(scope.s3_keys)
    elif method == "POST":
        spec = None  # e.g. DeleteObjects: any object may have changed
    else:
        spec = set()  # a bucket-level change: the bucket without its objects
    return {bucket: spec for bucket in parts}
