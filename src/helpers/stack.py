"""Deploy, update and delete the platform stack (`cloudformation/stack.yaml`).

The template names each state machine's definition file in `DefinitionS3Location`, the form
`aws cloudformation package` accepts. `render_template` inlines each file as
`DefinitionString` instead (no artifact bucket needed); `DefinitionSubstitutions` stay as they
are, so CloudFormation fills in table name, prefix, account, region and role ARNs.
A rendered template above CloudFormation's 51,200-byte TemplateBody limit goes through S3
(`TemplateURL`), in an artifacts bucket that `delete_stack` removes again.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from helpers.naming import DEFAULT_PREFIX, DEFAULT_TABLE, STACK_NAME, validate_prefix
from helpers.session import AwsSession
from helpers.storage import ensure_bucket

CLOUDFORMATION_DIR = Path(__file__).resolve().parents[2] / "cloudformation"
TEMPLATE = CLOUDFORMATION_DIR / "stack.yaml"
_DEFINITION_FILE = re.compile(
    r"^(?P<indent>\s*)DefinitionS3Location:\s*(?P<path>\S+\.json)\s*$", re.MULTILINE
)
_TERMINAL_OK = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
TEMPLATE_BODY_LIMIT = 51_200


class StackError(RuntimeError):
    """The stack could not be deployed or deleted; the message carries CloudFormation's reasons."""


def render_template(template: Path = TEMPLATE) -> str:
    """The template with each local definition file inlined as a minified DefinitionString."""
    text = template.read_text()

    def inline(match: re.Match) -> str:
        path = (template.parent / match["path"]).resolve()
        definition = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
        # A JSON string literal is also a valid YAML double-quoted scalar.
        return f"{match['indent']}DefinitionString: {json.dumps(definition)}"

    return _DEFINITION_FILE.sub(inline, text)


def admin_principal(session: AwsSession) -> str:
    """The IAM ARN of the calling identity, as it appears in `aws:PrincipalArn`.

    An assumed-role ARN omits the role's path (SageMaker Studio's `role/service-role/...`,
    IAM Identity Center's `role/aws-reserved/sso.amazonaws.com/...`), and a trust policy must
    name the real role: iam:GetRole gives its full ARN. Without that permission, the ARN
    without a path is the best guess.
    """
    arn = session.client("sts").get_caller_identity()["Arn"]
    match = re.match(r"^arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/", arn)
    if not match:
        return arn
    partition, account, role = match.groups()
    try:
        return session.client("iam").get_role(RoleName=role)["Role"]["Arn"]
    except ClientError:
        return f"arn:{partition}:iam::{account}:role/{role}"


def deploy_stack(
    session: AwsSession,
    table_name: str = DEFAULT_TABLE,
    prefix: str = DEFAULT_PREFIX,
    stack_name: str = STACK_NAME,
    admin_arns: list[str] | None = None,
    timeout: float = 900,
) -> dict[str, str]:
    """Create the stack, or update it if it exists; wait; return its outputs.

    An update with no changes is not an error. `admin_arns` default to the calling identity.
    """
    validate_prefix(prefix)
    cfn = session.client("cloudformation")
    admins = admin_arns if admin_arns is not None else [admin_principal(session)]
    params = [
        {"ParameterKey": "TableName", "ParameterValue": table_name},
        {"ParameterKey": "ResourcePrefix", "ParameterValue": prefix},
        {"ParameterKey": "AdminPrincipalArns", "ParameterValue": ",".join(admins)},
    ]
    request = dict(
        StackName=stack_name,
        Parameters=params,
        Capabilities=["CAPABILITY_NAMED_IAM"],
        **_template_source(session, render_template(), stack_name),
    )
    existing = _stack_status(cfn, stack_name)
    if existing == "ROLLBACK_COMPLETE":  # a failed first create can only be deleted
        delete_stack(session, stack_name, timeout=timeout)
        existing = None
    if existing is None:
        cfn.create_stack(
            **request,
            Tags=[{"Key": "app", "Value": stack_name}],
            ClientRequestToken=f"create-{uuid.uuid4()}",  # boto3's retries reuse it: one stack
        )
        waiter = "stack_create_complete"
    else:
        try:
            cfn.update_stack(**request)
        except ClientError as exc:
            if "No updates are to be performed" not in str(exc):
                raise
            return stack_outputs(session, stack_name)
        waiter = "stack_update_complete"
    _wait(cfn, waiter, stack_name, timeout)
    return stack_outputs(session, stack_name)


