"""churn_schema's vectorised checks against a frozen copy of the per-value validation they
replace: the same text frame (strings, dtypes, index, column order) or the same error message
(the same first bad cell) for generated tenants, their CSV bytes and mutated frames."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
import pytest

from helpers.data import generate_churn, to_csv_bytes
from pipeline_steps import churn_schema as schema

# --- The reference: the per-value validation as it was before the vectorised checks. ---------


def ref_text(column: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        codes, distinct = pd.factorize(column, use_na_sentinel=False)
        texts = np.array([schema.cell_text(value) for value in distinct], dtype=object)
        return pd.Series(texts[codes], index=column.index, dtype=object)
    if all(isinstance(value, str) for value in column):
        return column.str.strip()
    # Anything else cell by cell (bytes, lone surrogates, lists, True beside 1: as it was
    # before, these crashed or passed through as they came).
    return pd.Series(
        [schema.cell_text(value) for value in column], index=column.index, dtype=object
    )


def ref_checked_cells(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    text = pd.DataFrame({c: ref_text(df[c]) for c in columns})
    first = None
    for position, column in enumerate(columns):
        values = text[column]
        bad = [v for v in pd.unique(values).tolist() if schema.check_cell(column, v) is not None]
        if bad:
            row = int(values.isin(bad).to_numpy().argmax())
            if first is None or (row, position) < first[:2]:
                first = (row, position, column, values.iloc[row])
    if first is not None:
        row, _, column, value = first
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise schema.DataError(
            f"column {column!r}, row {row + 1} (line {row + 2}): bad value {shown!r}, "
            f"expected {schema.check_cell(column, value)}"
        )
    return text


def ref_validate(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) == 0:
        raise schema.DataError("the data is empty: it has no rows")
    df = df.rename(columns=lambda c: str(c).strip())
    schema._check_columns(list(df.columns), schema.COLUMNS)
    text = ref_checked_cells(df, schema.COLUMNS)
    schema.check_classes(text[schema.LABEL])
    return text


def ref_validate_records(df: pd.DataFrame) -> pd.DataFrame:
    df = df.rename(columns=lambda c: str(c).strip())
    return ref_checked_cells(df, schema.INPUT_COLUMNS)


def ref_read_and_validate(raw: bytes) -> tuple[pd.DataFrame, list[str]]:
    data, order = schema.read_csv_files([("the file", raw)])
    return ref_validate(data), order


# Today's scalar rules, frozen: the reference above reads the module's cell_text and check_cell.
def frozen_check(column: str, text: str) -> bool:
    if len(text) > 100 or re.search("[\ud800-\udfff]", text):
        return False
    try:
        number = float(text)
    except (ValueError, TypeError):
        number = None
    finite = number is not None and math.isfinite(number)
    if column == "Area Code":
        return finite and number == int(number) and 100 <= number <= 999
    if column in ("State", "Phone", "Int'l Plan", "VMail Plan", "Churn?"):
        return {
            "State": bool(re.match(r"^[A-Z]{2}$", text)),
            "Phone": text != "",
            "Churn?": text in ("True.", "False."),
        }.get(column, text in ("yes", "no"))
    whole = column.endswith("Calls") or column in ("Account Length", "VMail Message")
    return finite and number >= 0 and (not whole or number == int(number))


# --- Comparison. ------------------------------------------------------------------------------


def outcome(call, *args):
    """('ok', result) or ('error', exception type, message)."""
    try:
        return ("ok", call(*args))
    except Exception as exc:  # the same exception, DataError or not, with the same message
        return ("error", type(exc), str(exc))


def assert_same_frame(new: pd.DataFrame, ref: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(new, ref, check_exact=True)
    assert list(new.dtypes) == list(ref.dtypes)
    for column in ref.columns:
        new_values, ref_values = new[column].tolist(), ref[column].tolist()
        assert new_values == ref_values and list(map(type, new_values)) == list(
            map(type, ref_values)
        ), column


def assert_same(new, ref) -> None:
    if new[0] == "ok" and ref[0] == "ok":
        frame, ref_frame = (new[1][0], ref[1][0]) if isinstance(new[1], tuple) else (new[1], ref[1])
        assert_same_frame(frame, ref_frame)
        if isinstance(new[1], tuple):
            assert new[1][1] == ref[1][1]
    else:
        assert new == ref


def assert_same_everywhere(df: pd.DataFrame, csv: bool = True, records: bool = True) -> None:
    """validate, validate_records (without the label) and, on `df`'s CSV bytes, read_and_validate
    agree with the reference."""
    assert_same(outcome(schema.validate, df), outcome(ref_validate, df))
    if records:
        rows = df.drop(columns=[schema.LABEL]) if schema.LABEL in df.columns else df
        assert_same(outcome(schema.validate_records, rows), outcome(ref_validate_records, rows))
    if csv:
        try:
            raw = df.to_csv(index=False).encode()
        except UnicodeEncodeError:  # a lone surrogate: no CSV file holds it
            return
        new = outcome(lambda: schema.read_and_validate([raw]))
        assert_same(new, outcome(ref_read_and_validate, raw))


# --- Generated tenants, as frames and as the CSV bytes Preprocess reads. -----------------------

TENANTS = [("acme", 5000), ("globex", 777), ("scale-0007", 2500), ("initech", 150)]


@pytest.mark.parametrize(("tenant", "rows"), TENANTS, ids=str)
def test_generated_tenants_give_the_same_frames(tenant, rows):
    df = generate_churn(tenant, rows)
    new = schema.validate(df)
    assert_same_frame(new, ref_validate(df))
    raw = to_csv_bytes(new)
    new_read, new_order = schema.read_and_validate([raw])
    ref_read, ref_order = ref_read_and_validate(raw)
    assert_same_frame(new_read, ref_read)
    assert new_order == ref_order == schema.COLUMNS
    assert_same_frame(schema.validate_records(df), ref_validate_records(df))
    # numbers as floats, as object columns, as padded text
    assert_same_everywhere(df.astype({c: float for c in df.columns if df[c].dtype.kind == "i"}))
    assert_same_everywhere(df.astype(object), csv=False)
    padded = df.astype(str).map(lambda v: f" {v}\t")
    assert_same_everywhere(padded)
    assert_same_everywhere(padded.astype(object), csv=False)


# --- Hostile cells. ----------------------------------------------------------------------------

NUMBERS = [
    0, 1, -1, 5, 99, 100, 415, 999, 1000, 2**63 - 1, -(2**63), 10**20,
    0.0, -0.0, 2.5, -2.5, 0.1 + 0.2, 415.0, 99.99999999999999, 999.0000000000001, 1e-300,
    1e15, 1e15 + 0.5, 1e16, 1e20, -1e20, 123456789.125, float("nan"), float("inf"),
    float("-inf"), np.float64(3.0), np.int64(7), np.float32(0.1),
]  # fmt: skip
TEXTS = [
    "1_000", "1__0", "_1", " 12 ", "\t7\t", "1e3", "1E3", "1e", "1e400", "-1e-400", "+5", "-5",
    "-0", "-0.0", ".5", "5.", ".", "", " ", "nan", "NaN", "-nan", "Infinity", "inf", "-inf",
    "\u0661\u0662", "\u0661\u0662.\u0665", "\uff11\uff12", "\u00b2", "0x10", "1,000", "12\n",
    "1\n2", "1\r2", "5\u2003", "\u00a05", "\x1c5", "12\u200b", "1" * 101, "9" * 100,
    "0." + "9" * 98, "0.99999999999999999999", "99.9999999999999999999",
    "999.0000000000000000001", "0415", "00415", "415.", "415.0", "415.00", "415.5", "4.15e2",
    "1.2.3", "12..", "..5", "yes", "no", "Yes", " yes ", "True.", "False.", "True", "CA", "ca",
    "CAL", "C", "X" * 150, "x" * 41, "é", "1\x00", "\ud800", "３",
]  # fmt: skip
OTHERS = [True, False, None, np.nan, b"12", pd.NA, pd.Timestamp("2020-01-01"), 1 + 2j]


def mutated(rng: np.random.Generator, base: pd.DataFrame) -> pd.DataFrame:
    df = base.copy()
    pool = NUMBERS + TEXTS + OTHERS
    for column in rng.choice(df.columns, size=rng.integers(1, 5), replace=False):
        values = df[column].tolist()
        rows = rng.choice(len(df), size=rng.integers(1, 6), replace=False)
        kind = rng.integers(4)
        for row in rows:
            if kind == 0:
                values[row] = NUMBERS[rng.integers(len(NUMBERS))]
            elif kind == 1:
                values[row] = TEXTS[rng.integers(len(TEXTS))]
            else:
                values[row] = pool[rng.integers(len(pool))]
        dtype = [None, object, None, "str"][rng.integers(4)]
        try:
            df[column] = pd.Series(values, index=df.index, dtype=dtype)
        except (TypeError, ValueError, UnicodeEncodeError):
            df[column] = pd.Series(values, index=df.index, dtype=object)
    return df


def bases() -> list[pd.DataFrame]:
    df = generate_churn("hostile", 150)
    text = pd.read_csv(
        io.BytesIO(to_csv_bytes(schema.validate(df))), dtype=str, keep_default_na=False
    )
    shuffled = df.sample(frac=1, random_state=3)  # an index out of order
    labelled = df.set_axis([f"r{i}" for i in range(len(df))])
    repeated = df.set_axis([i // 2 for i in range(len(df))])  # duplicate labels
    return [df, text, shuffled, labelled, repeated, df.astype(object)]


def test_mutated_frames_give_the_same_frames_or_messages():
    rng = np.random.default_rng(20240611)
    frames = bases()
    errors = 0
    for i in range(200):
        df = mutated(rng, frames[i % len(frames)])
        assert_same_everywhere(df, csv=i % 3 == 0, records=i % 3 == 1)
        errors += outcome(schema.validate, df)[0] == "error"
    assert 50 < errors < 190  # both outcomes exercised


def assert_same_column(column: pd.Series, name: str) -> None:
    """One column's text and bad values as the reference finds them (what validate reports)."""
    new, old = outcome(schema._column_text, column, name), outcome(ref_text, column)
    if new[0] == "error" or old[0] == "error":  # e.g. a lone surrogate among numbers
        assert new == old
        return
    (text, maybe_bad), ref = new[1], old[1]
    pd.testing.assert_series_equal(text, ref, check_exact=True)
    assert list(map(type, text.tolist())) == list(map(type, ref.tolist()))

    def bad(texts: list) -> list:  # (a rule may raise on bytes: then both raise alike)
        return [v for v in texts if schema.check_cell(name, v) is not None]

    assert outcome(bad, maybe_bad) == outcome(bad, pd.unique(ref).tolist())


