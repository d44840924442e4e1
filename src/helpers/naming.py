"""Names of every platform and tenant resource: the Python mirror of the naming contract.

Tenant id rule: 3-24 characters, lowercase letters, digits and single hyphens, starting with a
letter and ending with a letter or digit. With the default prefix `mt` (and any prefix of at
most 6 lowercase letters/digits, the stack's `ResourcePrefix` constraint) every derived name
fits the strictest rule it must meet:

- S3 bucket `{prefix}-{tenant}-{account}-{region}`: at most 63 chars, lowercase, no `--`
  issues with S3 (S3 forbids `..`, `.-`, leading `xn--` and trailing `-s3alias`: impossible here);
- IAM role `{prefix}-tenant-{tenant}`: at most 64 chars;
- SageMaker names (`{prefix}-{tenant}`, `{prefix}-{tenant}-v{n}-{YYYYmmddHHMMSS}`): at most 63
  chars of `[a-zA-Z0-9-]`, no leading or trailing hyphen.
"""

from __future__ import annotations

import re
from datetime import datetime

TENANT_ID_PATTERN = r"^[a-z](?!.*--)[a-z0-9-]{1,22}[a-z0-9]$"
PREFIX_PATTERN = r"^[a-z][a-z0-9]{0,5}$"
DEFAULT_PREFIX = "mt"
DEFAULT_TABLE = "allTenants"
TENANT_TAG = "tenant-id"
TIERS = ("dedicated", "pooled")  # tenant-tier: the tenant's own endpoint, or the shared one

STACK_NAME = "sm-multitenant"
PIPELINE_NAME = "sm-multitenant-model-build-pipeline"
STATE_MACHINES = {
    "create": f"{STACK_NAME}-create-tenant-statemachine",
    "deploy": f"{STACK_NAME}-deploy-tenant-statemachine",
    "delete": f"{STACK_NAME}-delete-tenant-statemachine",
}

RAW_DATA_KEY = "data/raw/churn.csv"
PIPELINE_OUTPUT_PREFIX = "pipeline"
PIPELINE_CODE_PREFIX = f"{PIPELINE_NAME}/code"

_TENANT_RE = re.compile(TENANT_ID_PATTERN)
_PREFIX_RE = re.compile(PREFIX_PATTERN)


class InvalidTenantId(ValueError):
    """A tenant id that breaks the naming rule; the message says which part."""


def tenant_id_problem(tenant_id: object) -> str | None:
    """Why `tenant_id` is not a valid tenant id, or None when it is."""
    if not isinstance(tenant_id, str):
        return f"must be a string, got {type(tenant_id).__name__}"
    if not 3 <= len(tenant_id) <= 24:
        return f"must be 3-24 characters long, got {len(tenant_id)}"
    bad = sorted(set(re.sub(r"[a-z0-9-]", "", tenant_id)))
    if bad:
        return "may contain only lowercase letters, digits and hyphens; found " + ", ".join(
            repr(c) for c in bad
        )
    if not tenant_id[0].isalpha():
        return "must start with a lowercase letter"
    if tenant_id.endswith("-"):
        return "must end with a letter or digit"
    if "--" in tenant_id:
        return "must not contain consecutive hyphens"
    if not _TENANT_RE.match(tenant_id):  # pragma: no cover - the checks above cover the regex
        return f"must match {TENANT_ID_PATTERN}"
    return None


def validate_tenant_id(tenant_id: str) -> str:
    """Return `tenant_id` if valid, else raise InvalidTenantId naming the broken rule."""
    problem = tenant_id_problem(tenant_id)
    if problem:
        raise InvalidTenantId(f"invalid tenant id {tenant_id!r}: {problem}")
    return tenant_id


def validate_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.match(prefix):
        raise ValueError(f"invalid resource prefix {prefix!r}: must match {PREFIX_PATTERN}")
    return prefix


def tenant_bucket(tenant_id: str, account: str, region: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The tenant's S3 bucket; account and region make it globally unique."""
    return f"{validate_prefix(prefix)}-{validate_tenant_id(tenant_id)}-{account}-{region}"


def tenant_role_name(tenant_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The tenant's IAM role (SageMaker jobs and endpoints of this tenant run under it)."""
    return f"{validate_prefix(prefix)}-tenant-{validate_tenant_id(tenant_id)}"


def model_package_group(tenant_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The tenant's model package group (its model registry)."""
    return f"{validate_prefix(prefix)}-{validate_tenant_id(tenant_id)}"


def endpoint_name(tenant_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The tenant's one serving endpoint."""
    return f"{validate_prefix(prefix)}-{validate_tenant_id(tenant_id)}"


def pool_endpoint_name(prefix: str = DEFAULT_PREFIX) -> str:
    """The pooled tier's shared multi-model endpoint ("--" never occurs in a tenant id)."""
    return f"{validate_prefix(prefix)}--pool"


def pool_bucket(account: str, region: str, prefix: str = DEFAULT_PREFIX) -> str:
    """Where pooled tenants' artifacts live, each under its own `{tenant}/` prefix."""
    return f"{pool_endpoint_name(prefix)}-{account}-{region}"


def tier_problem(tier: object) -> str | None:
    """None if `tier` is a tier, else what is wrong."""
    return None if tier in TIERS else f"must be one of {', '.join(TIERS)}, got {tier!r}"


def deployment_name(
    tenant_id: str, version: int, when: datetime, prefix: str = DEFAULT_PREFIX
) -> str:
    """Model / endpoint-config name of one deployment of model version `version` at `when`."""
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    return (
        f"{validate_prefix(prefix)}-{validate_tenant_id(tenant_id)}-v{version}-{when:%Y%m%d%H%M%S}"
    )


_DEPLOYMENT_SUFFIX = re.compile(r"^-v[0-9]+-[0-9]{14}$")


def is_deployment_of(name: str, tenant_id: str, prefix: str = DEFAULT_PREFIX) -> bool:
    """Whether a model / endpoint-config `name` is one of `tenant_id`'s deployment names.

    A plain prefix test is not enough: `mt-acme-...` also starts tenant `acme-2`'s names.
    """
    head = f"{prefix}-{tenant_id}"
    return name.startswith(head) and bool(_DEPLOYMENT_SUFFIX.match(name[len(head) :]))


def partition(region: str) -> str:
    """The AWS partition of `region` ("aws", "aws-cn" or "aws-us-gov")."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def arn(service: str, region: str, account: str, resource: str) -> str:
    """An ARN in `region`'s partition; `region` is "" for global services such as IAM."""
    scope = region if service != "iam" else ""
    return f"arn:{partition(region or 'us-east-1')}:{service}:{scope}:{account}:{resource}"


def state_machine_arn(kind: str, region: str, account: str) -> str:
    """ARN of the platform's `kind` ("create", "deploy", "delete") state machine."""
    return arn("states", region, account, f"stateMachine:{state_machine_name(kind)}")


def code_bucket(account: str, region: str) -> str:
    """The platform bucket holding the pipeline's job code (the SDK's default bucket name)."""
    return f"sagemaker-{region}-{account}"


def raw_data_url(bucket: str) -> str:
    """Where a tenant's uploaded churn data lives in its bucket."""
    return f"s3://{bucket}/{RAW_DATA_KEY}"


def state_machine_name(kind: str) -> str:
    """`kind` is "create", "deploy" or "delete"."""
    try:
        return STATE_MACHINES[kind]
    except KeyError:
        known = sorted(STATE_MACHINES)
        raise ValueError(f"unknown state machine {kind!r}; one of {known}") from None
