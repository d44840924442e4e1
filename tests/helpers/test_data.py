"""Per-tenant churn data: schema, determinism, tenant differences, validation and upload."""

from __future__ import annotations

import hashlib
import io
import uuid

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from sklearn.metrics import roc_auc_score

from helpers import data
from helpers.naming import InvalidTenantId


def features(df: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    x = df.drop(columns=["State", "Phone", data.TARGET]).copy()
    for column in ("Int'l Plan", "VMail Plan"):
        x[column] = (x[column] == "yes").astype(int)
    return x, (df[data.TARGET] == "True.").to_numpy(dtype=int)


def test_schema_and_values():
    df = data.generate_churn("acme", rows=2000)
    assert list(df.columns) == data.COLUMNS and len(df) == 2000
    assert set(df[data.TARGET]) == {"True.", "False."}
    assert 0.08 <= (df[data.TARGET] == "True.").mean() <= 0.3
    assert set(df["Int'l Plan"]) <= {"yes", "no"} and set(df["Area Code"]) <= {408, 415, 510}
    assert (df.loc[df["VMail Plan"] == "no", "VMail Message"] == 0).all()
    np.testing.assert_allclose(df["Day Charge"], (df["Day Mins"] * 0.17).round(2))
    data.validate_churn(df)


# SHA-256 of the uploaded CSV of `generate_churn(tenant, rows)`, as the generator, validation
# and CSV writer of commit 86e4b14 made it: faster code must keep every tenant's data the same.
UPLOADED_SHA256 = {
    ("acme", 5000): "12f0b4da7e167edc3a384b2c77d3b59b90bbb47b8325811f1bc1d91d1fcbfcf3",
    ("scale-0007", 5000): "87f09fe9b84d31c64d7c0d85204b19c636229c16abbd250d9cf1a77f5447ecb0",
    ("globex", 137): "595d758427123d9428f9c62b26905775796863395bc99863194d99c3674a3686",
}


@pytest.mark.parametrize(("tenant", "rows"), list(UPLOADED_SHA256), ids=str)
def test_same_seed_gives_the_same_uploaded_bytes(clients, tenant, rows):
    s3 = clients("s3")
    bucket = f"data-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    data.upload_churn(s3, bucket, data.generate_churn(tenant, rows))
    body = s3.get_object(Bucket=bucket, Key="data/raw/churn.csv")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == UPLOADED_SHA256[(tenant, rows)]


def test_csv_writer_writes_what_pandas_writes():
    """Cells that need quoting (commas, quotes, line breaks) and ones that do not."""
    cells = ["plain", "a,b", 'say "hi"', "two\nlines", "cr\rhere", "", " padded ", "é", "'"]
    rng = np.random.default_rng(7)
    df = pd.DataFrame({f"c{i},{i}": rng.choice(cells, 200).tolist() for i in range(4)})
    assert data.to_csv_bytes(df) == df.to_csv(index=False).encode()


def test_numbers_validate_as_the_text_they_stand_for():
    """Whole floats read as integers, others as Python writes them; NaN, infinities, negative
    zero and huge numbers as cell_text makes them (each distinct value converted once)."""
    from pipeline_steps import churn_schema as schema

    values = [0.0, -0.0, 1.0, 2.5, 0.1 + 0.2, np.nan, np.inf, 1e15, 1e16, 123456789.125, 2.5]
    column = pd.Series(values, index=range(10, 21))
    expected = pd.Series([schema.cell_text(v) for v in values], index=column.index, dtype=object)
    pd.testing.assert_series_equal(schema._text(column), expected)
    ints = pd.Series([3, 0, -4, 3], dtype="int64")
    assert schema._text(ints).tolist() == ["3", "0", "-4", "3"]
    df = data.generate_churn("acme", 200).astype({"Day Mins": float})
    df.loc[41, "Day Mins"] = np.nan
    with pytest.raises(data.DataValidationError, match="'Day Mins', row 42 .* bad value 'nan'"):
        data.validate_churn(df)


def test_deterministic_per_tenant_and_different_between_tenants():
    first, again = data.generate_churn("acme", 500), data.generate_churn("acme", 500)
    pd.testing.assert_frame_equal(first, again)
    assert not data.generate_churn("acme", 500).equals(data.generate_churn("globex", 500))
    assert data.tenant_weights("acme") != data.tenant_weights("globex")


def test_invalid_tenant_or_rows():
    with pytest.raises(InvalidTenantId):
        data.generate_churn("Bad Tenant")
    with pytest.raises(ValueError, match="rows"):
        data.generate_churn("acme", rows=0)


def test_a_model_of_one_tenant_does_worse_on_another():
    train_x, train_y = features(data.generate_churn("acme", 4000))
    model = xgb.XGBClassifier(n_estimators=60, max_depth=4, n_jobs=1).fit(train_x, train_y)
    own_x, own_y = features(data.generate_churn("acme", 6000).iloc[4000:])
    # A fresh sample of acme (the tail of a longer draw differs from the training rows).
    other_x, other_y = features(data.generate_churn("globex", 2000))
    own_auc = roc_auc_score(own_y, model.predict_proba(own_x)[:, 1])
    other_auc = roc_auc_score(other_y, model.predict_proba(other_x)[:, 1])
    assert own_auc > 0.8
    assert other_auc < own_auc - 0.15


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def test_read_good_csv_roundtrip():
    df = data.generate_churn("acme", 200)
    back = data.read_churn_csv(csv_bytes(df))
    assert list(back.columns) == data.COLUMNS and len(back) == 200


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns=["Day Mins"]), "missing column.*'Day Mins'"),
        (lambda df: df.assign(Extra=1), "unexpected column.*'Extra'"),
        (lambda df: df.head(0), "empty"),
    ],
)
def test_structural_errors(mutate, message):
    with pytest.raises(data.DataValidationError, match=message):
        data.read_churn_csv(csv_bytes(mutate(data.generate_churn("acme", 20))))