@pytest.mark.parametrize("name", schema.COLUMNS)
def test_each_hostile_value_in_each_column(name):
    """Each value alone in a column of its own kind and in an object one; then the texts all
    together in a text column, through validate, validate_records and CSV bytes."""
    base = generate_churn("hostile", 120)
    for value in NUMBERS + TEXTS + OTHERS:
        values = base[name].tolist()[:20]
        values[7] = value
        for dtype in (None, object, "str"):
            try:
                column = pd.Series(values, index=range(100, 120), dtype=dtype)
            except (TypeError, ValueError, UnicodeEncodeError):
                continue
            assert_same_column(column, name)
    texts = base.astype(str)
    texts[name] = ([t for t in TEXTS if t != "\ud800"] * 2)[: len(texts)]
    assert_same_everywhere(texts)
    assert_same_everywhere(texts.iloc[::-1])


def test_the_first_bad_cell_is_the_smallest_row_then_the_leftmost_column():
    df = generate_churn("order", 300).astype(object)
    df.loc[200, "State"] = "zz"
    df.loc[40, "Night Charge"] = -1.5
    df.loc[40, "Day Calls"] = "1e3x"
    df.loc[41, "Area Code"] = 12
    expected = "column 'Day Calls', row 41 (line 42): bad value '1e3x', expected a whole number"
    with pytest.raises(schema.DataError, match=re.escape(expected)):
        schema.validate(df)
    assert_same_everywhere(df)
    df.loc[40, "Day Calls"] = 3.0
    with pytest.raises(schema.DataError, match=r"'Night Charge', row 41 .* bad value '-1.5'"):
        schema.validate(df)
    assert_same_everywhere(df)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_numbers_of_other_dtypes_and_columns_of_other_kinds():
    df = generate_churn("dtypes", 120)
    df.loc[13, "Day Mins"] = 1e20
    for dtype in ("int32", "uint8", "float32", "float16", "Int64", "Float64", "longdouble"):
        for column in ("Day Calls", "Day Mins", "Area Code", "Phone", "State"):
            try:
                changed = df.astype({column: dtype})
            except (TypeError, ValueError):
                continue
            assert_same_everywhere(changed, csv=False, records=False)
    for dtype in ("category", "string[python]", "string", "bool", "complex128"):
        for column in ("Day Calls", "Eve Mins", "Churn?", "Phone"):
            try:
                changed = df.astype({column: dtype})
            except (TypeError, ValueError):
                continue
            assert_same_everywhere(changed, csv=False, records=False)
    nullable = df.astype({"Night Calls": "Int64"})
    nullable.loc[5, "Night Calls"] = pd.NA
    assert_same_everywhere(nullable)
    text = df.astype(str)  # number columns of text in other containers
    for column in ("Day Calls", "Eve Mins"):
        for values in (text[column].astype("category"), text[column].map(np.str_).astype(object)):
            assert_same_everywhere(text.assign(**{column: values}), csv=False, records=False)
        missing = text[column].copy()
        missing.iloc[3] = None
        assert_same_everywhere(text.assign(**{column: missing}), csv=False, records=False)


