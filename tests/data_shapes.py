"""A second churn data "shape", unlike the demo generator's, to prove nothing is tuned to one.

Other area codes and states, a higher churn rate (about 35 %), churn that depends on the state
and area code (so the learned categories matter), cells padded with whitespace, and several
CSV files of which only the first has a header line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data import COLUMNS, generate_churn

STATES = ["NY", "NJ", "PR", "GU", "VI", "ON"]
AREA_CODES = [212, 312, 617, 718, 905]


def other_shape(rows: int = 3000, seed: int = 7) -> pd.DataFrame:
    """`rows` customers in COLUMNS order (values as a pandas DataFrame, no padding yet)."""
    rng = np.random.default_rng(seed)
    df = generate_churn("shape-b", rows).copy()
    df["State"] = rng.choice(STATES, rows, p=[0.3, 0.2, 0.2, 0.1, 0.1, 0.1])
    df["Area Code"] = rng.choice(AREA_CODES, rows)

    def z(column: str) -> np.ndarray:
        x = df[column].to_numpy(dtype=float)
        return (x - x.mean()) / (x.std() or 1.0)

    logit = (
        1.6 * z("CustServ Calls")
        + 1.3 * z("Day Mins")
        + 2.0 * (df["Int'l Plan"] == "yes").to_numpy()
        + 1.5 * df["State"].isin(["PR", "GU"]).to_numpy()
        - 1.2 * (df["Area Code"] == 905).to_numpy()
        - 0.9
    )
    churn = rng.random(rows) < 1.0 / (1.0 + np.exp(-2.0 * logit))
    df["Churn?"] = np.where(churn, "True.", "False.")
    return df[COLUMNS]


def padded_csv_files(df: pd.DataFrame, parts: int = 3) -> list[bytes]:
    """`df` as `parts` CSV files, cells and header padded with spaces, header in the first only."""
    text = df.astype(str).map(lambda v: f"  {v} ")
    files = []
    for i, chunk in enumerate(np.array_split(np.arange(len(df)), parts)):
        body = text.iloc[chunk].to_csv(index=False, header=i == 0)
        if i == 0:
            header, rest = body.split("\n", 1)
            body = ", ".join(f" {c}" for c in header.split(",")) + "\n" + rest
        files.append(body.encode())
    return files
