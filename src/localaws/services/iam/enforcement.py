"""IAM enforcement in localaws: every request is authenticated, then authorized as AWS would.

1. Authentication: a signed request must carry a valid access key (an IAM user's key, or STS
   temporary credentials with their session token) and a correct SigV4 signature; otherwise
   InvalidClientTokenId / InvalidAccessKeyId / SignatureDoesNotMatch (UnrecognizedClient /
   InvalidSignature for JSON services). Unsigned requests are refused (no anonymous access,
   even where a bucket policy names `*`), and so are presigned URLs (moto verifies neither).
2. Authorization: the service's resolver (`localaws.services.iam.authorization`) turns the
   request into checks (action, resource ARN, condition keys, resource policy); each must be
   allowed by `localaws.services.iam.policy.evaluate`, the code SimulatePrincipalPolicy uses.
   Keys of a user or role that no longer exists are refused with 403 AccessDenied, as AWS does
   (the principal has no policies left), not an internal error. `sts:GetCallerIdentity` is
   always allowed, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from botocore.awsrequest import HeadersDict
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import (
    AccessDeniedError,
    InvalidClientTokenIdError,
    JsonRESTError,
    SignatureDoesNotMatchError,
    _RESTError,
)
from moto.iam.access_control import IAMRequestBase, PermissionResult, S3IAMRequest
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.models import FakeBucket

from localaws.core.patching import Patches
from localaws.services.iam.authorization import Request, checks_for, denial_message
from localaws.services.iam.policy import Caller, Check, evaluate
from localaws.services.iam.principals import PrincipalGone, caller_for_key

patches = Patches("iam.enforcement")
# moto checks nothing until this many requests were served: check from the first one.
patches.set(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
# moto applies Deny statements of bucket policies to every principal (an empty 403); the S3
# resolver hands the bucket policy to the evaluator instead.
patches.set(FakeBucket, "get_permission", lambda self, action, resource: PermissionResult.NEUTRAL)


def _signed_headers(signed_headers: list[str], original_headers) -> HeadersDict:
    """The signed headers of the request, looked up by name (case-insensitive, as moto then
    reads `X-Amz-Date`). moto walked every header of the environ and lower-cased each: about
    a tenth of the server's CPU in a Step Functions run of S3 calls. A header signed but absent
    is left out, as moto's walk left it out."""
    headers = HeadersDict()
    for name in signed_headers:
        value = original_headers.get(name)
        if value is not None:
            headers[name] = value
    return headers


patches.set(IAMRequestBase, "_create_headers_for_aws_request", staticmethod(_signed_headers))


@patches.wrap(ActionAuthenticatorMixin, "_authenticate_and_authorize_action")
def authenticate_and_authorize(original, self, iam_request_cls, resource: str = "*") -> None:
    """Credentials and signature, then every check the service's resolver names."""
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return original(self, iam_request_cls, resource)
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return None
    if "Authorization" not in self.headers:
        # Unsigned, or a presigned URL: moto verifies neither, so both are refused.
        if iam_request_cls is S3IAMRequest:
            raise S3AccessDeniedError()
        raise InvalidClientTokenIdError()
    json_protocol = iam_request_cls is not S3IAMRequest and _json_protocol(self)
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
    if request._action == "sts:GetCallerIdentity":
        return None
    caller = _caller(request)
    service, _, action = request._action.partition(":")
    authz = Request(self, service, action, request.account_id, request._region, caller, resource)
    for check in checks_for(authz):
        decision = evaluate(caller, check)
        if decision.allowed:
            continue
        if iam_request_cls is S3IAMRequest:
            request._raise_access_denied()
        explicit = decision.decision == "explicitDeny"
        where = (
            "a resource-based policy"
            if _from_resource(decision, check)
            else "an identity-based policy"
        )
        message = denial_message(caller, check, explicit, where)
        if json_protocol:
            raise _json_error("AccessDeniedException", message)
        raise _QueryAccessDenied(message)
    return None


def _caller(request) -> Caller:
    try:
        return caller_for_key(request._access_key)
    except PrincipalGone:
        return Caller(request._access_key.arn, request._access_key.arn, request.account_id, [])


def authorizer(response, iam_request_cls) -> Callable[[str, str], bool]:
    """`may(action, resource)` for the (already authenticated) request's caller: for requests
    that AWS authorizes per item, e.g. S3 DeleteObjects per key."""
    request = _build_request(response, iam_request_cls)
    caller = _caller(request)

    def may(action: str, resource: str) -> bool:
        service, _, name = action.partition(":")
        authz = Request(
            response, service, name, request.account_id, request._region, caller, resource
        )
        return all(evaluate(caller, check).allowed for check in checks_for(authz))

    return may


class _QueryAccessDenied(AccessDeniedError):
    """403 AccessDenied (XML, Query protocol services) with AWS's full message."""

    def __init__(self, message: str):
        _RESTError.__init__(self, "AccessDenied", message)


def _from_resource(decision, check: Check) -> bool:
    return any(source is check.resource_policy for source, _ in decision.matched)


def _json_protocol(response) -> bool:
    """JSON services (X-Amz-Target) and sagemaker-runtime (REST-JSON) answer errors in JSON."""
    return bool(response.headers.get("X-Amz-Target")) or _runtime(response, iam_request_cls=None)


def _runtime(response, iam_request_cls) -> bool:
    return iam_request_cls is not S3IAMRequest and response.path.startswith("/endpoints/")


def _json_error(code: str, message: str):
    error = JsonRESTError(code, message)
    error.code = 400
    return error


def _build_request(response, iam_request_cls):
    parsed = urlparse(response.uri)
    path = response.raw_path + (f"?{parsed.query}" if parsed.query else "")
    request = iam_request_cls(
        account_id=response.current_account,
        method=response.method,
        path=path,
        data=response.data,
        body=response.raw_body,
        headers=response.headers,
        action=response._get_action(),
    )
    if not response.raw_body and _runtime(response, iam_request_cls):
        # moto signs `body or data`: an empty InvokeEndpoint body made it sign the parsed
        # form instead, so a correctly signed empty request failed SignatureDoesNotMatch.
        request._data = b""
    return request