@pytest.mark.parametrize(
    ("column", "row", "value", "expected"),
    [
        ("Churn?", 3, "maybe", "'True.' or 'False.'"),
        ("Day Mins", 7, "lots", "a number >= 0"),
        ("Day Calls", 1, "-4", "a whole number >= 0"),
        ("Int'l Plan", 12, "YES", "'yes' or 'no'"),
        ("State", 5, "", "a two-letter state code"),
    ],
)
def test_bad_value_names_column_and_row(column, row, value, expected):
    df = data.generate_churn("acme", 20).astype({column: object})
    df.loc[row - 1, column] = value
    with pytest.raises(data.DataValidationError) as err:
        data.read_churn_csv(csv_bytes(df))
    text = str(err.value)
    assert f"column {column!r}" in text and f"row {row} (line {row + 1})" in text
    assert expected in text


def test_first_bad_cell_in_reading_order_is_reported():
    df = data.generate_churn("acme", 20).astype({"Churn?": object, "Day Mins": object})
    df.loc[9, "Day Mins"] = "x"
    df.loc[4, "Churn?"] = "x"
    with pytest.raises(data.DataValidationError, match="'Churn\\?', row 5"):
        data.validate_churn(df)


def test_empty_file_and_garbage():
    with pytest.raises(data.DataValidationError, match="empty"):
        data.read_churn_csv(b"")
    with pytest.raises(data.DataValidationError, match="empty"):
        data.read_churn_csv(b"\n\n")
    with pytest.raises(data.DataValidationError, match="missing column"):
        data.read_churn_csv(b"just,some\n1,2\n")


