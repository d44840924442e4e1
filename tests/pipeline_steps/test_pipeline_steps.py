"""The pipeline's job scripts on generated churn data, run as the jobs run them (subprocess)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from helpers.data import generate_churn
from pipeline_steps import evaluate, inference, preprocess, train

STEPS = Path(preprocess.__file__).parent


def churn(tenant: str, rows: int = 2000) -> pd.DataFrame:
    return generate_churn(tenant, rows=rows)


def run_script(name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(STEPS / f"{name}.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def run_all(tmp: Path, tenant: str, rows: int = 2000, hp: dict | None = None) -> dict:
    """preprocess -> train -> evaluate as three separate processes; return evaluation.json."""
    (tmp / "raw").mkdir(parents=True)
    churn(tenant, rows).to_csv(tmp / "raw" / "churn.csv", index=False)
    proc = run_script(
        "preprocess", "--input-dir", str(tmp / "raw"), "--output-dir", str(tmp / "out")
    )
    assert proc.returncode == 0, proc.stderr
    hp_args = [a for k, v in (hp or {}).items() for a in (f"--{k}", str(v))]
    proc = run_script(
        "train",
        *hp_args,
        env={
            "SM_CHANNEL_TRAIN": str(tmp / "out" / "train"),
            "SM_CHANNEL_VALIDATION": str(tmp / "out" / "validation"),
            "SM_MODEL_DIR": str(tmp / "model"),
            "SM_HP_NUM_ROUND": "30",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "validation-auc" in proc.stdout
    with tarfile.open(tmp / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp / "model" / train.MODEL_FILE, arcname=train.MODEL_FILE)
    (tmp / "artifact").mkdir()
    (tmp / "model.tar.gz").rename(tmp / "artifact" / "model.tar.gz")
    proc = run_script(
        "evaluate",
        "--model-dir",
        str(tmp / "artifact"),
        "--test-dir",
        str(tmp / "out" / "test"),
        "--output-dir",
        str(tmp / "evaluation"),
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp / "evaluation" / "evaluation.json").read_text())


def test_preprocess_writes_label_first_splits_without_header(tmp_path):
    churn("acme", 1000).to_csv(tmp_path / "churn.csv", index=False)
    counts = preprocess.run(tmp_path, tmp_path / "out")
    assert counts == {"train": 700, "validation": 200, "test": 100}
    names = json.loads((tmp_path / "out" / "test" / "features.json").read_text())
    assert "Phone" not in " ".join(names) and "State_CA" in names and "Area Code_415" in names
    for split, rows in counts.items():
        frame = pd.read_csv(tmp_path / "out" / split / f"{split}.csv", header=None)
        assert frame.shape == (rows, 1 + len(names))
        assert set(frame[0]) <= {0, 1}
        assert frame.notna().all().all()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda df: df.drop(columns=["Day Mins"]), "missing column(s) ['Day Mins']"),
        (
            lambda df: df.assign(**{"Churn?": "maybe"}),
            "column 'Churn?', row 1 (line 2): bad value 'maybe', expected 'True.' or 'False.'",
        ),
        (
            lambda df: df.assign(**{"Eve Calls": "lots"}),
            "column 'Eve Calls', row 1 (line 2): bad value 'lots', expected a whole number >= 0",
        ),
        (lambda df: df.head(10), "only 10 rows"),
        (lambda df: df.assign(State="X1"), "column 'State', row 1 (line 2): bad value 'X1'"),
        (
            lambda df: df.assign(**{"Churn?": "False."}),
            "column 'Churn?' has 0 row(s) of class 'True.' in 300 rows",
        ),
    ],
)
def test_preprocess_rejects_bad_data_naming_the_problem(tmp_path, mutate, message):
    mutate(churn("acme", 300)).to_csv(tmp_path / "churn.csv", index=False)
    proc = run_script(
        "preprocess",
        "--input-dir",
        str(tmp_path),
        "--output-dir",
        str(tmp_path / "out"),
        "--failure-file",
        str(tmp_path / "message"),
    )
    assert proc.returncode == 1
    assert "bad input data" in proc.stderr and message in proc.stderr
    assert message in (tmp_path / "message").read_text()
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_preprocess_rejects_missing_and_garbage_files(tmp_path):
    proc = run_script(
        "preprocess", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")
    )
    assert proc.returncode == 1 and "no CSV file found" in proc.stderr
    (tmp_path / "churn.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x01")
    proc = run_script(
        "preprocess", "--input-dir", str(tmp_path), "--output-dir", str(tmp_path / "out")
    )
    assert proc.returncode == 1 and "bad input data" in proc.stderr


@pytest.mark.slow
def test_scripts_chain_gives_sane_metrics_and_models_differ_per_tenant(tmp_path):
    reports = {t: run_all(tmp_path / t, t) for t in ("acme", "globex")}
    for report in reports.values():
        m = report["binary_classification_metrics"]
        assert 0.7 <= m["accuracy"]["value"] <= 1.0
        assert 0.6 <= m["auc"]["value"] <= 1.0
        assert 0.0 <= m["precision"]["value"] <= 1.0 and 0.0 <= m["recall"]["value"] <= 1.0
        cm = m["confusion_matrix"]
        assert sum(cm[a][p] for a in "01" for p in "01") == report["test_rows"] == 200
        roc = m["receiver_operating_characteristic_curve"]
        assert roc["false_positive_rates"][0] == 0.0 and roc["true_positive_rates"][-1] == 1.0
        assert report["feature_importance"] and all(
            not k.startswith("f") or k in preprocess.feature_names()
            for k in report["feature_importance"]
        )
    acme, globex = (reports[t]["binary_classification_metrics"] for t in ("acme", "globex"))
    assert (acme["auc"]["value"], acme["accuracy"]["value"]) != (
        globex["auc"]["value"],
        globex["accuracy"]["value"],
    )
    models = [(tmp_path / t / "model" / "xgboost-model").read_bytes() for t in ("acme", "globex")]
    assert models[0] != models[1]


@pytest.mark.slow
def test_train_hyperparameters_from_command_line_change_the_model(tmp_path):
    churn("acme", 600).to_csv(tmp_path / "churn.csv", index=False)
    preprocess.run(tmp_path, tmp_path / "out")
    for depth in ("2", "6"):
        proc = run_script(
            "train",
            "--max_depth",
            depth,
            "--num_round",
            "5",
            env={
                "SM_CHANNEL_TRAIN": str(tmp_path / "out" / "train"),
                "SM_MODEL_DIR": str(tmp_path / f"model{depth}"),
            },
        )
        assert proc.returncode == 0, proc.stderr
    shallow = inference.model_fn(str(tmp_path / "model2")).booster
    deep = inference.model_fn(str(tmp_path / "model6")).booster
    assert shallow.save_raw() != deep.save_raw()

    def depth(booster):
        return max(line.count("\t") for tree in booster.get_dump() for line in tree.splitlines())

    assert depth(shallow) <= 2 < depth(deep)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inference")
    churn("acme", 600).to_csv(tmp / "churn.csv", index=False)
    preprocess.run(tmp, tmp / "out")
    train.train(tmp / "out" / "train", tmp / "model", {"num_round": 10})
    return tmp


def raw_sample(model_dir: Path) -> dict:
    return json.loads((model_dir / "out" / "test" / "sample.json").read_text())


def sample_records(model_dir: Path) -> list[dict]:
    """The raw test records Preprocess kept, keyed by column name."""
    sample = raw_sample(model_dir)
    return [dict(zip(sample["columns"], row, strict=True)) for row in sample["rows"]]


def test_inference_handlers_answer_csv_and_json(model_dir):
    model = inference.model_fn(str(model_dir / "model"))
    sample = raw_sample(model_dir)
    rows = pd.DataFrame(sample["rows"][:5], columns=sample["columns"])
    body = rows.to_csv(header=False, index=False)
    csv_probs, ctype = inference.output_fn(
        inference.predict_fn(inference.input_fn(body, "text/csv"), model), "text/csv"
    )
    assert ctype == "text/csv"
    values = [float(v) for v in csv_probs.splitlines()]
    assert len(values) == 5 and all(0.0 <= v <= 1.0 for v in values)
    doc = json.dumps({"instances": rows.to_dict(orient="records")}).encode()
    out, ctype = inference.output_fn(
        inference.predict_fn(inference.input_fn(doc, "application/json"), model), "application/json"
    )
    assert ctype == "application/json"
    assert json.loads(out)["predictions"] == pytest.approx(values, abs=1e-5)
    single = inference.input_fn(json.dumps(rows.iloc[0].to_dict()), "application/json")
    assert inference.predict_fn(single, model)[0] == pytest.approx(values[0], abs=1e-5)
    with_header = inference.input_fn(rows.to_csv(index=False), "text/csv")
    assert inference.predict_fn(with_header, model).tolist() == pytest.approx(values, abs=1e-6)


def test_json_lines_are_several_records_as_a_batch_transform_sends_them(model_dir):
    """A MultiRecord batch of JSON Lines (as application/json or application/jsonlines)
    scores as the same records in one JSON list; a broken line is named."""
    model = inference.model_fn(str(model_dir / "model"))
    records = sample_records(model_dir)[:4]
    lines = "\n".join(json.dumps(r) for r in records) + "\n"
    expected = inference.predict_fn(inference.input_fn(json.dumps(records), JSON), model)
    for ctype in (JSON, "application/jsonlines"):
        got = inference.predict_fn(inference.input_fn(lines, ctype), model)
        np.testing.assert_array_equal(got, expected)
    broken = lines.replace(json.dumps(records[2]), "{oops")
    with pytest.raises(ValueError, match="line 3: malformed JSON record"):
        inference.input_fn(broken, "application/jsonlines")


def test_raw_records_score_exactly_as_their_preprocessed_vectors(model_dir):
    """No train/serve skew: the endpoint's transform of raw records gives the training features."""
    model = inference.model_fn(str(model_dir / "model"))
    sample = raw_sample(model_dir)
    test = pd.read_csv(model_dir / "out" / "test" / "test.csv", header=None)
    n = len(sample["rows"])
    assert test.iloc[:n, 0].tolist() == sample["labels"]
    vectors = test.iloc[:n, 1:].to_numpy(dtype=np.float32)
    records = inference.input_fn("\n".join(sample_lines(sample)), "text/csv")
    np.testing.assert_array_equal(
        inference.to_features(records, model.params).astype(np.float32), vectors
    )
    expected = model.booster.predict(xgb.DMatrix(vectors))
    np.testing.assert_array_equal(inference.predict_fn(records, model), expected)


