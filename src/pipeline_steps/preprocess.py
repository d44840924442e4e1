"""Processing job: feature engineering of the churn data and the train/validation/test split.

Runs inside a SageMaker processing job (sklearn image), so it is self-contained: the processing
job uploads this one file. Reads every CSV under --input-dir, writes CSVs without header and with
the label first (as XGBoost's built-in algorithm expects) to <output-dir>/{train,validation,test},
plus <output-dir>/test/features.json naming the feature columns in order.
Bad data stops the job with a message naming the problem (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

TARGET = "Churn?"
NUMERIC = [
    "Account Length",
    "VMail Message",
    "Day Mins",
    "Day Calls",
    "Eve Mins",
    "Eve Calls",
    "Night Mins",
    "Night Calls",
    "Intl Mins",
    "Intl Calls",
    "CustServ Calls",
]
# Charges are a fixed rate times minutes: perfectly collinear, so dropped like Phone (an id).
DROPPED = ["Phone", "Day Charge", "Eve Charge", "Night Charge", "Intl Charge"]
STATES = [
    "AK",
    "AL",
    "AR",
    "AZ",
    "CA",
    "CO",
    "CT",
    "DC",
    "DE",
    "FL",
    "GA",
    "HI",
    "IA",
    "ID",
    "IL",
    "IN",
    "KS",
    "KY",
    "LA",
    "MA",
    "MD",
    "ME",
    "MI",
    "MN",
    "MO",
    "MS",
    "MT",
    "NC",
    "ND",
    "NE",
    "NH",
    "NJ",
    "NM",
    "NV",
    "NY",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VA",
    "VT",
    "WA",
    "WI",
    "WV",
    "WY",
]
# Fixed category lists keep the feature columns identical for every tenant and every run, so a
# model's input layout never depends on which values one data set happens to contain.
CATEGORIES = {
    "State": STATES,
    "Area Code": ["408", "415", "510"],
    "Int'l Plan": ["no", "yes"],
    "VMail Plan": ["no", "yes"],
}
LABELS = {"True.": 1, "False.": 0}
MIN_ROWS = 50


class DataError(ValueError):
    """The input data cannot be used; the message names the problem."""


def feature_names() -> list[str]:
    names = list(NUMERIC)
    for column, values in CATEGORIES.items():
        names += [f"{column}_{v}" for v in values]
    return names


def read_input(input_dir: Path) -> pd.DataFrame:
    files = sorted(p for p in input_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(f"no CSV file found under {input_dir}")
    frames = []
    for path in files:
        try:
            frames.append(pd.read_csv(path, dtype={"Area Code": str, "Phone": str}))
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"{path.name} is not a readable CSV file: {exc}") from exc
    return pd.concat(frames, ignore_index=True)


def engineer(df: pd.DataFrame) -> pd.DataFrame:
    """Return the label (first, 0/1) and the model's feature columns, checking the schema."""
    required = [TARGET, *NUMERIC, *CATEGORIES]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DataError(f"missing column(s) {missing}; found {list(df.columns)}")
    if len(df) < MIN_ROWS:
        raise DataError(f"only {len(df)} rows; at least {MIN_ROWS} are needed to train")
    bad_labels = sorted(set(df[TARGET].astype(str).unique()) - set(LABELS))
    if bad_labels:
        raise DataError(f"column {TARGET!r} has values {bad_labels[:5]}; expected {list(LABELS)}")
    columns: dict[str, pd.Series] = {TARGET: df[TARGET].astype(str).map(LABELS)}
    for column in NUMERIC:
        values = pd.to_numeric(df[column], errors="coerce")
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(
                f"column {column!r} must be numeric; row {row + 1} holds {df[column].iloc[row]!r}"
            )
        columns[column] = values.astype(float)
    for column, allowed in CATEGORIES.items():
        values = df[column].astype(str).str.strip()
        codes = pd.Categorical(values, categories=allowed).codes
        if (codes < 0).any():
            unknown = sorted(set(values[codes < 0].unique()))
            raise DataError(
                f"column {column!r} has unknown values {unknown[:5]}; expected {allowed}"
            )
        onehot = np.zeros((len(df), len(allowed)), dtype=np.uint8)
        onehot[np.arange(len(df)), codes] = 1
        for i, value in enumerate(allowed):
            columns[f"{column}_{value}"] = onehot[:, i]
    return pd.DataFrame(columns)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write without header or index; pyarrow's writer when present (several times faster)."""
    try:
        import pyarrow as pa
        from pyarrow import csv
    except ImportError:
        frame.to_csv(path, header=False, index=False)
        return
    table = pa.Table.from_pandas(frame, preserve_index=False)
    csv.write_csv(table, path, csv.WriteOptions(include_header=False))


def split(data: pd.DataFrame, train: float, validation: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(data))
    n_train, n_val = int(train * len(data)), int(validation * len(data))
    shuffled = data.iloc[order]
    return (shuffled[:n_train], shuffled[n_train : n_train + n_val], shuffled[n_train + n_val :])


def run(
    input_dir: Path, output_dir: Path, train: float = 0.7, validation: float = 0.2, seed: int = 42
) -> dict[str, int]:
    """Preprocess `input_dir` into `output_dir`; return the row count of each split."""
    if not (0 < train < 1 and 0 < validation < 1 and train + validation < 1):
        raise DataError(f"bad split ratios train={train} validation={validation}")
    data = engineer(read_input(input_dir))
    counts = {}
    parts = split(data, train, validation, seed)
    # No zip(strict=...): the framework images run Python 3.8/3.9.
    for name, part in (("train", parts[0]), ("validation", parts[1]), ("test", parts[2])):
        target = output_dir / name
        target.mkdir(parents=True, exist_ok=True)
        write_csv(part, target / f"{name}.csv")
        counts[name] = len(part)
    (output_dir / "test" / "features.json").write_text(json.dumps(feature_names()))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input-dir", type=Path, default=Path("/opt/ml/processing/input/data"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing"))
    parser.add_argument("--train-ratio", type=float, default=0.7)
    parser.add_argument("--validation-ratio", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--failure-file",
        type=Path,
        help="where to write the failure reason (/opt/ml/output/message in a job)",
    )
    args = parser.parse_args(argv)
    try:
        counts = run(
            args.input_dir, args.output_dir, args.train_ratio, args.validation_ratio, args.seed
        )
    except DataError as exc:
        message = f"bad input data: {exc}"
        print(f"Preprocessing failed: {message}", file=sys.stderr)
        if args.failure_file is not None:
            # SageMaker reports this file's text as the job's FailureReason.
            args.failure_file.parent.mkdir(parents=True, exist_ok=True)
            args.failure_file.write_text(message)
        return 1
    print(f"Preprocessing done: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
