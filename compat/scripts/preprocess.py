"""Abalone preprocessing, as a SKLearnProcessor script: one-hot sex, scale the measurements,
split train / validation / test (label first, no header) and write the test features alone
(`batch/`) for batch transform."""

import argparse
import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BASE = "/opt/ml/processing"
NUMERIC = [
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--validation-ratio", type=float, default=0.15)
    parser.add_argument("--test-ratio", type=float, default=0.15)
    args = parser.parse_args()

    names = ["sex", *NUMERIC, "rings"]
    frames = [
        pd.read_csv(os.path.join(f"{BASE}/input", f), header=None, names=names)
        for f in sorted(os.listdir(f"{BASE}/input"))
        if f.endswith(".csv")
    ]
    df = pd.concat(frames, ignore_index=True)
    print(f"read {len(df)} records")
    y = df.pop("rings").to_numpy(dtype=float)
    features = ColumnTransformer(
        [
            ("num", make_pipeline(StandardScaler()), NUMERIC),
            ("sex", OneHotEncoder(handle_unknown="ignore"), ["sex"]),
        ]
    )
    x = features.fit_transform(df)
    data = np.column_stack([y, x])
    np.random.default_rng(42).shuffle(data)
    n_test = int(len(data) * args.test_ratio)
    n_val = int(len(data) * args.validation_ratio)
    parts = {
        "test": data[:n_test],
        "validation": data[n_test : n_test + n_val],
        "train": data[n_test + n_val :],
    }
    for part, rows in parts.items():
        os.makedirs(f"{BASE}/{part}", exist_ok=True)
        np.savetxt(f"{BASE}/{part}/{part}.csv", rows, delimiter=",", fmt="%.6f")
    os.makedirs(f"{BASE}/batch", exist_ok=True)
    np.savetxt(f"{BASE}/batch/batch.csv", parts["test"][:, 1:], delimiter=",", fmt="%.6f")
    print({part: len(rows) for part, rows in parts.items()})