def test_csv_bodies_with_any_line_end_score_alike_and_broken_ones_are_named(model_dir):
    """\r\n and old Mac \r line ends read as \n ones; a stray \r or a NUL inside a record is a
    RecordError naming the problem (the csv module raised its own error: a 500)."""
    model = inference.model_fn(str(model_dir / "model"))
    lines = sample_lines(raw_sample(model_dir))[:4]
    expected = inference.predict_fn(inference.input_fn("\n".join(lines), "text/csv"), model)
    for end in ("\r\n", "\r"):
        body = end.join(lines) + end
        got = inference.predict_fn(inference.input_fn(body.encode(), "text/csv"), model)
        np.testing.assert_array_equal(got, expected)
    cut = lines[1].replace(",", ",\r", 1)  # one record broken in two
    with pytest.raises(inference.RecordError, match="record 2 has 2 fields; expected 20"):
        inference.predict_fn(inference.input_fn("\n".join([lines[0], cut]), "text/csv"), model)
    with pytest.raises(inference.RecordError, match="record 1, field 'State': bad value"):
        inference.predict_fn(inference.input_fn("\x00" + lines[0], "text/csv"), model)


def test_json_lines_split_on_newlines_only(model_dir):
    """A raw U+2028 inside a JSON string is part of the value (JSON Lines' separator is \n),
    so the bad field is named, not a broken line."""
    model = inference.model_fn(str(model_dir / "model"))
    records = sample_records(model_dir)[:2]
    records[1]["State"] = "K\u2028S"
    body = "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    with pytest.raises(inference.RecordError, match="record 2, field 'State': bad value"):
        inference.predict_fn(inference.input_fn(body, "application/jsonlines"), model)


