"""`churn_features.typed` parses numeric text cells as float() does, by whichever route."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data import generate_churn, to_csv_bytes
from pipeline_steps import churn_features as features
from pipeline_steps import churn_schema as schema

# float() reads all of these; only the plain decimals may take Arrow's parser.
ODD = ["1.", ".5", "1e5", "1E-3", " 7", "8 ", "+1", "-0", "١٢", "1_000", "inf", "NaN", "0x10p0"]
PLAIN = [
    "0",
    "007",
    "0.1",
    "2.675",
    "12.50",
    "1" * 40 + "." + "3" * 40,
    "9" * 310,
    "0." + "0" * 330 + "1",
]


def _by_float(values: list[str]) -> np.ndarray:
    return np.array([float(v) for v in values], dtype=np.float64)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", ["str", object])
def test_random_plain_decimals_parse_as_float_does(dtype):
    rng = np.random.default_rng(7)
    ints = rng.integers(0, 10**12, 20_000).astype(str)
    fractions = rng.integers(0, 10**9, 20_000).astype(str)
    digits = rng.integers(1, 18, 20_000)
    values = [f"{i}.{f[:d]}" for i, f, d in zip(ints, fractions, digits, strict=True)]
    values += ints[:5000].tolist() + PLAIN
    cells = pd.Series(values, dtype=dtype)
    assert _same(features._floats(cells), _by_float(values))


@pytest.mark.parametrize("odd", ODD)
def test_a_column_with_any_other_text_parses_as_float_does(odd):
    values = ["1.5", "2", odd, "3.25"]
    try:
        expected = _by_float(values)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(":")[0]):
            features._floats(pd.Series(values, dtype="str"))
        return
    assert _same(features._floats(pd.Series(values, dtype="str")), expected)


def test_bad_text_raises_as_float_does():
    for bad in ("", "1.2.3", "abc", "0x10"):
        with pytest.raises(ValueError):
            features._floats(pd.Series(["1", bad], dtype="str"))


@pytest.mark.parametrize("tenant", ["acme", "globex", "initech"])
def test_typed_uploaded_data_equals_float_per_cell(tenant):
    text, _ = schema.read_and_validate([to_csv_bytes(generate_churn(tenant, 3000))])
    table = features.typed(text)
    for column in features.NUMERIC:
        assert _same(table[column].to_numpy(), _by_float(text[column].tolist())), column