def test_upload_validates_first_and_uploads_nothing_when_bad(clients, tmp_path):
    s3 = clients("s3")
    bucket = f"data-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    bad = data.generate_churn("acme", 10).drop(columns=["Churn?"])
    with pytest.raises(data.DataValidationError):
        data.upload_churn(s3, bucket, bad)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="data/raw/churn.csv")
    path = tmp_path / "churn.csv"
    path.write_bytes(csv_bytes(data.generate_churn("acme", 200)))
    uri = data.upload_churn(s3, bucket, path)
    assert uri == f"s3://{bucket}/data/raw/churn.csv"
    body = s3.get_object(Bucket=bucket, Key="data/raw/churn.csv")["Body"].read()
    assert data.read_churn_csv(body).shape == (200, 21)


def latin1(df: pd.DataFrame) -> bytes:
    return (
        df.assign(State=["QU"] * len(df))
        .to_csv(index=False)
        .replace("QU", "Q\xe9", 1)
        .encode("latin-1")
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            lambda: csv_bytes(data.generate_churn("acme", 300).assign(**{"Churn?": "False."})),
            "0 row(s) of class 'True.' in 300 rows: both classes are needed",
        ),
        (lambda: csv_bytes(data.generate_churn("acme", 60)), "only 60 rows; at least 100"),
        (
            lambda: csv_bytes(data.generate_churn("acme", 300)).decode().encode("utf-16"),
            "UTF-16",
        ),
        (lambda: latin1(data.generate_churn("acme", 300)), "is not UTF-8: byte 0xe9 on line 2"),
        (
            lambda: csv_bytes(
                data.generate_churn("acme", 300)
                .astype({"Phone": object})
                .assign(Phone=["5" * 20_000_000] + ["x"] * 299)
            ),
            "column 'Phone', row 1 (line 2): bad value",
        ),
    ],
    ids=["one-class", "too-few-rows", "utf-16", "latin-1", "20-MB-cell"],
)
def test_upload_refuses_bad_data_with_a_clear_error_and_uploads_nothing(
    clients, tmp_path, body, message
):
    s3 = clients("s3")
    bucket = f"data-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    path = tmp_path / "customers.csv"
    path.write_bytes(body())
    with pytest.raises(data.DataValidationError) as err:
        data.upload_churn(s3, bucket, path)
    assert message in str(err.value)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_upload_of_several_files_with_one_header_and_padded_cells(clients, tmp_path):
    from data_shapes import other_shape, padded_csv_files

    s3 = clients("s3")
    bucket = f"data-test-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    df = other_shape(400)
    paths = []
    for i, body in enumerate(padded_csv_files(df, parts=3)):
        paths.append(tmp_path / f"part-{i}.csv")
        paths[-1].write_bytes(body)
    data.upload_churn(s3, bucket, paths)
    uploaded = s3.get_object(Bucket=bucket, Key="data/raw/churn.csv")["Body"].read()
    back = pd.read_csv(io.BytesIO(uploaded), dtype=str)
    assert list(back.columns) == data.COLUMNS and len(back) == 400
    assert back["State"].tolist() == df["State"].tolist()  # whitespace stripped
    assert back["Area Code"].tolist() == df["Area Code"].astype(str).tolist()


def test_load_churn_reads_a_file_a_folder_or_generates(tmp_path):
    from data_shapes import other_shape, padded_csv_files

    assert data.load_churn("acme", rows=300).equals(data.generate_churn("acme", 300))
    df = other_shape(300)
    for i, body in enumerate(padded_csv_files(df, parts=2)):
        (tmp_path / f"part-{i}.csv").write_bytes(body)
    from_folder = data.load_churn("acme", tmp_path)
    assert len(from_folder) == 300 and from_folder["Day Mins"].tolist() == df["Day Mins"].tolist()
    assert from_folder["Account Length"].dtype.kind == "i"  # numbers as numbers, for plots
    one = data.load_churn("acme", str(tmp_path / "part-0.csv"))
    assert len(one) == 150
    data.validate_churn(from_folder)  # and it uploads as it is
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataValidationError, match="no CSV file in folder"):
        data.load_churn("acme", tmp_path / "empty")