def sample_lines(sample: dict) -> list[str]:
    buffer = io.StringIO()
    pd.DataFrame(sample["rows"]).to_csv(buffer, header=False, index=False)
    return buffer.getvalue().splitlines()


def test_unseen_categories_at_serving_encode_as_no_known_category(model_dir):
    model = inference.model_fn(str(model_dir / "model"))
    unseen = {**sample_records(model_dir)[0], "State": "ZZ", "Area Code": "999"}
    x = inference.to_features(inference.input_fn(json.dumps(unseen), JSON), model.params)
    names = model.params["feature_names"]
    assert not any(x[0, names.index(n)] for n in names if n.startswith(("State_", "Area Code_")))
    probability = inference.predict_fn(inference.input_fn(json.dumps(unseen), JSON), model)
    assert 0.0 <= float(probability[0]) <= 1.0


JSON = "application/json"


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        ("KS,128", "text/csv", "record 1 has 2 fields; expected 20"),
        ("", "text/csv", "empty text/csv body"),
        ("{not json", JSON, "malformed application/json body"),
        ('{"rows": []}', JSON, "record 1: missing field 'Account Length'"),
        ("[[1, 2], [3]]", JSON, "record 1 has 2 fields; expected 20"),
        ('[{"State": "KS"}, 3]', JSON, "record 2 is int: records are objects keyed by column"),
        ("1,2", "application/x-npy", "unsupported content type"),
        ("[]", JSON, "must be a record, a list of records"),
    ],
)
def test_inference_rejects_malformed_bodies(model_dir, body, ctype, message):
    model = inference.model_fn(str(model_dir / "model"))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        inference.predict_fn(inference.input_fn(body, ctype), model)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("Day Mins", "lots", "expected a number >= 0"),
        ("Intl Calls", -1, "expected a whole number >= 0"),
        ("Int'l Plan", "maybe", "expected 'yes' or 'no'"),
        ("State", "x" * 500, "expected at most 100 characters"),
        ("VMail Message", None, "expected a whole number >= 0"),
        ("Eve Mins", float("nan"), "expected a number >= 0"),
        ("Night Mins", float("inf"), "expected a number >= 0"),
        ("Phone", "\ud800", "expected valid Unicode text"),  # JSON's lone "\ud800" escape
        ("State", [1, 2], "expected a two-letter state code"),
    ],
)
def test_a_bad_field_is_named_with_its_record(model_dir, field, value, expected):
    model = inference.model_fn(str(model_dir / "model"))
    records = sample_records(model_dir)[:3]
    records[1][field] = value
    with pytest.raises(inference.RecordError, match=f"record 2, field {field!r}: bad value") as err:
        inference.predict_fn(inference.input_fn(json.dumps(records), JSON), model)
    assert expected in str(err.value)


