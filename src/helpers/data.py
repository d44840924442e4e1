"""Tenant data: a per-tenant synthetic churn generator, CSV validation and upload.

The schema is the classic SageMaker customer-churn data set. Validation applies the rules of
`pipeline_steps.churn_schema`, the same ones the pipeline's Preprocess job applies, so what the
upload accepts is what the pipeline trains on. Each tenant's customers churn for
different reasons (its own seeded weights over the features), so a model trained on one tenant
does worse on another's data.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.naming import RAW_DATA_KEY, validate_tenant_id
from pipeline_steps import churn_schema as schema

COLUMNS = schema.COLUMNS

TARGET = schema.LABEL
TARGET_VALUES = tuple(schema.LABEL_VALUES)
AREA_CODES = (408, 415, 510)
STATES = (
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND NE "
    "NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY"
).split()
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
            for a, b in zip(
                rng.integers(327, 423, n).tolist(), rng.integers(0, 10000, n).tolist(), strict=True
            )
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
            logit += weight * (x.to_numpy() - x.mean()) / std
    # Shift so the tenant's churn rate lands between 10 % and 25 %.
    logit -= _shift_for_rate(logit, rate)
    churn = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    df[TARGET] = np.where(churn, "True.", "False.")
    return df[COLUMNS]


def _numeric(column: pd.Series) -> pd.Series:
    return column if pd.api.types.is_numeric_dtype(column) else (column == "yes").astype(float)


def _shift_for_rate(logit: np.ndarray, rate: float) -> float:
    """The offset c such that mean(sigmoid(logit - c)) == rate (bisection, on numpy arrays:
    the same arithmetic on a pandas Series costs ten times more)."""
    logit = np.asarray(logit, dtype=np.float64)
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(1.0 / (1.0 + np.exp(-(logit - mid))))) > rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


DataValidationError = schema.DataError
"""Tenant data that does not fit the churn schema; the message names what and where."""


def validate_churn(df: pd.DataFrame) -> pd.DataFrame:
    """`df` as validated text cells in COLUMNS order, or DataValidationError naming the problem.

    Rows are reported as data rows counted from 1 (the header is line 1 of a CSV file, so data
    row r is line r + 1). See `churn_schema.validate` for the rules.
    """
    return schema.validate(df)


def read_churn_csv(source: str | Path | bytes | list[str | Path]) -> pd.DataFrame:
    """Read and validate churn CSV file(s) (paths or bytes); raise DataValidationError if bad.

    UTF-8 with or without a byte order mark; several files may follow one header (the first).
    """
    data, _ = schema.read_and_validate(source if isinstance(source, list) else [source])
    return data


def load_churn(
    tenant_id: str, data_path: str | Path | list[str | Path] | None = None, rows: int = 5000
) -> pd.DataFrame:
    """The tenant's churn data for notebook 01, validated, numbers as numbers.

    `data_path`: a CSV file, a folder of CSV files (in name order; a header in the first) or a
    list of files; None: `generate_churn(tenant_id, rows)`. Bad data: DataValidationError.
    """
    if data_path is None:
        return generate_churn(tenant_id, rows)
    paths = data_path if isinstance(data_path, list) else [data_path]
    if len(paths) == 1 and Path(paths[0]).is_dir():
        paths = sorted(p for p in Path(paths[0]).glob("*.csv") if p.is_file())
        if not paths:
            raise DataValidationError(f"no CSV file in folder {data_path}")
    text = read_churn_csv(paths)
    numbers = [c for c, rule in schema.RULES.items() if rule.kind == "number"]
    return text.assign(**{c: pd.to_numeric(text[c]) for c in numbers})


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """`df` (validated text cells) as `df.to_csv(index=False)` writes it, UTF-8 encoded.

    Written with the csv module pandas' writer uses, in the same dialect, from the columns'
    Python strings: several times faster than `to_csv` on pandas' Arrow-backed strings.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=os.linesep, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(df.columns)
    writer.writerows(zip(*(df[column].tolist() for column in df.columns), strict=True))
    return out.getvalue().encode()


def upload_churn(
    s3_client: Any,
    bucket: str,
    data: pd.DataFrame | str | Path | bytes | list[str | Path],
    key: str = RAW_DATA_KEY,
) -> str:
    """Validate `data` (a DataFrame, CSV path(s) or CSV bytes), then put it at s3://bucket/key.

    Nothing is uploaded when validation fails. The object holds the validated cells (stripped
    of surrounding whitespace) in COLUMNS order under one header. Returns its S3 URI.
    """
    df = validate_churn(data) if isinstance(data, pd.DataFrame) else read_churn_csv(data)
    body = to_csv_bytes(df)
    if len(body) > schema.MAX_FILE_BYTES:
        raise DataValidationError(
            f"the data is {len(body):,} bytes as CSV; at most {schema.MAX_FILE_BYTES:,} per file"
        )
    s3_client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    return f"s3://{bucket}/{key}"
