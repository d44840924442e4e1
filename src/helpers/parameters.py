"""Notebook parameters checked before anything runs: one clear line naming the bad one.

Every notebook calls `check_parameters(...)` with its parameters right after the parameters
cell, so `papermill ... -p tenant_id Bad` stops at once with
`InvalidParameter: tenant_id: invalid tenant id 'Bad': may contain only ...`, before any AWS call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from helpers.naming import tenant_id_problem, tier_problem
from helpers.session import BACKENDS

# DynamoDB table names: 3-255 characters of [a-zA-Z0-9_.-] (DynamoDB API reference, CreateTable).
_TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_MODEL_PACKAGE_ARN = re.compile(
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[a-zA-Z0-9-]{1,63}/\d+$"
)


class InvalidParameter(ValueError):
    """A notebook parameter that breaks its rule; the message names it and the rule."""


def _backend(value: Any) -> str | None:
    return None if value in BACKENDS else f"must be one of {list(BACKENDS)}, got {value!r}"


def _region(value: Any) -> str | None:
    ok = isinstance(value, str) and _REGION.match(value)
    return None if ok else f"must be an AWS region such as 'us-east-1', got {value!r}"


def _table_name(value: Any) -> str | None:
    ok = isinstance(value, str) and _TABLE_NAME.match(value)
    return None if ok else f"must be 3-255 characters of letters, digits, _ . -, got {value!r}"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be True or False, got {value!r}"


def _model_package_arn(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and _MODEL_PACKAGE_ARN.match(value)):
        return None
    return f"must be None or a model package version ARN, got {value!r}"


def _fraction(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1
    return None if ok else f"must be a number in (0, 1], got {value!r}"


def _input_path(value: Any) -> str | None:
    if value is None or isinstance(value, str) and value.strip():
        return None
    return f"must be None or the path of a CSV or JSON Lines file, got {value!r}"


def _data_path(value: Any) -> str | None:
    if value is None or isinstance(value, str) and value.strip():
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return None
    return f"must be None, a path, or a list of paths, got {value!r}"


RULES: dict[str, Callable[[Any], str | None]] = {
    "tenant_id": tenant_id_problem,
    "backend": _backend,
    "region": _region,
    "table_name": _table_name,
    "approve_latest": _flag,
    "delete_stack": _flag,
    "model_package_arn": _model_package_arn,
    "accuracy_threshold": _fraction,
    "data_path": _data_path,
    "input_path": _input_path,
    "tier": tier_problem,
}


def check_parameters(**values: Any) -> dict[str, Any]:
    """Return `values` if each follows its rule, else raise InvalidParameter for the first."""
    for name, value in values.items():
        rule = RULES.get(name)
        if rule is None:
            raise InvalidParameter(f"{name}: no rule for this parameter (known: {sorted(RULES)})")
        problem = rule(value)
        if problem:
            if name == "tenant_id":
                problem = f"invalid tenant id {value!r}: {problem}"
            raise InvalidParameter(f"{name}: {problem}")
    return values