def test_duplicated_columns_are_named():
    df = generate_churn("dup", 150)
    for column in ("State", "Day Mins", "Day Calls"):
        twice = pd.concat([df, df[[column]]], axis=1)
        for check in (schema.validate, schema.validate_records):
            with pytest.raises(schema.DataError, match=re.escape(f"column(s) [{column!r}] appear")):
                check(twice)


def test_today_scalar_rules_hold():
    """The module's check_cell is today's rule on every hostile text (float() decides numbers:
    '1_000', '١٢', '+5', 'Infinity' and '1e3' as Python reads them)."""
    for column in schema.COLUMNS:
        for value in NUMBERS + TEXTS:
            text = schema.cell_text(value)
            assert (schema.check_cell(column, text) is None) == frozen_check(column, text), (
                column,
                text,
            )
    assert schema.check_cell("Day Calls", "1_000") is None
    assert schema.check_cell("Day Mins", "\u0661\u0662.\u0665") is None
    assert schema.check_cell("Day Mins", "-0.5") == "a number >= 0"
    assert schema.check_cell("Area Code", "415.0") is None


def test_a_wrong_fast_path_is_caught(monkeypatch):
    """The comparisons above fail when a vectorised check vouches for a bad value."""
    df = generate_churn("wrong", 150)
    df.loc[9, "Day Mins"] = -2.5
    monkeypatch.setattr(schema, "_good_numbers", lambda ok, numbers: np.ones(len(numbers), bool))
    with pytest.raises(AssertionError):
        assert_same_everywhere(df, csv=False)
    text = df.astype(str)
    text.loc[9, "Day Mins"] = "-2.5"
    monkeypatch.setattr(schema, "_all_good", lambda ok, texts: True)
    with pytest.raises(AssertionError):
        assert_same_everywhere(text, csv=False)
