"""The data rules (churn_schema), the learned features (churn_features), the hyperparameter
bounds and the registration gate, on the demo data and on a second data shape."""

from __future__ import annotations

import codecs
import json
import re

import numpy as np
import pandas as pd
import pytest
from data_shapes import AREA_CODES, STATES, other_shape, padded_csv_files

from helpers.data import generate_churn
from pipeline_steps import churn_features, churn_schema, evaluate, preprocess
from pipeline_steps.hyperparameters import BOUNDS, check_hyperparameters


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def read(*files: bytes) -> pd.DataFrame:
    return churn_schema.read_and_validate(list(files))[0]


def test_other_shape_in_several_padded_files_reads_as_the_same_data():
    df = other_shape(600)
    data = read(*padded_csv_files(df, parts=3))
    assert list(data.columns) == churn_schema.COLUMNS and len(data) == 600
    assert data["State"].iloc[0] == df["State"].iloc[0]  # whitespace stripped
    assert data["Day Mins"].tolist() == df["Day Mins"].astype(str).tolist()
    assert set(data["Area Code"]) == {str(a) for a in AREA_CODES}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("utf-16", "is UTF-16 text (it starts with a UTF-16 byte order mark); save it as UTF-8"),
        ("latin-1", "is not UTF-8: byte 0xe9 on line 3 is not valid UTF-8 (Latin-1"),
        ("binary", "holds a NUL byte (line 3): it is binary data or UTF-16/32 text"),
    ],
)
def test_encodings_other_than_utf8_are_named(raw, message):
    text = csv_bytes(generate_churn("acme", 200)).decode()
    if raw == "utf-16":
        body = text.encode("utf-16")
    elif raw == "latin-1":
        lines = text.split("\n")
        lines[2] = lines[2].replace(lines[2].split(",")[0], "Qu\xe9bec", 1)
        body = "\n".join(lines).encode("latin-1")
    else:
        body = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    with pytest.raises(churn_schema.DataError, match=re.escape(message)):
        read(body)


def test_utf8_with_a_byte_order_mark_is_accepted():
    data = read(codecs.BOM_UTF8 + csv_bytes(generate_churn("acme", 200)))
    assert list(data.columns) == churn_schema.COLUMNS


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.assign(**{"Churn?": "False."}), "0 row(s) of class 'True.' in 300 rows"),
        (lambda df: df.head(99), "only 99 rows; at least 100 are needed"),
        (
            lambda df: df.assign(**{"Churn?": ["True."] * 5 + ["False."] * 295}),
            "5 row(s) of class 'True.'",
        ),
        (
            lambda df: df.astype({"Phone": object}).assign(Phone=["1" * 20_000_000] + ["x"] * 299),
            "column 'Phone', row 1 (line 2): bad value '1111",
        ),
    ],
)
def test_one_class_too_few_rows_and_oversized_cells_are_refused(mutate, message):
    with pytest.raises(churn_schema.DataError, match=re.escape(message)):
        read(csv_bytes(mutate(generate_churn("acme", 300))))


def test_oversized_cell_message_says_the_limit():
    df = generate_churn("acme", 300).astype({"State": object})
    df.loc[4, "State"] = "Y" * 5000
    with pytest.raises(churn_schema.DataError, match="at most 100 characters \\(got 5000\\)"):
        read(csv_bytes(df))


def test_a_later_file_with_other_widths_or_a_first_file_without_header_is_refused():
    files = padded_csv_files(other_shape(300), parts=2)
    broken = b"\n".join(line + b",extra" for line in files[1].splitlines())
    with pytest.raises(churn_schema.DataError, match="has 22 fields per row but the header"):
        read(files[0], broken)
    with pytest.raises(churn_schema.DataError, match="the first file must start with a header"):
        read(files[1], files[0])


def _with_cells(df: pd.DataFrame, column: str, cells: list) -> pd.DataFrame:
    """`df` with its last len(cells) cells of `column` replaced (an object column)."""
    df = df.astype({column: object})
    values = df[column].tolist()
    values[len(values) - len(cells) :] = cells
    df[column] = pd.Series(values, index=df.index, dtype=object)
    return df


