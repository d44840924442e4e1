"""Inference handlers for the tenant's model: raw customer records in, churn probabilities out.

SageMaker's handler contract (XGBoost image, script mode, `code/` of model.tar.gz):
- `model_fn(model_dir)` loads `xgboost-model` and `preprocessing.json` (the features learned
  from the tenant's training split, see `churn_features`);
- `input_fn` accepts `text/csv`: rows in the upload's column order without the label (or,
  after a header line naming the columns, in any order), and `application/json`: one record
  `{"State": "KS", ...}`, a list of them, or `{"instances": [...]}`, or JSON Lines (one
  record per line, also as `application/jsonlines`: a batch transform's MultiRecord body);
- `predict_fn` checks every field with the upload's rules (`churn_schema`), builds exactly the
  training features (a category never seen in training encodes as all zeros) and returns the
  churn probabilities; `output_fn` writes them as CSV lines or `{"predictions": [...]}`.
A bad record raises RecordError (HTTP 400) naming the record, the field and the problem.

An artifact without `preprocessing.json` (a model trained on feature vectors, with this file
alone as its code) is served as the XGBoost built-in algorithm serves: numeric feature rows.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import xgboost as xgb

if __package__:  # imported as pipeline_steps.inference (helpers, tests)
    from . import churn_features as features
    from . import churn_schema as schema
else:  # in the endpoint: the modules sit beside this file in code/
    import sys

    # A host serving several models in one process (a multi-model endpoint, localaws) may
    # hold another model's copies under these names: import this model's own.
    for _name in ("churn_schema", "churn_features"):
        _cached = getattr(sys.modules.get(_name), "__file__", None)
        if _cached and Path(_cached).parent != Path(__file__).parent:
            del sys.modules[_name]
    try:
        import churn_features as features
        import churn_schema as schema
    except ImportError:  # this file alone: feature vectors only (see the module docstring)
        features = schema = None

try:  # the serving toolkit answers its errors with their status code
    from sagemaker_inference.errors import BaseInferenceToolkitError as _ToolkitError
except ImportError:  # pragma: no cover - outside the serving containers
    _ToolkitError = Exception

MODEL_FILE = "xgboost-model"
CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
PARAMS_FILE = "preprocessing.json"


class RecordError(_ToolkitError, ValueError):
    """A request the model cannot score; answered with HTTP `status` (400) and this message."""

    def __init__(self, message: str, status: int = 400):
        if _ToolkitError is Exception:
            ValueError.__init__(self, message)
        else:
            _ToolkitError.__init__(self, status, message, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class Model(NamedTuple):
    booster: xgb.Booster
    params: dict | None  # None: the model takes feature vectors


class Records(NamedTuple):
    """Parsed request: `fields` names the values of each row (None: upload order)."""

    fields: list[str] | None
    rows: list[Any]


def model_fn(model_dir: str) -> Model:
    folder = Path(model_dir)
    if not (folder / MODEL_FILE).exists():
        raise FileNotFoundError(f"{MODEL_FILE} not found in {model_dir}")
    booster = xgb.Booster()
    # From a buffer XGBoost detects the format itself (the file name has no extension).
    booster.load_model(bytearray((folder / MODEL_FILE).read_bytes()))
    # Requests are a few rows: one thread answers fastest and leaves cores to other models.
    booster.set_param({"nthread": 1})
    if not (folder / PARAMS_FILE).exists():
        return Model(booster, None)
    if features is None:
        raise FileNotFoundError("churn_features.py and churn_schema.py must sit beside this file")
    params = json.loads((folder / PARAMS_FILE).read_text())
    if booster.num_features() != len(params["feature_names"]):
        raise ValueError(
            f"{MODEL_FILE} takes {booster.num_features()} features but "
            f"{PARAMS_FILE} makes {len(params['feature_names'])}"
        )
    return Model(booster, params)


def _base_type(content_type: str | None) -> str:
    return (content_type or CSV).split(";")[0].strip().lower()


def _parse_csv(text: str) -> Records:
    try:  # newline="": the csv module reads \r, \n and \r\n line ends itself
        rows = [
            row for row in csv.reader(io.StringIO(text, newline="")) if any(v.strip() for v in row)
        ]
    except csv.Error as exc:  # e.g. a NUL character
        raise RecordError(f"text/csv body is not readable as CSV: {exc}") from None
    if not rows:
        raise RecordError("empty text/csv body: expected at least one customer record")
    first = [v.strip() for v in rows[0]]
    if schema is not None and any(v in schema.COLUMNS for v in first):
        if len(rows) == 1:
            raise RecordError("text/csv body has a header line but no record")
        return Records(first, rows[1:])
    return Records(None, rows)


def _json_lines(text: str) -> list:
    """JSON Lines: one JSON value per non-blank line (a batch transform's MultiRecord body)."""
    values = []
    for number, line in enumerate(text.split("\n"), 1):  # JSON Lines' one separator
        if line.strip():
            try:
                values.append(json.loads(line))
            except ValueError as exc:
                raise RecordError(f"line {number}: malformed JSON record: {exc}") from None
    return values


def _parse_json(text: str, lines: bool = False) -> Records:
    if lines:
        doc: Any = _json_lines(text)
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            if "\n" not in text.strip():
                raise RecordError(f"malformed application/json body: {exc}") from None
            doc = _json_lines(text)  # several records, one per line
    if isinstance(doc, dict) and "instances" in doc:
        doc = doc["instances"]
    records = [doc] if isinstance(doc, dict) else doc
    if not isinstance(records, list) or not records:
        raise RecordError("application/json body must be a record, a list of records or instances")
    if all(isinstance(r, list) for r in records):  # rows of values, as in a header-less CSV
        return Records(None, records)
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise RecordError(
                f"record {i + 1} is {type(record).__name__}: records are objects keyed by "
                f'column name, e.g. {{"State": "KS", "Account Length": 128, ...}}'
            )
    return Records([], records)


def input_fn(request_body: bytes | str, request_content_type: str | None) -> Records:
    if isinstance(request_body, bytes):
        try:
            request_body = request_body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RecordError(f"request body is not UTF-8: {exc}") from None
    kind = _base_type(request_content_type)
    if kind == CSV:
        return _parse_csv(request_body)
    if kind in (JSON, JSONLINES):
        return _parse_json(request_body, lines=kind == JSONLINES)
    raise RecordError(
        f"unsupported content type {request_content_type!r}; use {CSV}, {JSON} or {JSONLINES}",
        415,
    )


def _record_values(number: int, record: dict) -> list:
    """One record (field name -> value) checked field by field -> encoder input values."""
    values = []
    used = features.NUMERIC + features.CATEGORICAL
    for column in used:
        if column not in record:
            raise RecordError(f"record {number}: missing field {column!r}")
    for column in schema.INPUT_COLUMNS:
        if column not in record:
            continue
        raw = record[column]
        text = schema.cell_text(raw)
        problem = (
            schema.check_cell(column, text)
            if isinstance(raw, (str, int, float))
            else (schema.RULES[column].expected)
        )
        if problem is not None:
            shown = text if len(text) <= 40 else text[:40] + "..."
            raise RecordError(
                f"record {number}, field {column!r}: bad value {shown!r}, expected {problem}"
            )
    for column in used:
        text = schema.cell_text(record[column])
        if column in features.CATEGORICAL:
            values.append(schema.category_value(column, text))
        else:
            values.append(float(text))
    return values


def to_features(records: Records, params: dict) -> np.ndarray:
    """The training features of the request's records (RecordError on a bad record)."""
    columns = params["input_columns"]
    rows = []
    for i, row in enumerate(records.rows):
        if records.fields is None:
            if len(row) != len(columns):
                raise RecordError(
                    f"record {i + 1} has {len(row)} fields; expected {len(columns)} in the "
                    f"upload's column order without {params['label']!r}: {columns}"
                )
            row = dict(zip(columns, row))  # noqa: B905 - Python 3.8 in the image
        elif records.fields:
            if len(row) != len(records.fields):
                raise RecordError(
                    f"record {i + 1} has {len(row)} fields; the header names {len(records.fields)}"
                )
            row = dict(zip(records.fields, row))  # noqa: B905 - Python 3.8 in the image
        rows.append(_record_values(i + 1, row))
    return features.transform(params, rows)


def _vectors(records: Records, width: int) -> np.ndarray:
    """Numeric feature rows (a model without preprocessing.json)."""
    try:
        x = np.asarray([[float(v) for v in row] for row in records.rows], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"feature rows must hold numbers: {exc}") from None
    if records.fields or x.ndim != 2 or x.shape[1] != width:
        raise RecordError(f"each row must hold {width} feature values")
    return x


def predict_fn(input_data: Records, model: Model) -> np.ndarray:
    if model.params is None:
        return model.booster.inplace_predict(_vectors(input_data, model.booster.num_features()))
    x = to_features(input_data, model.params).astype(np.float32)
    # inplace_predict skips building a DMatrix (a third of a millisecond per request); the
    # float32 features give the same margins as the DMatrix the model was evaluated with.
    return model.booster.inplace_predict(x)


def output_fn(prediction: np.ndarray, accept: str | None) -> tuple[str, str]:
    """Return (body, content type). `accept` defaults to text/csv."""
    kind = _base_type(accept)
    values = [round(float(p), 6) for p in np.asarray(prediction).ravel()]
    if kind == JSON:
        return json.dumps({"predictions": values}), JSON
    if kind == CSV:
        return "\n".join(str(v) for v in values), CSV
    raise RecordError(f"unsupported accept type {accept!r}; use {CSV} or {JSON}", 406)
