"""The model's features, learned from the tenant's training split and shipped as JSON.

`fit` (Preprocess, scikit-learn processing image) fits a scikit-learn `ColumnTransformer`
(numeric columns passed through, `OneHotEncoder(handle_unknown="ignore")` over the categorical
ones) on the training split only and returns it with its fitted parameters as plain data
(`params`: columns, learned categories, feature names). `transform(params, rows)` applies those
parameters with Python and numpy alone: it is what the endpoint runs (XGBoost image, another
scikit-learn and pandas) and what `check_same` compares, cell for cell, with the fitted
ColumnTransformer's own output before Preprocess writes anything. No pickle crosses images.

Numbers are parsed from the cell text by Python's float() on both sides (numpy's object ->
float64 cast calls it too), so the two paths give bit-identical float64 features. A category
never seen in training encodes as all zeros, as OneHotEncoder(handle_unknown="ignore") does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

if __package__:  # imported as pipeline_steps.churn_features (helpers, tests)
    from . import churn_schema as schema
else:  # in a job or an endpoint: the modules sit side by side
    import churn_schema as schema

PARAMS_FILE = "preprocessing.json"
FORMAT = 1
CATEGORICAL = ["State", "Area Code", "Int'l Plan", "VMail Plan"]
# Charges are a fixed rate times minutes: perfectly collinear, so dropped like Phone (an id).
DROPPED = ["Phone", "Day Charge", "Eve Charge", "Night Charge", "Intl Charge"]
NUMERIC = [
    c for c in schema.COLUMNS if c not in CATEGORICAL and c not in DROPPED and c != schema.LABEL
]
USED = NUMERIC + CATEGORICAL


def typed(text: pd.DataFrame) -> pd.DataFrame:
    """Validated text cells -> the encoder's input: numeric columns float64, categories text.

    A frame that is already the encoder's input is returned as it is.
    """
    if list(text.columns) == USED and all(text[c].dtype == np.float64 for c in NUMERIC):
        return text
    columns: dict[str, Any] = {}
    for column in NUMERIC:
        columns[column] = _floats(text[column])
    for column in CATEGORICAL:
        values = text[column]
        if column == "Area Code":
            mapping = {v: schema.category_value(column, v) for v in pd.unique(values)}
            values = values.map(mapping)
        columns[column] = values.to_numpy(dtype=object)
    return pd.DataFrame(columns, columns=USED)


# Digits, with one point between digits if any: text that Arrow's parser and Python's float()
# both read, each as the nearest float64 (both round correctly), so as the same number.
_PLAIN_DECIMAL = r"^[0-9]+(?:\.[0-9]+)?$"


def _floats(cells: pd.Series) -> np.ndarray:
    """float() of each text cell: by Arrow's parser when the column is Arrow-backed text of
    plain decimals only (an uploaded CSV's numbers as pandas reads them; several times faster),
    else by float() itself (numpy's object -> float64 cast calls it)."""
    dtype = cells.dtype
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow = pa.array(cells.array)  # the column's own Arrow data, not a copy
        if (
            arrow.null_count == 0
            and pc.all(pc.match_substring_regex(arrow, _PLAIN_DECIMAL)).as_py()
        ):
            return pc.cast(arrow, pa.float64()).to_numpy(zero_copy_only=False)
    return cells.to_numpy(dtype=object).astype(np.float64)


def labels(text: pd.DataFrame) -> np.ndarray:
    return text[schema.LABEL].map(schema.LABEL_VALUES).to_numpy(dtype=np.int64)


def fit(train_text: pd.DataFrame, input_columns: Sequence[str]) -> tuple[Any, dict]:
    """Fit the ColumnTransformer on the training split; return it and its params (JSON-able).

    `input_columns` is the upload's column order; the endpoint reads header-less CSV rows in
    that order, without the label.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    transformer = ColumnTransformer(
        [
            ("numeric", "passthrough", NUMERIC),
            ("category", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ],
        sparse_threshold=0.0,
    )
    transformer.fit(typed(train_text))
    encoder = transformer.named_transformers_["category"]
    categories = {c: [str(v) for v in encoder.categories_[i]] for i, c in enumerate(CATEGORICAL)}
    names = NUMERIC + [f"{c}_{v}" for c in CATEGORICAL for v in categories[c]]
    params = {
        "format": FORMAT,
        "label": schema.LABEL,
        "input_columns": [c for c in input_columns if c != schema.LABEL],
        "numeric": NUMERIC,
        "categories": categories,
        "dropped": DROPPED,
        "feature_names": names,
        "rules": {c: schema.RULES[c].expected for c in schema.INPUT_COLUMNS},
    }
    return transformer, params


def transform(params: dict, rows: Sequence[Sequence[Any]] | pd.DataFrame) -> np.ndarray:
    """Features (float64, one row per record) from validated records.

    `rows` is a DataFrame with the used columns (text cells, as `schema.validate` returns
    them) or a list of [numeric values..., category texts...] in `NUMERIC + CATEGORICAL` order.
    """
    numeric, categories = params["numeric"], params["categories"]
    if isinstance(rows, pd.DataFrame):
        rows = typed(rows).to_numpy(dtype=object)
    rows = np.asarray(rows, dtype=object).reshape(-1, len(numeric) + len(categories))
    out = np.zeros((len(rows), len(params["feature_names"])), dtype=np.float64)
    out[:, : len(numeric)] = rows[:, : len(numeric)].astype(np.float64)
    offset = len(numeric)
    for i, column in enumerate(categories):
        lookup = {v: j for j, v in enumerate(categories[column])}
        codes = np.array([lookup.get(v, -1) for v in rows[:, len(numeric) + i]], dtype=np.int64)
        seen = codes >= 0
        out[np.flatnonzero(seen), offset + codes[seen]] = 1.0
        offset += len(categories[column])
    return out


def check_same(
    transformer: Any, params: dict, text: pd.DataFrame, encoded: np.ndarray | None = None
) -> None:
    """Raise if the JSON params do not reproduce the fitted transformer exactly on `text`
    (`encoded`: the transformer's output for `text`, when the caller has it already)."""
    if encoded is None:
        encoded = transformer.transform(typed(text))
    expected = np.asarray(encoded, dtype=np.float64)
    actual = transform(params, text)
    if expected.shape != actual.shape or not np.array_equal(expected, actual):
        raise RuntimeError(
            "the serving transform (preprocessing.json) differs from the fitted "
            f"ColumnTransformer: shapes {actual.shape} vs {expected.shape}"
        )
