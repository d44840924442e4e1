"""IAM policy `Condition` blocks and policy variables, evaluated against a request context.

Follows the IAM User Guide, "IAM JSON policy elements: Condition operators" and "Policy
variables": operators String*, Arn*, Numeric*, Date*, Bool, Null, IpAddress/NotIpAddress,
the `...IfExists` suffix and the `ForAllValues:` / `ForAnyValue:` set prefixes. Condition keys
are case-insensitive. Several operators, or several keys under one operator, must all hold;
several values for one key match if any does. A key missing from the context makes a
condition false, except for the negated operators (`StringNotEquals`, `ArnNotLike`, ...),
`...IfExists`, `Null` and `ForAllValues:`, which the documentation makes true then.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

_VARIABLE = re.compile(r"\$\{([^}]+)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


class Context(Mapping[str, Any]):
    """Condition keys of one request (case-insensitive); values are str or lists of str.

    A value may be a zero-argument callable, computed on first use. A key `prefix/*` whose
    value is (or computes) a dict answers every `prefix/<name>` (resource tags, say).
    """

    def __init__(self, values: Mapping[str, Any] | None = None):
        self._values: dict[str, Any] = {}
        for key, value in (values or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key.lower()] = value

    def __getitem__(self, key: str) -> Any:
        lowered = key.lower()
        if lowered not in self._values:
            head, slash, tail = lowered.partition("/")
            family = self._get(f"{head}/*") if slash else None
            if not isinstance(family, dict):
                raise KeyError(key)
            value = {k.lower(): v for k, v in family.items()}.get(tail)
        else:
            value = self._get(lowered)
        if value is None:
            raise KeyError(key)
        return value

    def _get(self, lowered: str) -> Any:
        value = self._values.get(lowered)
        if callable(value):
            value = self._values[lowered] = value()
        return value

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        try:
            self[key]  # type: ignore[index]
        except KeyError:
            return False
        return True


def substitute(text: str, context: Mapping[str, Any]) -> str | None:
    """`text` with `${key}` policy variables replaced; None if a variable has no value."""
    if "${" not in text:
        return text
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        key = match.group(1)
        if key in _SPECIAL:
            return _SPECIAL[key]
        key, _, default = key.partition(", ")
        found = context.get(key)
        if isinstance(found, list):
            found = found[0] if len(found) == 1 else None
        if found is None and default:
            found = default.strip("'")
        if found is None:
            missing = True
            return ""
        return str(found)

    result = _VARIABLE.sub(value, text)
    return None if missing else result


@functools.lru_cache(maxsize=4096)
def wildcard(pattern: str, case: bool = True) -> re.Pattern[str]:
    """IAM wildcards: `*` any run of characters (across `:` and `/`), `?` one character."""
    body = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.compile(body, 0 if case else re.IGNORECASE)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> datetime.datetime | None:
    try:
        if isinstance(value, int | float) or str(value).isdigit():
            return datetime.datetime.fromtimestamp(float(value), datetime.UTC)
        parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _ip(actual: Any, expected: Any) -> bool:
    try:
        return ipaddress.ip_address(str(actual)) in ipaddress.ip_network(str(expected), False)
    except ValueError:
        return False


def _compare(kind: str, actual: Any, expected: Any) -> bool:
    """One context value against one policy value, for the operator family `kind`."""
    if kind in ("StringEquals", "ArnEquals"):
        return str(actual) == str(expected)
    if kind == "StringEqualsIgnoreCase":
        return str(actual).lower() == str(expected).lower()
    if kind in ("StringLike", "ArnLike"):
        return bool(wildcard(str(expected)).fullmatch(str(actual)))
    if kind == "Bool":
        return str(actual).lower() == str(expected).lower()
    if kind == "BinaryEquals":
        return str(actual) == str(expected)
    if kind == "IpAddress":
        return _ip(actual, expected)
    if kind.startswith("Numeric"):
        a, e = _number(actual), _number(expected)
        return a is not None and e is not None and _ORDER[kind[len("Numeric") :]](a, e)
    if kind.startswith("Date"):
        a, e = _date(actual), _date(expected)
        return a is not None and e is not None and _ORDER[kind[len("Date") :]](a, e)
    raise KeyError(kind)


_ORDER = {
    "Equals": lambda a, e: a == e,
    "LessThan": lambda a, e: a < e,
    "LessThanEquals": lambda a, e: a <= e,
    "GreaterThan": lambda a, e: a > e,
    "GreaterThanEquals": lambda a, e: a >= e,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals",
    "NotIpAddress": "IpAddress",
}


def _values(expected: Any, context: Mapping[str, Any]) -> list[str]:
    found = []
    for value in _as_list(expected):
        text = substitute(str(value), context) if isinstance(value, str) else str(value)
        if text is not None:
            found.append(text)
    return found


def _holds(operator: str, key: str, expected: Any, context: Context) -> bool:
    """One `"Operator": {"key": values}` entry."""
    qualifier, _, op = operator.rpartition(":")
    if_exists = op.endswith("IfExists")
    op = op[: -len("IfExists")] if if_exists else op
    present = key in context
    if op == "Null":
        wanted = str(_as_list(expected)[0]).lower() == "true"
        return wanted != present
    if not present:
        if qualifier.lower() == "forallvalues":
            return True
        return if_exists or op in _NEGATED
    actual = _as_list(context[key])
    values = _values(expected, context)
    negated = op in _NEGATED
    kind = _NEGATED.get(op, op)

    def any_match(item: Any) -> bool:
        return any(_compare(kind, item, value) for value in values)

    if qualifier.lower() == "forallvalues":
        result = all(any_match(item) for item in actual)
    elif qualifier.lower() == "foranyvalue":
        result = any(any_match(item) for item in actual)
    else:
        result = any(any_match(item) for item in actual)
    return not result if negated else result


def condition_holds(condition: Mapping[str, Any], context: Context) -> bool:
    """Whether a statement's whole `Condition` block holds in `context`."""
    for operator, entries in condition.items():
        for key, expected in entries.items():
            if not _holds(operator, key, expected, context):
                return False
    return True


def condition_keys(condition: Mapping[str, Any]) -> Iterable[str]:
    """The context keys a `Condition` block reads."""
    for entries in condition.values():
        yield from entries
