"""Processing job: validate the tenant's churn data, split it, learn and apply the features.

Runs inside a SageMaker processing job (scikit-learn image). Reads every CSV under --input-dir
(UTF-8, header in the first file at least), checks it with `churn_schema` (the rules the upload
helper applies too), splits it into train/validation/test, fits the features on the training
split only (`churn_features.fit`: a scikit-learn ColumnTransformer) and writes, under --output-dir:
- {train,validation,test}/<split>.csv: label first, no header (XGBoost's CSV layout);
- train/preprocessing.json: the fitted feature parameters as data (the training job ships them
  inside model.tar.gz for the endpoint), checked to reproduce the ColumnTransformer exactly;
- test/features.json: the feature names in order; test/sample.json: raw test records as
  uploaded (without the label) with their labels, for the deploy smoke test and notebooks.
Bad data stops the job with a message naming the problem (exit code 1).

The shared modules (`churn_schema`, `churn_features`) sit beside this script in the repository; the
pipeline ships them to /opt/ml/processing/input/lib, which is put on sys.path below.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

if __package__:  # imported as pipeline_steps.preprocess (helpers, tests)
    from . import churn_features as features
    from . import churn_schema as schema
else:  # run as a script: the modules sit beside it, or in ../lib in a processing job
    _LIB = Path(__file__).resolve().parent.parent / "lib"
    if _LIB.is_dir():
        sys.path.insert(1, str(_LIB))
    import churn_features as features
    import churn_schema as schema

DataError = schema.DataError
SAMPLE_ROWS = 20


def read_input(input_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Every CSV under input_dir, validated: (text cells, the header's column order)."""
    files = sorted(p for p in input_dir.rglob("*.csv") if p.is_file())
    if not files:
        raise DataError(f"no CSV file found under {input_dir}")
    return schema.read_and_validate(files)


def write_splits(
    columns: dict[str, np.ndarray], parts: dict[str, np.ndarray], output_dir: Path
) -> None:
    """Write each split's rows of `columns` (name -> values, in order) to
    output_dir/<split>/<split>.csv, without header or index: by pyarrow's writer when present
    (several times faster; its table made from the arrays themselves), else by pandas."""
    try:
        import pyarrow as pa
        from pyarrow import csv
    except ImportError:
        pa = None
    table = pa.table(columns) if pa is not None else pd.DataFrame(columns)
    for name, rows in parts.items():
        target = output_dir / name
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{name}.csv"
        if pa is None:
            table.iloc[rows].to_csv(path, header=False, index=False)
        else:
            csv.write_csv(table.take(rows), path, csv.WriteOptions(include_header=False))


def split(rows: int, train: float, validation: float, seed: int) -> list[np.ndarray]:
    """Row positions of the train, validation and test splits (shuffled, seeded)."""
    order = np.random.default_rng(seed).permutation(rows)
    n_train, n_val = int(train * rows), int(validation * rows)
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def sample(text: pd.DataFrame, order: list[str]) -> dict:
    """Raw test records as uploaded (upload's column order, no label) with their labels."""
    columns = [c for c in order if c != schema.LABEL]
    head = text.head(SAMPLE_ROWS)
    rows = head[columns].values.tolist()
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(rows[0])
    return {
        "columns": columns,
        "rows": rows,
        "labels": features.labels(head).tolist(),
        "csv": line.getvalue(),
        "label": str(int(features.labels(head)[0])),
    }


def run(
    input_dir: Path, output_dir: Path, train: float = 0.7, validation: float = 0.2, seed: int = 42
) -> dict[str, int]:
    """Preprocess `input_dir` into `output_dir`; return the row count of each split."""
    if not (0 < train < 1 and 0 < validation < 1 and train + validation < 1):
        raise DataError(f"bad split ratios train={train} validation={validation}")
    text, order = read_input(input_dir)
    table = features.typed(text)  # numbers parsed once; the splits share them
    labels = features.labels(text)
    names = ("train", "validation", "test")
    parts = dict(zip(names, split(len(text), train, validation, seed)))  # noqa: B905 - py3.8
    for name, rows in parts.items():
        if len(np.unique(labels[rows])) < 2:
            raise DataError(f"the {name} split holds one class only: add rows of both classes")
    transformer, params = features.fit(table.iloc[parts["train"]], order)
    # Every row encoded in one call: the encoding is row by row, so a split's rows of it are
    # what encoding the split alone gives (one scikit-learn call instead of four, each of them
    # mostly fixed cost at a few thousand rows).
    matrix = np.asarray(transformer.transform(table), dtype=np.float64)
    validation = parts["validation"]
    features.check_same(transformer, params, table.iloc[validation], matrix[validation])
    # One-hot columns as integers: the same values, written several times faster.
    columns = {schema.LABEL: labels}
    for i, feature in enumerate(params["feature_names"]):
        column = matrix[:, i]
        columns[feature] = column if i < len(features.NUMERIC) else column.astype(np.uint8)
    del matrix
    write_splits(columns, parts, output_dir)
    del columns
    counts = {name: len(rows) for name, rows in parts.items()}
    test_head = text.iloc[parts["test"][:SAMPLE_ROWS]]
    (output_dir / "train" / features.PARAMS_FILE).write_text(json.dumps(params, indent=1))
    (output_dir / "test" / "features.json").write_text(json.dumps(params["feature_names"]))
    (output_dir / "test" / "sample.json").write_text(json.dumps(sample(test_head, order)))
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
