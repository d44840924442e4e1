"""Request -> authorization questions: the per-service tables and how a refusal looks.

Each service folder that localaws authorizes puts a resolver into `RESOLVERS` (through its
`Patches` group, keyed by the SigV4 signing name: `s3`, `dynamodb`, `sagemaker`, `states`,
`sts`, `iam`, `logs`, `cloudformation`). A resolver turns one request into the `Check`s AWS
makes for it: the IAM action, the resource ARN(s) and the condition keys. A request of a
service without a resolver, or an action its resolver does not know, is checked as
`<service>:<Action>` on resource `*`: allowed only by a policy granting that action on every
resource (the admin's `*`), never silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs, urlparse

from localaws.services.iam.policy import Caller, Check

RESOLVERS: dict[str, Callable[[Request], list[Check] | None]] = {}


@dataclass
class Request:
    """What a resolver sees of one request (moto's response object holds the raw request)."""

    response: Any
    service: str  # the SigV4 signing name
    action: str  # the API operation, e.g. GetItem
    account: str
    region: str
    caller: Caller
    moto_resource: str = "*"  # the resource moto computed (S3: the bucket/object ARN)
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def body(self) -> dict[str, Any]:
        """The JSON body of a JSON-protocol request ({} otherwise)."""
        raw = getattr(self.response, "raw_body", None) or getattr(self.response, "body", None)
        try:
            parsed = json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            return {}
        return parsed if isinstance(parsed, dict) else {}

    @cached_property
    def query(self) -> dict[str, list[str]]:
        """Query-string and form parameters (Query protocol: IAM, STS, CloudFormation)."""
        found = dict(getattr(self.response, "querystring", None) or {})
        if not found:
            found = parse_qs(urlparse(self.response.uri).query)
        return found

    def param(self, name: str) -> Any:
        """A request parameter by its API name, from the JSON body or the query string."""
        if name in self.body:
            return self.body[name]
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.response.headers.get(name)

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:aws:{service}:{where}:{self.account}:{resource}"


def checks_for(request: Request) -> list[Check]:
    """The checks AWS makes for `request` (default: the action on `*`)."""
    resolver = RESOLVERS.get(request.service)
    found = resolver(request) if resolver else None
    if found is None:
        return [Check(f"{request.service}:{request.action}", "*")]
    return found


def denial_message(caller: Caller, check: Check, explicit: bool, where: str) -> str:
    """AWS's wording of an authorization failure."""
    reason = (
        f"with an explicit deny in {where}"
        if explicit
        else f"because no identity-based policy allows the {check.action} action"
    )
    return (
        f"User: {caller.arn} is not authorized to perform: {check.action} "
        f"on resource: {check.resource} {reason}"
    )