@pytest.mark.parametrize(
    ("column", "cells", "row", "value"),
    [
        ("Account Length", [b"12"], 300, "\"b'12'\", expected a whole number"),
        ("State", [b"KS"], 300, "\"b'KS'\", expected a two-letter state code"),
        ("State", ["\ud800"], 300, "'\\ud800', expected valid Unicode text"),
        ("Account Length", ["\udfff", 5], 299, "'\\udfff', expected valid Unicode text"),
        ("Phone", ["\ud83d"], 300, "'\\ud83d', expected valid Unicode text"),
        ("Day Mins", [[1, 2]], 300, "'[1, 2]', expected a number >= 0"),
        ("Int'l Plan", [{"a": 1}], 300, "\"{'a': 1}\", expected 'yes' or 'no'"),
        ("Day Calls", [True, 1], 299, "'True', expected a whole number"),
    ],
)
def test_cells_no_csv_holds_are_named_not_crashed_on(column, cells, row, value):
    """Bytes, lone surrogates, lists, dicts and bools in a DataFrame's object columns: each is
    a bad value named by its cell, in the upload's checks as in a batch's."""
    df = _with_cells(generate_churn("acme", 300), column, cells)
    message = f"column {column!r}, row {row} (line {row + 1}): bad value {value}"
    with pytest.raises(churn_schema.DataError, match=re.escape(message)):
        churn_schema.validate(df)
    with pytest.raises(churn_schema.DataError, match=re.escape(message)):
        churn_schema.validate_records(df.drop(columns=churn_schema.LABEL))


def test_mixed_cells_that_are_good_values_read_as_their_text():
    df = _with_cells(generate_churn("acme", 300), "Day Calls", [7, 8.0, " 9 "])
    text = churn_schema.validate(df)
    assert text["Day Calls"].tolist()[-3:] == ["7", "8", "9"]
    assert text["Day Calls"].tolist()[:-3] == df["Day Calls"].astype(str).tolist()[:-3]


@pytest.mark.parametrize("records", [False, True])
def test_a_column_named_twice_is_named(records):
    df = generate_churn("acme", 300)
    if records:
        df = df.drop(columns=churn_schema.LABEL)
    twice = pd.concat([df, df[["State"]].rename(columns={"State": " State "})], axis=1)
    check = churn_schema.validate_records if records else churn_schema.validate
    with pytest.raises(churn_schema.DataError, match=re.escape("column(s) ['State'] appear more")):
        check(twice)
    header = ",".join([*churn_schema.COLUMNS[:-1], "Day Mins"]).encode()
    body = csv_bytes(generate_churn("acme", 300)).split(b"\n", 1)[1]
    twice = "the header of the file names column(s) ['Day Mins'] more than once"
    with pytest.raises(churn_schema.DataError, match=re.escape(twice)):
        read(header + b"\n" + body)
    # a later file's header: found before the files are joined (pandas cannot join them)
    first = csv_bytes(generate_churn("acme", 300))
    with pytest.raises(churn_schema.DataError, match=re.escape(twice)):
        read(first, header + b"\n" + body)


def test_json_lines_records_with_a_lone_surrogate_or_a_list_are_named(tmp_path):
    from helpers import batch

    good = generate_churn("acme", 3).drop(columns=churn_schema.LABEL).to_dict("records")
    for field, value, message in [
        (
            "State",
            "\ud800",
            "column 'State', record 3 (line 4): bad value '\\ud800', expected valid",
        ),
        (
            "Phone",
            "\udc00",
            "column 'Phone', record 3 (line 4): bad value '\\udc00', expected valid",
        ),
        ("Eve Calls", [3], "column 'Eve Calls', record 3 (line 4): bad value '[3]'"),
    ]:
        # json.dumps writes a lone surrogate as its escape, as a hostile file would
        lines = [json.dumps(r) for r in [*good[:2], dict(good[2], **{field: value})]]
        lines.insert(1, "")  # a blank line: skipped, yet counted in the line named
        path = tmp_path / "records.jsonl"
        path.write_text("\n".join(lines))
        with pytest.raises(churn_schema.DataError, match=re.escape(message)):
            batch.read_records(path)
    emoji = dict(good[2], Phone="\U0001f600")  # a surrogate pair in JSON: one character
    path.write_text("\n".join(json.dumps(r) for r in [*good[:2], emoji]))
    assert batch.read_records(path)[0]["Phone"].iloc[2] == "\U0001f600"


def test_features_learn_the_categories_of_the_training_split_only():
    text = read(*padded_csv_files(other_shape(900)))
    train, held_out = text.iloc[:600], text.iloc[600:].copy()
    transformer, params = churn_features.fit(train, churn_schema.COLUMNS)
    assert params["categories"]["State"] == sorted(set(train["State"]))
    assert set(params["categories"]["Area Code"]) == {str(a) for a in AREA_CODES}
    assert params["input_columns"] == churn_schema.INPUT_COLUMNS
    held_out.loc[held_out.index[:5], "State"] = "ZZ"  # never seen in training
    held_out.loc[held_out.index[5:9], "Area Code"] = "999"
    churn_features.check_same(transformer, params, held_out)  # sklearn == the JSON transform
    expected = transformer.transform(churn_features.typed(held_out))
    actual = churn_features.transform(json.loads(json.dumps(params)), held_out)
    np.testing.assert_array_equal(actual, expected)
    state_columns = [i for i, n in enumerate(params["feature_names"]) if n.startswith("State_")]
    assert not actual[:5, state_columns].any() and actual[5:, state_columns].sum(axis=1).all()


