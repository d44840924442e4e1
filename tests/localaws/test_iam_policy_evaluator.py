"""The IAM evaluator in-process: condition operators, policy variables, combining policies."""

from __future__ import annotations

import json

import pytest

from localaws.services.iam.conditions import Context, condition_holds, substitute
from localaws.services.iam.policy import Caller, Check, PolicySource, evaluate

ROLE = "arn:aws:iam::123456789012:role/mt-tenant-acme"
SESSION = "arn:aws:sts::123456789012:assumed-role/mt-tenant-acme/s"


def _policy(*statements: dict, kind: str = "role") -> PolicySource:
    return PolicySource("p", kind, json.dumps({"Version": "2012-10-17", "Statement": statements}))


def _caller(*statements: dict, tags: dict | None = None) -> Caller:
    return Caller(
        SESSION, ROLE, "123456789012", [_policy(*statements)] if statements else [], tags or {}
    )


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringEquals": {"k": "a"}}, {"k": "a"}, True),
        ({"StringEquals": {"K": "a"}}, {"k": "a"}, True),  # keys are case-insensitive
        ({"StringEquals": {"k": "a"}}, {}, False),
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # negated operators: true when absent
        ({"StringLike": {"k": ["x*", "a?c"]}}, {"k": "abc"}, True),
        ({"StringNotLike": {"k": ["x*", "a?c"]}}, {"k": "abc"}, False),
        ({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {}, False),
        ({"Bool": {"aws:SecureTransport": "false"}}, {"aws:SecureTransport": "false"}, True),
        ({"NumericLessThan": {"n": "10"}}, {"n": "9"}, True),
        ({"NumericGreaterThanEquals": {"n": "10"}}, {"n": "9"}, False),
        ({"DateGreaterThan": {"d": "2020-01-01T00:00:00Z"}}, {"d": "2026-11-30T00:00:00Z"}, True),
        ({"ArnLike": {"a": "arn:aws:iam::*:role/mt-*"}}, {"a": ROLE}, True),
        ({"IpAddress": {"ip": "10.0.0.0/8"}}, {"ip": "10.1.2.3"}, True),
        ({"ForAllValues:StringEquals": {"l": ["a", "b"]}}, {"l": ["a", "b"]}, True),
        ({"ForAllValues:StringEquals": {"l": ["a"]}}, {"l": ["a", "c"]}, False),
        ({"ForAllValues:StringEquals": {"l": ["a"]}}, {}, True),  # as AWS documents
        ({"ForAnyValue:StringEquals": {"l": ["a"]}}, {"l": ["c", "a"]}, True),
        ({"ForAnyValue:StringEquals": {"l": ["a"]}}, {}, False),
        ({"StringEquals": {"k": "a"}, "StringLike": {"j": "b*"}}, {"k": "a", "j": "c"}, False),
        (
            {"StringEquals": {"k": "${aws:PrincipalTag/t}"}},
            {"k": "a", "aws:PrincipalTag/t": "a"},
            True,
        ),
        ({"StringEquals": {"k": "${aws:PrincipalTag/t}"}}, {"k": "a"}, False),
    ],
)
def test_condition_operators(condition, context, holds):
    assert condition_holds(condition, Context(context)) is holds


def test_policy_variables_and_lazy_tag_families():
    context = Context(
        {"aws:PrincipalTag/tenant-id": "acme", "aws:ResourceTag/*": lambda: {"Tenant-ID": "acme"}}
    )
    assert substitute("mt-${aws:PrincipalTag/tenant-id}-*", context) == "mt-acme-*"
    assert substitute("${aws:PrincipalTag/missing}", context) is None
    assert substitute("${aws:PrincipalTag/missing, 'none'}", context) == "none"
    assert substitute("a${*}b${?}c${$}", context) == "a*b?c$"
    assert context["aws:resourcetag/tenant-id"] == "acme"
    assert "aws:ResourceTag/other" not in context


def test_explicit_deny_wins_and_implicit_deny_is_the_default():
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    deny = {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "arn:aws:s3:::b/*"}
    caller = _caller(allow, deny)
    assert evaluate(caller, Check("s3:GetObject", "arn:aws:s3:::b/k")).decision == "allowed"
    assert evaluate(caller, Check("s3:deleteobject", "arn:aws:s3:::b/k")).decision == "explicitDeny"
    assert evaluate(caller, Check("dynamodb:GetItem", "*")).decision == "implicitDeny"


def test_not_action_and_not_resource():
    caller = _caller(
        {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}
    )
    assert evaluate(caller, Check("s3:GetObject", "arn:aws:s3:::open/k")).allowed
    assert not evaluate(caller, Check("s3:GetObject", "arn:aws:s3:::secret/k")).allowed
    assert not evaluate(caller, Check("iam:CreateRole", "*")).allowed


def test_resource_policy_grants_named_principals_and_delegates_for_the_account():
    get = Check(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        resource_policy=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "s3:GetObject",
                "Resource": "*",
            },
            kind="resource",
        ),
    )
    assert evaluate(_caller(), get).allowed  # the role named directly: no identity policy needed
    account = Check(
        "s3:GetObject",
        "arn:aws:s3:::b/k",
        resource_policy=_policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "s3:GetObject",
                "Resource": "*",
            },
            kind="resource",
        ),
    )
    assert not evaluate(_caller(), account).allowed  # the account named: identity must allow
    assert evaluate(
        _caller({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}), account
    ).allowed


def test_trust_policy_must_allow_even_when_identity_allows():
    everything = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    trust = _policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        },
        kind="resource",
    )
    check = Check("sts:AssumeRole", ROLE, resource_policy=trust, trust=True)
    assert evaluate(_caller(everything), check).decision == "implicitDeny"


def test_missing_context_keys_are_reported():
    caller = _caller(
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["acme"]}},
        },
        {
            "Effect": "Allow",
            "Action": "dynamodb:GetItem",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/tenant-id": "acme"}},
        },
    )
    decision = evaluate(
        caller, Check("dynamodb:GetItem", "*", {"dynamodb:LeadingKeys": ["globex"]})
    )
    assert decision.decision == "implicitDeny"
    assert decision.missing == {"aws:ResourceTag/tenant-id"}
