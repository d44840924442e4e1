"""IAM enforcement in localaws.

Every signed request must carry a valid access key (an IAM user's key or STS temporary
credentials with their session token) and a correct SigV4 signature; otherwise moto answers
InvalidClientTokenId / InvalidAccessKeyId / SignatureDoesNotMatch.

Authorization (policies) is enforced for S3 only:
- the caller's identity policies (user: inline, attached, group; assumed role: inline and
  attached) must allow the action on the bucket/object ARN, and no statement may deny it;
- the bucket policy applies too: a matching Deny refuses, a matching Allow grants access
  even without an identity policy. Principals match by `*`, the exact user/role ARN (an
  assumed-role session matches its role's ARN), the account id or `arn:aws:iam::<acct>:root`.
  Statements with a `Condition` are not evaluated (skipped).
- unsigned requests are refused (no anonymous access, even where a bucket policy names `*`),
  and so are presigned URLs (moto does not verify their signatures).
For every other service (DynamoDB, SageMaker, Step Functions, CloudFormation, IAM, STS, logs,
...) valid credentials are enough: moto's resource-scoped checks do not match real ARNs there,
so enforcing them would refuse legitimate calls.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import (
    InvalidClientTokenIdError,
    JsonRESTError,
    SignatureDoesNotMatchError,
)
from moto.iam.access_control import IAMPolicy, PermissionResult, S3IAMRequest
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.models import FakeBucket, s3_backends

from localaws.core.patching import Patches
from localaws.services.iam.policy import matches, matches_principal, principal_ids

patches = Patches("iam.enforcement")
# moto checks nothing until this many requests were served: check from the first one.
patches.set(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
# moto applies Deny statements of bucket policies to every principal (an empty 403);
# `_authorize_s3` evaluates them with their principals instead.
patches.set(FakeBucket, "get_permission", lambda self, action, resource: PermissionResult.NEUTRAL)


@patches.wrap(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")
def authenticate_and_authorize(original, self, iam_request_cls, resource: str = "*") -> None:
    """Credentials and signature for every service; identity and bucket policies for S3."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return original(self, iam_request_cls, resource)
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return None
    if "Authorization" not in self.headers:
        # Unsigned, or a presigned URL: moto verifies neither, so both are refused.
        if iam_request_cls is S3IAMRequest:
            raise S3AccessDeniedError()
        raise InvalidClientTokenIdError()
    json_protocol = bool(self.headers.get("X-Amz-Target"))
    try:
        request = _build_request(self, iam_request_cls)
        request.check_signature()
    except InvalidClientTokenIdError:
        if json_protocol:  # moto answers XML, which JSON clients cannot parse
            raise _json_error(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ) from None
        raise
    except SignatureDoesNotMatchError:
        if json_protocol:
            raise _json_error(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            ) from None
        raise
    if iam_request_cls is S3IAMRequest:
        _authorize_s3(self, request, resource)
    return None


def _json_error(code: str, message: str):
    error = JsonRESTError(code, message)
    error.code = 400
    return error


def _build_request(response, iam_request_cls):
    parsed = urlparse(response.uri)
    path = response.raw_path + (f"?{parsed.query}" if parsed.query else "")
    return iam_request_cls(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    )


def _authorize_s3(response, request, resource: str) -> None:
    action = request._action
    identity = PermissionResult.NEUTRAL
    for policy in request._access_key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(action, resource)
        if result == PermissionResult.DENIED:
            request._raise_access_denied()
        if result == PermissionResult.PERMITTED:
            identity = result
    bucket_result = _bucket_policy_result(response, request, action, resource)
    if bucket_result == "deny":
        request._raise_access_denied()
    if identity != PermissionResult.PERMITTED and bucket_result != "allow":
        request._raise_access_denied()


def _bucket_policy_result(response, request, action: str, resource: str) -> str | None:
    bucket_name = resource.split(":::", 1)[-1].split("/", 1)[0]
    if not bucket_name or bucket_name == "*":
        return None
    backend = s3_backends[request.account_id]["aws"]
    bucket = backend.buckets.get(bucket_name)
    if bucket is None or not bucket.policy:
        return None
    try:
        document = json.loads(bucket.policy)
    except ValueError:
        return None
    principals = principal_ids(request._access_key.arn, request.account_id)
    statements = document.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    result = None
    for statement in statements:
        if "Condition" in statement or not matches_principal(statement, principals):
            continue
        if not matches(statement, "Action", "NotAction", action, case=False):
            continue
        if not matches(statement, "Resource", "NotResource", resource, case=True):
            continue
        if statement.get("Effect") == "Deny":
            return "deny"
        if statement.get("Effect") == "Allow":
            result = "allow"
    return result