def stack_outputs(session: AwsSession, stack_name: str = STACK_NAME) -> dict[str, str]:
    """The stack's outputs as {key: value}; raise StackError if it does not exist."""
    cfn = session.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise StackError(
            f"stack {stack_name!r} not found; deploy it first "
            "(notebooks/00_setup.ipynb or helpers.stack.deploy_stack)"
        ) from exc
    if stack["StackStatus"] not in _TERMINAL_OK:
        raise StackError(f"stack {stack_name!r} is {stack['StackStatus']}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def delete_stack(
    session: AwsSession, stack_name: str = STACK_NAME, timeout: float = 900, force: bool = False
) -> bool:
    """Delete the stack (and its template artifacts bucket) and wait; False if there was none.

    Refuses while the tenant table still lists tenants (their buckets, roles and registries
    would be orphaned): delete them first, or pass `force=True`.
    """
    cfn = session.client("cloudformation")
    existed = _stack_status(cfn, stack_name) is not None
    if existed and not force:
        remaining = _remaining_tenants(session, stack_name)
        if remaining:
            raise StackError(
                f"stack {stack_name!r} still has {len(remaining)} tenant(s) "
                f"({', '.join(remaining[:10])}{', ...' if len(remaining) > 10 else ''}): "
                "delete them first (notebooks/99_cleanup.ipynb) or pass force=True"
            )
    if existed:
        _delete_pool(session, stack_name, empty_bucket=force)
        cfn.delete_stack(StackName=stack_name)
        _wait(cfn, "stack_delete_complete", stack_name, timeout)
    _delete_artifacts_bucket(session, stack_name)
    return existed


def _delete_pool(session: AwsSession, stack_name: str, empty_bucket: bool) -> None:
    """The pooled tier's shared endpoint, config and model (made by the first pooled deploy,
    not by the stack); with `empty_bucket`, whatever pooled artifacts remain too."""
    try:
        outputs = stack_outputs(session, stack_name)
    except StackError:
        return
    name = outputs.get("PoolEndpointName")
    if not name:
        return
    sm = session.client("sagemaker")
    for delete, kwargs in (
        (sm.delete_endpoint, {"EndpointName": name}),
        (sm.delete_endpoint_config, {"EndpointConfigName": name}),
        (sm.delete_model, {"ModelName": name}),
    ):
        try:
            delete(**kwargs)
        except ClientError:  # never created, or gone already
            pass
    bucket = outputs.get("PoolBucketName")
    if empty_bucket and bucket:
        _empty_bucket(session.client("s3"), bucket)


def _empty_bucket(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def _remaining_tenants(session: AwsSession, stack_name: str) -> list[str]:
    try:
        table = stack_outputs(session, stack_name)["TenantTableName"]
    except (StackError, KeyError):
        return []
    names: list[str] = []
    pages = (
        session.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=table,
            ProjectionExpression="#n",
            ExpressionAttributeNames={"#n": "tenant-name"},
        )
    )
    for page in pages:
        names += [item["tenant-name"]["S"] for item in page["Items"]]
    return sorted(names)


def artifacts_bucket(session: AwsSession, stack_name: str = STACK_NAME) -> str:
    """Where a template too large for TemplateBody is uploaded."""
    return f"{stack_name}-artifacts-{session.account_id}-{session.region}"


def _template_source(session: AwsSession, body: str, stack_name: str) -> dict[str, str]:
    data = body.encode()
    if len(data) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    s3 = session.client("s3")
    bucket = artifacts_bucket(session, stack_name)
    if ensure_bucket(session, bucket):
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
    key = f"templates/{stack_name}-{hashlib.sha256(data).hexdigest()[:16]}.yaml"
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/x-yaml")
    return {"TemplateURL": f"https://{bucket}.s3.{session.region}.amazonaws.com/{key}"}


def _delete_artifacts_bucket(session: AwsSession, stack_name: str) -> None:
    s3 = session.client("s3")
    bucket = artifacts_bucket(session, stack_name)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        return
    _empty_bucket(s3, bucket)
    s3.delete_bucket(Bucket=bucket)


def _stack_status(cfn: Any, stack_name: str) -> str | None:
    try:
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    status = stacks[0]["StackStatus"] if stacks else None
    return None if status == "DELETE_COMPLETE" else status


def _settle(cfn: Any, stack_name: str, within: float = 5.0) -> None:
    """Poll briskly (50 ms, growing) for up to `within` seconds while the stack is in progress.

    localaws settles a stack in well under a second, which the waiter's fixed delay would
    round up to seconds; on AWS this costs a handful of extra DescribeStacks calls.
    """
    delay, started = 0.05, time.monotonic()
    while time.monotonic() - started < within:
        status = _stack_status(cfn, stack_name)
        if status is None or not status.endswith("_IN_PROGRESS"):
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _wait(cfn: Any, waiter_name: str, stack_name: str, timeout: float, delay: float = 2) -> None:
    """Wait with the boto3 waiter (which names failures) once the brisk phase is over."""
    started = time.monotonic()
    _settle(cfn, stack_name)
    try:
        cfn.get_waiter(waiter_name).wait(
            StackName=stack_name,
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, int(timeout // delay))},
        )
    except WaiterError as exc:
        reasons = _failure_reasons(cfn, stack_name)
        raise StackError(
            f"stack {stack_name!r}: {waiter_name} failed after "
            f"{time.monotonic() - started:.0f}s: {exc}; {reasons}"
        ) from exc


def _failure_reasons(cfn: Any, stack_name: str) -> str:
    try:
        events = cfn.describe_stack_events(StackName=stack_name)["StackEvents"]
    except ClientError:
        return "no stack events"
    failed = [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason', '')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    ]
    return "; ".join(failed[:5]) or "no failed resource events"