def test_evaluate_reads_bare_model_file(model_dir):
    report = evaluate.evaluate(evaluate.load_model(model_dir / "model"), model_dir / "out" / "test")
    assert report["test_rows"] == 60


@pytest.mark.parametrize("threshold", [0.5, 0.0, 0.8, 1.5])  # 0.0: all positive; 1.5: none
@pytest.mark.parametrize("labels", ["mixed", "ones", "zeros"])
def test_evaluate_scores_are_scikit_learns(tmp_path, threshold, labels):
    """Scores from the confusion matrix and the ROC curve equal scikit-learn's own functions,
    the zero_division=0 cases (no predicted or no actual positive) included."""
    from sklearn import metrics

    rng = np.random.default_rng(len(labels) * 10 + int(threshold * 10))
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] + rng.normal(scale=1.5, size=400) > 0).astype(int)
    booster = xgb.train({"max_depth": 2, "seed": 1}, xgb.DMatrix(x[:300], label=y[:300]), 5)
    test_y = {"mixed": y[300:], "ones": np.ones(100, int), "zeros": np.zeros(100, int)}[labels]
    (tmp_path / "test").mkdir()
    pd.DataFrame(np.column_stack([test_y, x[300:]])).to_csv(
        tmp_path / "test" / "test.csv", header=False, index=False
    )
    report = evaluate.evaluate(booster, tmp_path / "test", threshold)
    proba = booster.predict(xgb.DMatrix(x[300:].astype(np.float32)))
    pred = (proba >= threshold).astype(int)
    expected = {
        "accuracy": metrics.accuracy_score(test_y, pred),
        "precision": metrics.precision_score(test_y, pred, zero_division=0),
        "recall": metrics.recall_score(test_y, pred, zero_division=0),
        "f1": metrics.f1_score(test_y, pred, zero_division=0),
    }
    if labels == "mixed":
        expected["auc"] = metrics.roc_auc_score(test_y, proba)
    scores = report["binary_classification_metrics"]
    assert {k: scores[k]["value"] for k in expected} == {
        k: round(float(v), 6) for k, v in expected.items()
    }
    if labels != "mixed":
        assert np.isnan(scores["auc"]["value"])


def test_plots_render_the_report_and_colour_steps_by_status(model_dir):
    import io

    from matplotlib.colors import to_hex

    from helpers import plots

    report = evaluate.evaluate(evaluate.load_model(model_dir / "model"), model_dir / "out" / "test")
    for figure in (
        plots.roc_curve(report),
        plots.confusion_matrix(report),
        plots.feature_importance(report),
    ):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG")
    graph = plots.pipeline_graph({"Preprocess": "Succeeded", "Train": "Failed"})
    colours = [to_hex(p.get_facecolor(), keep_alpha=False) for p in graph.axes[0].patches]
    assert colours[:3] == [
        plots.STATUS_COLORS[s].lower() for s in ("Succeeded", "Failed", "Not run")
    ]
