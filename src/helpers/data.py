"""Tenant data: a per-tenant synthetic churn generator, CSV validation and upload.

The schema is the classic SageMaker customer-churn data set. Each tenant's customers churn for
different reasons (its own seeded weights over the features), so a model trained on one tenant
does worse on another's data.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from helpers.naming import RAW_DATA_KEY, validate_tenant_id

COLUMNS = [
    "State",
    "Account Length",
    "Area Code",
    "Phone",
    "Int'l Plan",
    "VMail Plan",
    "VMail Message",
    "Day Mins",
    "Day Calls",
    "Day Charge",
    "Eve Mins",
    "Eve Calls",
    "Eve Charge",
    "Night Mins",
    "Night Calls",
    "Night Charge",
    "Intl Mins",
    "Intl Calls",
    "Intl Charge",
    "CustServ Calls",
    "Churn?",
]
TARGET = "Churn?"
TARGET_VALUES = ("True.", "False.")
YES_NO = ("yes", "no")
AREA_CODES = (408, 415, 510)
STATES = (
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE "
    "NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY"
).split()
INT_COLUMNS = (
    "Account Length",
    "VMail Message",
    "Day Calls",
    "Eve Calls",
    "Night Calls",
    "Intl Calls",
    "CustServ Calls",
)
FLOAT_COLUMNS = (
    "Day Mins",
    "Day Charge",
    "Eve Mins",
    "Eve Charge",
    "Night Mins",
    "Night Charge",
    "Intl Mins",
    "Intl Charge",
)
# Per-minute tariffs of the original data set; charges are minutes times these.
RATES = {"Day": 0.17, "Eve": 0.085, "Night": 0.045, "Intl": 0.27}
# Features a tenant's churn may depend on (standardised before weighting).
DRIVERS = (
    "Day Mins",
    "Eve Mins",
    "Night Mins",
    "Intl Mins",
    "CustServ Calls",
    "Int'l Plan",
    "VMail Plan",
    "Account Length",
    "Intl Calls",
    "Day Calls",
)


def tenant_seed(tenant_id: str) -> int:
    """A stable 32-bit seed from the tenant id (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(tenant_id.encode()).digest()[:4], "big")


def tenant_weights(tenant_id: str) -> dict[str, float]:
    """This tenant's churn drivers: a few strong weights of tenant-specific sign and size."""
    rng = np.random.default_rng(tenant_seed(tenant_id) ^ 0x5EED)
    weights = dict.fromkeys(DRIVERS, 0.0)
    strong = rng.choice(len(DRIVERS), size=4, replace=False)
    for rank, index in enumerate(strong):
        magnitude = (1.8, 1.4, 1.1, 0.8)[rank] * rng.uniform(0.85, 1.15)
        weights[DRIVERS[index]] = float(magnitude * rng.choice((-1.0, 1.0)))
    return weights


def generate_churn(tenant_id: str, rows: int = 5000) -> pd.DataFrame:
    """`rows` synthetic customers of `tenant_id`, deterministic per tenant id, in COLUMNS order."""
    validate_tenant_id(tenant_id)
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    rng = np.random.default_rng(tenant_seed(tenant_id))
    # Tenant-level traits come from their own stream, so they do not depend on `rows`.
    traits = np.random.default_rng(tenant_seed(tenant_id) ^ 0x7A175)
    intl_share, vmail_share, rate = (
        traits.uniform(0.07, 0.14),
        traits.uniform(0.2, 0.35),
        traits.uniform(0.10, 0.25),
    )
    n = rows
    intl_plan = rng.random(n) < intl_share
    vmail_plan = rng.random(n) < vmail_share
    frame = {
        "State": rng.choice(STATES, n),
        "Account Length": np.clip(rng.normal(101, 40, n), 1, 243).round().astype(int),
        "Area Code": rng.choice(AREA_CODES, n, p=(0.25, 0.5, 0.25)),
        "Phone": [
            f"{a}-{b:04d}"
            for a, b in zip(rng.integers(327, 423, n), rng.integers(0, 10000, n), strict=True)
        ],
        "Int'l Plan": np.where(intl_plan, "yes", "no"),
        "VMail Plan": np.where(vmail_plan, "yes", "no"),
        "VMail Message": np.where(vmail_plan, np.clip(rng.normal(29, 8, n), 1, 51), 0)
        .round()
        .astype(int),
    }
    for period, mean, sd, calls, cmax in (
        ("Day", 180, 54, 100, 165),
        ("Eve", 201, 51, 100, 170),
        ("Night", 201, 51, 100, 175),
        ("Intl", 10.2, 2.8, 4, 20),
    ):
        minutes = np.clip(rng.normal(mean, sd, n), 0, mean + 4.5 * sd).round(1)
        if period == "Intl":
            n_calls = np.clip(rng.poisson(calls, n), 0, cmax)
        else:
            n_calls = np.clip(rng.normal(calls, 20, n), 0, cmax).round().astype(int)
        frame[f"{period} Mins"] = minutes
        frame[f"{period} Calls"] = n_calls
        frame[f"{period} Charge"] = (minutes * RATES[period]).round(2)
    frame["CustServ Calls"] = np.clip(rng.poisson(1.56, n), 0, 9)
    df = pd.DataFrame(frame)

    logit = np.zeros(n)
    for name, weight in tenant_weights(tenant_id).items():
        if weight:
            x = _numeric(df[name]).astype(float)
            std = x.std() or 1.0
            logit += weight * (x - x.mean()) / std
    # Shift so the tenant's churn rate lands between 10 % and 25 %.
    logit -= _shift_for_rate(logit, rate)
    churn = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    df[TARGET] = np.where(churn, "True.", "False.")
    return df[COLUMNS]


