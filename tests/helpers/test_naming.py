"""The naming contract: tenant id rule and every derived name's limits."""

from __future__ import annotations

import random
import re
import string
from datetime import datetime

import pytest

from helpers import naming

VALID = ["abc", "acme", "acme-2", "a1b", "z" * 24, "a-b-c-d", "tenant-0042"]
INVALID = {
    "ab": "3-24 characters",
    "a" * 25: "3-24 characters",
    "Acme": "lowercase letters",
    "ac_me": "lowercase letters",
    "ac.me": "lowercase letters",
    "1acme": "start with a lowercase letter",
    "-acme": "start with a lowercase letter",
    "acme-": "end with a letter or digit",
    "ac--me": "consecutive hyphens",
    "": "3-24 characters",
}


@pytest.mark.parametrize("tenant_id", VALID)
def test_valid_ids_pass(tenant_id):
    assert naming.validate_tenant_id(tenant_id) == tenant_id


@pytest.mark.parametrize(("tenant_id", "reason"), INVALID.items())
def test_invalid_ids_name_the_broken_rule(tenant_id, reason):
    with pytest.raises(naming.InvalidTenantId, match=reason):
        naming.validate_tenant_id(tenant_id)


def test_non_string_is_invalid():
    with pytest.raises(naming.InvalidTenantId, match="must be a string"):
        naming.validate_tenant_id(42)  # type: ignore[arg-type]


def test_rule_agrees_with_the_contract_regex():
    pattern = re.compile(naming.TENANT_ID_PATTERN)
    rng = random.Random(7)
    alphabet = string.ascii_lowercase[:6] + "019-_A"
    for _ in range(5000):
        candidate = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 27)))
        assert (naming.tenant_id_problem(candidate) is None) == bool(pattern.match(candidate))


def test_names_follow_the_contract():
    assert naming.tenant_bucket("acme", "123456789012", "us-east-1") == (
        "mt-acme-123456789012-us-east-1"
    )
    assert naming.tenant_role_name("acme") == "mt-tenant-acme"
    assert naming.model_package_group("acme") == "mt-acme"
    assert naming.endpoint_name("acme") == "mt-acme"
    when = datetime(2026, 11, 27, 3, 4, 5)
    assert naming.deployment_name("acme", 3, when) == "mt-acme-v3-20261127030405"
    assert naming.state_machine_name("create") == "sm-multitenant-create-tenant-statemachine"


def test_longest_names_fit_aws_limits():
    tenant, prefix = "a" * 24, "abcdef"
    bucket = naming.tenant_bucket(tenant, "123456789012", "ap-southeast-3", prefix)
    assert len(bucket) <= 63 and re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", bucket)
    assert len(naming.tenant_role_name(tenant, prefix)) <= 64
    name = naming.deployment_name(tenant, 99999, datetime(2026, 1, 1), prefix)
    assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", name)


def test_invalid_prefix_and_version_are_refused():
    with pytest.raises(ValueError, match="prefix"):
        naming.tenant_role_name("acme", prefix="Bad-Prefix")
    with pytest.raises(ValueError, match="version"):
        naming.deployment_name("acme", 0, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="unknown state machine"):
        naming.state_machine_name("update")


def test_deployment_names_of_lookalike_tenants_are_told_apart():
    when = datetime(2026, 1, 1)
    mine = naming.deployment_name("acme", 1, when)
    theirs = naming.deployment_name("acme-2", 1, when)
    assert naming.is_deployment_of(mine, "acme")
    assert not naming.is_deployment_of(theirs, "acme")
    assert naming.is_deployment_of(theirs, "acme-2")
    assert not naming.is_deployment_of("mt-acme", "acme")
