"""The IAM policy statement evaluator shared by S3 enforcement and SimulatePrincipalPolicy.

Statements match by Action/NotAction (case-insensitive, wildcards) and Resource/NotResource
(case-sensitive, wildcards); principals by `*`, the exact user/role ARN (an assumed-role
session matches its role's ARN), the account id or `arn:aws:iam::<acct>:root`. Conditions are
not evaluated here: callers skip statements that carry one.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any


def principal_ids(arn: str, account: str) -> set[str]:
    ids = {arn, account, f"arn:aws:iam::{account}:root"}
    match = re.match(r"arn:aws:sts::(\d+):assumed-role/([^/]+)/", arn)
    if match:
        ids.add(f"arn:aws:iam::{match.group(1)}:role/{match.group(2)}")
    return ids


def matches_principal(statement: dict, principals: set[str]) -> bool:
    expected = statement.get("Principal")
    if expected is None:
        return False
    if expected == "*":
        return True
    values = expected.get("AWS", []) if isinstance(expected, dict) else []
    values = [values] if isinstance(values, str) else values
    return any(v == "*" or v in principals for v in values)


def matches(statement: dict, key: str, not_key: str, value: str, case: bool) -> bool:
    def hit(patterns: Any) -> bool:
        patterns = [patterns] if isinstance(patterns, str) else patterns
        if case:
            return any(fnmatch.fnmatchcase(value, p) for p in patterns)
        return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in patterns)

    if key in statement:
        return hit(statement[key])
    if not_key in statement:
        return not hit(statement[not_key])
    return False