def _numeric(column: pd.Series) -> pd.Series:
    return column if pd.api.types.is_numeric_dtype(column) else (column == "yes").astype(float)


def _shift_for_rate(logit: np.ndarray, rate: float) -> float:
    """The offset c such that mean(sigmoid(logit - c)) == rate (bisection)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(1.0 / (1.0 + np.exp(-(logit - mid))))) > rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


class DataValidationError(ValueError):
    """Tenant data that does not fit the churn schema; the message names column and row."""


def validate_churn(df: pd.DataFrame) -> pd.DataFrame:
    """Return `df` if it fits the churn schema, else raise DataValidationError.

    Rows are reported as data rows counted from 1 (the header is line 1 of a CSV file, so data
    row r is line r + 1).
    """
    if df.empty or len(df) == 0:
        raise DataValidationError("the data is empty: it has no rows")
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DataValidationError(f"missing column(s): {', '.join(repr(c) for c in missing)}")
    unexpected = [c for c in df.columns if c not in COLUMNS]
    if unexpected:
        raise DataValidationError(
            f"unexpected column(s): {', '.join(repr(str(c)) for c in unexpected)}"
        )

    def fail(column: str, index: Any, value: object, expected: str) -> NoReturn:
        row = df.index.get_loc(index) + 1
        raise DataValidationError(
            f"column {column!r}, row {row} (line {row + 1}): "
            f"bad value {value!r}, expected {expected}"
        )

    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        (
            "State",
            lambda v: isinstance(v, str) and len(v) == 2 and v.isalpha() and v.isupper(),
            "a two-letter state code",
        ),
        ("Area Code", lambda v: _is_int(v) and 100 <= int(float(v)) <= 999, "a 3-digit area code"),
        ("Phone", lambda v: isinstance(v, str) and bool(v.strip()), "a phone number"),
        ("Int'l Plan", lambda v: v in YES_NO, "'yes' or 'no'"),
        ("VMail Plan", lambda v: v in YES_NO, "'yes' or 'no'"),
        (TARGET, lambda v: v in TARGET_VALUES, "'True.' or 'False.'"),
    ]
    checks += [
        (c, lambda v: _is_int(v) and float(v) >= 0, "a whole number >= 0") for c in INT_COLUMNS
    ]
    checks += [
        (c, lambda v: _is_number(v) and float(v) >= 0, "a number >= 0") for c in FLOAT_COLUMNS
    ]
    checks.sort(key=lambda check: COLUMNS.index(check[0]))
    # Report the first bad cell in reading order (row by row, then column by column).
    first: tuple[int, int, str, Any, Any, str] | None = None
    for column, ok, expected in checks:
        for position, (index, value) in enumerate(df[column].items()):
            if not ok(value):
                key = (position, COLUMNS.index(column))
                if first is None or key < first[:2]:
                    first = (*key, column, index, value, expected)
                break
    if first is not None:
        fail(first[2], first[3], first[4], first[5])
    return df


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _is_int(value: Any) -> bool:
    return _is_number(value) and float(value) == int(float(value))


def read_churn_csv(source: str | Path | bytes) -> pd.DataFrame:
    """Read and validate a churn CSV (a path or its bytes); raise DataValidationError if bad."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not raw.strip():
        raise DataValidationError("the file is empty")
    try:
        df = pd.read_csv(io.BytesIO(raw), dtype={"Phone": str, "State": str}, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise DataValidationError(f"not a readable CSV file: {exc}") from exc
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError("the file is empty") from exc
    return validate_churn(df)


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def upload_churn(
    s3_client: Any, bucket: str, data: pd.DataFrame | str | Path | bytes, key: str = RAW_DATA_KEY
) -> str:
    """Validate `data` (a DataFrame, a CSV path or CSV bytes), then put it at s3://bucket/key.

    Nothing is uploaded when validation fails. Returns the object's S3 URI.
    """
    df = validate_churn(data) if isinstance(data, pd.DataFrame) else read_churn_csv(data)
    s3_client.put_object(Bucket=bucket, Key=key, Body=to_csv_bytes(df), ContentType="text/csv")
    return f"s3://{bucket}/{key}"
