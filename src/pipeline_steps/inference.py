"""Inference handlers for the tenant's XGBoost model (SageMaker's handler contract).

`model_fn(model_dir)` loads `xgboost-model`; `input_fn` accepts `text/csv` (rows of feature
values, no label, in the column order preprocessing writes) or `application/json`
(`{"instances": [[...], ...]}`, `{"features": [...]}` or a bare list of rows); `predict_fn`
returns churn probabilities; `output_fn` writes them as CSV lines or JSON
(`{"predictions": [...]}`). A malformed body raises ValueError naming the problem.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import xgboost as xgb

MODEL_FILE = "xgboost-model"
CSV = "text/csv"
JSON = "application/json"


def model_fn(model_dir: str) -> xgb.Booster:
    path = Path(model_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"{MODEL_FILE} not found in {model_dir}")
    booster = xgb.Booster()
    # From a buffer XGBoost detects the format itself (the file name has no extension).
    booster.load_model(bytearray(path.read_bytes()))
    # Requests are a few rows: one thread answers fastest and leaves cores to other models.
    booster.set_param({"nthread": 1})
    return booster


def _base_type(content_type: str | None) -> str:
    return (content_type or CSV).split(";")[0].strip().lower()


def _parse_csv(text: str) -> np.ndarray:
    rows = [line for line in text.splitlines() if line.strip()]
    if not rows:
        raise ValueError("empty text/csv body: expected at least one row of feature values")
    try:
        data = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"malformed text/csv body: {exc}") from exc
    return data


def _parse_json(text: str) -> np.ndarray:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed application/json body: {exc}") from exc
    if isinstance(doc, dict):
        if "instances" in doc:
            doc = doc["instances"]
        elif "features" in doc:
            doc = [doc["features"]]
        else:
            raise ValueError('application/json body must hold "instances" or "features"')
    if isinstance(doc, list) and doc and not isinstance(doc[0], list):
        doc = [doc]
    if not isinstance(doc, list) or not doc:
        raise ValueError("application/json body must be a non-empty list of feature rows")
    widths = {len(row) if isinstance(row, list) else -1 for row in doc}
    if len(widths) != 1 or -1 in widths:
        raise ValueError("application/json rows must be lists of equal length")
    try:
        return np.asarray(doc, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"application/json rows must hold numbers: {exc}") from exc


def input_fn(request_body: bytes | str, request_content_type: str | None) -> np.ndarray:
    text = request_body.decode("utf-8") if isinstance(request_body, bytes) else request_body
    kind = _base_type(request_content_type)
    if kind == CSV:
        return _parse_csv(text)
    if kind == JSON:
        return _parse_json(text)
    raise ValueError(f"unsupported content type {request_content_type!r}; use {CSV} or {JSON}")


def predict_fn(input_data: np.ndarray, model: xgb.Booster) -> np.ndarray:
    expected = model.num_features()
    if input_data.ndim != 2 or input_data.shape[1] != expected:
        raise ValueError(
            f"each row must hold {expected} feature values; got {input_data.shape[-1]}"
        )
    return model.predict(xgb.DMatrix(input_data, nthread=1))


def output_fn(prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
    """Return (body, content type). `accept` defaults to text/csv."""
    kind = _base_type(accept)
    values = [round(float(p), 6) for p in np.asarray(prediction).ravel()]
    if kind == JSON:
        return json.dumps({"predictions": values}), JSON
    if kind == CSV:
        return "\n".join(str(v) for v in values), CSV
    raise ValueError(f"unsupported accept type {accept!r}; use {CSV} or {JSON}")
