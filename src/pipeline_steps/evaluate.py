"""Processing job: evaluate the trained model on the test split.

Self-contained (the processing job uploads this one file). Reads model.tar.gz (holding
`xgboost-model`) from --model-dir and the label-first test CSV (+ features.json) from
--test-dir; writes `evaluation.json` to --output-dir in SageMaker's model-quality layout
(`binary_classification_metrics`: accuracy, auc, precision, recall, f1, confusion_matrix,
receiver_operating_characteristic_curve, and `majority_baseline_accuracy`: the accuracy of
always answering the test split's majority class) plus `feature_importance`, `test_classes`
and, given the pipeline's bar, `threshold_check`: the registration gate (accuracy at or above
the bar AND above the baseline, both classes in the test split).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn import metrics

MODEL_FILE = "xgboost-model"
ROC_POINTS = 101


def read_csv(path: Path) -> pd.DataFrame:
    """A header-less CSV of numbers, by pandas' C parser: at every size up to 200 MB it took
    less CPU than pyarrow's threaded reader (half at 3,500 rows), and parses the same floats."""
    return pd.read_csv(path, header=None)


def load_model(model_dir: Path) -> xgb.Booster:
    """Load the booster from model_dir/model.tar.gz, or from a bare xgboost-model file."""
    booster = xgb.Booster()
    bare = model_dir / MODEL_FILE
    if bare.exists():
        booster.load_model(bytearray(bare.read_bytes()))
        return booster
    archives = sorted(model_dir.rglob("*.tar.gz"))
    if not archives:
        raise FileNotFoundError(f"no model.tar.gz or {MODEL_FILE} under {model_dir}")
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archives[0]) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12
            tar.extractall(tmp, filter="data")
        else:
            tar.extractall(tmp)
        booster.load_model(bytearray((Path(tmp) / MODEL_FILE).read_bytes()))
    return booster


def _downsample_roc(fpr: np.ndarray, tpr: np.ndarray) -> tuple[list[float], list[float]]:
    """Keep the curve small: ROC_POINTS points evenly spaced in FPR."""
    grid = np.linspace(0.0, 1.0, ROC_POINTS)
    return grid.round(4).tolist(), np.interp(grid, fpr, tpr).round(4).tolist()


def _ratio(part: int, whole: int) -> float:
    """part / whole, 0 for an empty whole (scikit-learn's zero_division=0)."""
    return part / whole if whole else 0.0


def evaluate(model: xgb.Booster, test_dir: Path, threshold: float = 0.5) -> dict:
    files = sorted(test_dir.rglob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no test CSV under {test_dir}")
    data = pd.concat([read_csv(f) for f in files], ignore_index=True)
    y = data.iloc[:, 0].to_numpy(dtype=int)
    x = data.iloc[:, 1:].to_numpy(dtype=np.float32)
    threads = 1 if len(x) < 200_000 else (os.cpu_count() or 1)  # see train._threads
    model.set_param({"nthread": threads})
    proba = model.predict(xgb.DMatrix(x, nthread=threads))
    pred = (proba >= threshold).astype(int)
    names_file = test_dir / "features.json"
    names = json.loads(names_file.read_text()) if names_file.exists() else []
    gain = model.get_score(importance_type="gain")
    importance = {
        (names[int(k[1:])] if k[1:].isdigit() and int(k[1:]) < len(names) else k): round(v, 4)
        for k, v in sorted(gain.items(), key=lambda kv: -kv[1])
    }
    has_both = len(set(y)) == 2
    baseline = max(float(np.mean(y == 1)), float(np.mean(y == 0))) if len(y) else 1.0
    fpr, tpr, _ = metrics.roc_curve(y, proba) if has_both else ([0, 1], [0, 1], None)
    roc_fpr, roc_tpr = _downsample_roc(np.asarray(fpr), np.asarray(tpr))
    cm = metrics.confusion_matrix(y, pred, labels=[0, 1])
    # The scores from the matrix and the curve: what accuracy_score, precision_score,
    # recall_score, f1_score (zero_division=0) and roc_auc_score return, without five more
    # passes of scikit-learn's input checks (a fifth of the job's CPU at a few thousand rows).
    (tn, fp), (fn, tp) = cm.tolist()

    def value(v: float) -> dict:
        return {"value": round(float(v), 6), "standard_deviation": "NaN"}

    return {
        "binary_classification_metrics": {
            "accuracy": value(_ratio(tp + tn, tn + fp + fn + tp)),
            "auc": value(metrics.auc(fpr, tpr) if has_both else float("nan")),
            "precision": value(_ratio(tp, tp + fp)),
            "recall": value(_ratio(tp, tp + fn)),
            "f1": value(_ratio(2 * tp, 2 * tp + fp + fn)),
            "majority_baseline_accuracy": value(baseline),
            # SageMaker's layout: confusion_matrix[actual][predicted].
            "confusion_matrix": {str(a): {str(p): int(cm[a][p]) for p in (0, 1)} for a in (0, 1)},
            "receiver_operating_characteristic_curve": {
                "false_positive_rates": roc_fpr,
                "true_positive_rates": roc_tpr,
            },
        },
        "feature_importance": importance,
        "test_rows": len(y),
        "test_classes": len(set(y.tolist())),
        "threshold": threshold,
    }


def threshold_check(report: dict, bar: float, metric: str = "accuracy") -> dict:
    """The gate: `metric` >= `bar`, accuracy > the majority baseline, both classes tested.

    `shortfall` is how far `metric` is below the higher of the two bars (0 when at or above).
    """
    scores = report["binary_classification_metrics"]
    value = scores[metric]["value"]
    baseline = scores["majority_baseline_accuracy"]["value"]
    beats = scores["accuracy"]["value"] > baseline
    both = report.get("test_classes", 2) == 2
    return {
        "metric": metric,
        "value": value,
        "threshold": bar,
        "baseline": baseline,
        "beats_baseline": beats,
        "both_classes": both,
        "passed": value >= bar and beats and both,
        "shortfall": round(max(0.0, bar - value, baseline - value), 6),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=Path("/opt/ml/processing/model"))
    parser.add_argument("--test-dir", type=Path, default=Path("/opt/ml/processing/test"))
    parser.add_argument("--output-dir", type=Path, default=Path("/opt/ml/processing/evaluation"))
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="probability cut-off for the positive class"
    )
    parser.add_argument(
        "--accuracy-threshold",
        type=float,
        help="the pipeline's registration bar; recorded with the shortfall",
    )
    args = parser.parse_args(argv)
    report = evaluate(load_model(args.model_dir), args.test_dir, args.threshold)
    if args.accuracy_threshold is not None:
        report["threshold_check"] = threshold_check(report, args.accuracy_threshold)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(report, indent=1))
    summary = {
        k: v["value"]
        for k, v in report["binary_classification_metrics"].items()
        if isinstance(v, dict) and "value" in v
    }
    print(f"Evaluation: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