def test_preprocess_trains_on_the_other_shape_from_several_files(tmp_path):
    for i, body in enumerate(padded_csv_files(other_shape(3000), parts=3)):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"part-{i}.csv").write_bytes(body)
    counts = preprocess.run(tmp_path / "in", tmp_path / "out")
    assert counts == {"train": 2100, "validation": 600, "test": 300}
    params = json.loads((tmp_path / "out" / "train" / "preprocessing.json").read_text())
    assert set(params["categories"]["State"]) == set(STATES)
    sample = json.loads((tmp_path / "out" / "test" / "sample.json").read_text())
    assert sample["columns"] == churn_schema.INPUT_COLUMNS and len(sample["rows"]) == 20
    assert sample["csv"] == ",".join(sample["rows"][0]) and sample["label"] in ("0", "1")


def test_hyperparameter_bounds():
    assert check_hyperparameters({"max_depth": "6", "eta": 0.3, "num_round": 10.0}) == {
        "max_depth": 6,
        "eta": 0.3,
        "num_round": 10,
    }
    for name, value, expected in [
        ("max_depth", -3, "an integer in [0, inf)"),
        ("max_depth", 2.5, "an integer in [0, inf)"),
        ("eta", 1.5, "a number in [0, 1]"),
        ("subsample", 0, "a number in (0, 1]"),
        ("num_round", 0, "an integer in [1, inf)"),
        ("gamma", "abc", "a number in [0, inf)"),
        ("min_child_weight", float("nan"), "a number in [0, inf)"),
        ("eta", True, "a number in [0, 1]"),
    ]:
        with pytest.raises(ValueError, match=f"hyperparameter {name}=.* expected") as err:
            check_hyperparameters({name: value})
        assert expected in str(err.value)
    with pytest.raises(ValueError, match="unknown hyperparameter 'depth'"):
        check_hyperparameters({"depth": 3})
    assert check_hyperparameters({"objective": "binary:logistic"}, known_only=False)
    assert set(BOUNDS) >= {"max_depth", "eta", "gamma", "min_child_weight", "subsample"}


def report(accuracy: float, baseline: float, classes: int = 2) -> dict:
    return {
        "binary_classification_metrics": {
            "accuracy": {"value": accuracy},
            "majority_baseline_accuracy": {"value": baseline},
        },
        "test_classes": classes,
    }


def test_the_gate_needs_the_threshold_the_baseline_and_both_classes():
    assert evaluate.threshold_check(report(0.86, 0.75), 0.8)["passed"]
    below_bar = evaluate.threshold_check(report(0.78, 0.65), 0.8)
    assert not below_bar["passed"] and below_bar["shortfall"] == pytest.approx(0.02)
    at_baseline = evaluate.threshold_check(report(0.9, 0.9), 0.8)
    assert not at_baseline["passed"] and not at_baseline["beats_baseline"]
    one_class = evaluate.threshold_check(report(1.0, 1.0, classes=1), 0.8)
    assert not one_class["passed"] and not one_class["both_classes"]


def test_json_lines_records_split_on_newlines_only(tmp_path):
    """A raw U+2028 inside a JSON string is part of the value, not a line break."""
    from helpers import batch

    good = generate_churn("acme", 2).drop(columns=churn_schema.LABEL).to_dict("records")
    path = tmp_path / "records.jsonl"
    records = [good[0], dict(good[1], State="K\u2028S")]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records))
    with pytest.raises(churn_schema.DataError, match=r"column 'State', record 2 \(line 2\)"):
        batch.read_records(path)


def test_a_bad_cell_in_one_of_several_files_is_named_with_its_file_and_line(tmp_path):
    """Rows count through all the files; the line is the bad row's own file's."""
    lines = csv_bytes(generate_churn("acme", 300)).decode().splitlines()
    header, rows = lines[0], lines[1:]
    bad = rows[249].split(",")
    bad[7] = "lots"  # Day Mins
    rows[249] = ",".join(bad)
    parts = {"a.csv": [header, *rows[:100]], "b.csv": rows[100:200], "c.csv": [header, *rows[200:]]}
    for name, part in parts.items():
        (tmp_path / name).write_text("\n".join(part) + "\n")
    expected = "column 'Day Mins', row 250 (c.csv, line 51): bad value 'lots'"
    with pytest.raises(churn_schema.DataError, match=re.escape(expected)):
        churn_schema.read_and_validate(sorted(tmp_path.glob("*.csv")))
    # one file: rows and lines as before
    with pytest.raises(churn_schema.DataError, match=re.escape("row 250 (line 251): bad value")):
        read("\n".join([header, *rows]).encode())
