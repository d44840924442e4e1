"""Training job (script mode): XGBoost binary:logistic on the preprocessed churn CSVs.

Follows the SageMaker training toolkit's contract: data from SM_CHANNEL_TRAIN (and optionally
SM_CHANNEL_VALIDATION), the model into SM_MODEL_DIR, hyperparameters from the command line
(`--max_depth 5`, as the toolkit passes them) or SM_HP_* variables. CSVs carry the label in the
first column and no header. Saves `xgboost-model` as XGBoost's built-in container does, the
feature parameters Preprocess wrote into the train channel (`preprocessing.json`) beside it,
and the inference handlers with the modules they import under `code/`: the endpoint turns raw
records into exactly the training features with them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

if __package__:  # imported as pipeline_steps.train (helpers, tests)
    from .hyperparameters import check_hyperparameters
else:  # the training job: source_dir puts the modules side by side
    from hyperparameters import check_hyperparameters

DEFAULTS: dict[str, float | int | str] = {
    "max_depth": 5,
    "eta": 0.2,
    "gamma": 4.0,
    "min_child_weight": 6.0,
    "subsample": 0.8,
    "num_round": 50,
    "seed": 0,
    "objective": "binary:logistic",
    "eval_metric": "auc",
}
MODEL_FILE = "xgboost-model"
PARAMS_FILE = "preprocessing.json"
SERVING_CODE = ("inference.py", "churn_schema.py", "churn_features.py")
MULTI_THREAD_ROWS = 200_000


def read_csv(path: Path) -> pd.DataFrame:
    """A header-less CSV of numbers, by pandas' C parser: at every size up to 200 MB it took
    less CPU than pyarrow's threaded reader (half at 3,500 rows), and parses the same floats."""
    return pd.read_csv(path, header=None)


def load_channel(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read every CSV of a channel directory: label first, no header."""
    files = sorted(p for p in path.rglob("*.csv") if p.is_file()) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"no CSV file in channel directory {path}")
    data = pd.concat([read_csv(f) for f in files], ignore_index=True)
    return data.iloc[:, 1:].to_numpy(dtype=np.float32), data.iloc[:, 0].to_numpy(dtype=np.float32)


def _unquote(value):
    """SM_HP_* values may arrive JSON-encoded ('"binary:logistic"'); plain strings pass."""
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _threads(rows: int) -> int:
    """One thread for small data (OpenMP start-up and spinning cost more than they save,
    badly so on a busy machine); the instance's CPUs (SM_NUM_CPUS) from MULTI_THREAD_ROWS."""
    cpus = int(os.environ.get("SM_NUM_CPUS", "0")) or os.cpu_count() or 1
    return cpus if rows >= MULTI_THREAD_ROWS else 1


def train(
    train_dir: Path, model_dir: Path, hyperparameters: dict, validation_dir: Path | None = None
) -> xgb.Booster:
    """Train, save `model_dir/xgboost-model`, return the booster."""
    hp = {**DEFAULTS, **{k: _unquote(v) for k, v in hyperparameters.items()}}
    hp = check_hyperparameters(hp, known_only=False)
    num_round = int(hp.pop("num_round"))
    params = {
        "max_depth": int(hp.pop("max_depth")),
        "eta": float(hp.pop("eta")),
        "gamma": float(hp.pop("gamma")),
        "min_child_weight": float(hp.pop("min_child_weight")),
        "subsample": float(hp.pop("subsample")),
        "seed": int(hp.pop("seed")),
        "objective": str(hp.pop("objective")),
        "eval_metric": str(hp.pop("eval_metric")),
        **hp,
    }
    x, y = load_channel(train_dir)
    params["nthread"] = int(params.get("nthread") or _threads(len(y)))
    dtrain = xgb.DMatrix(x, label=y, nthread=params["nthread"])
    evals = [(dtrain, "train")]
    if validation_dir is not None and validation_dir.exists():
        xv, yv = load_channel(validation_dir)
        evals.append((xgb.DMatrix(xv, label=yv, nthread=params["nthread"]), "validation"))
    # verbose_eval prints "[i]\ttrain-auc:...\tvalidation-auc:..." lines for MetricDefinitions.
    booster = xgb.train(
        params, dtrain, num_boost_round=num_round, evals=evals, verbose_eval=max(1, num_round // 5)
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    # No extension, as the built-in container names it: write UBJSON explicitly.
    (model_dir / MODEL_FILE).write_bytes(booster.save_raw(raw_format="ubj"))
    learned = train_dir / PARAMS_FILE if train_dir.is_dir() else train_dir.with_name(PARAMS_FILE)
    if learned.exists():  # the features Preprocess fitted: the endpoint applies them
        shutil.copy2(learned, model_dir / PARAMS_FILE)
    # Serving code travels inside model.tar.gz (code/inference.py): the framework container
    # loads it through SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code, no repack step needed.
    for name in SERVING_CODE:
        source = Path(__file__).with_name(name)
        if source.exists():
            (model_dir / "code").mkdir(exist_ok=True)
            shutil.copy2(source, model_dir / "code" / name)
    return booster


def _parse(argv: list[str] | None) -> tuple[argparse.Namespace, dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=Path, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", type=Path, default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--model-dir", type=Path, default=os.environ.get("SM_MODEL_DIR"))
    args, rest = parser.parse_known_args(argv)
    hyperparameters = {
        key[len("SM_HP_") :].lower(): value
        for key, value in os.environ.items()
        if key.startswith("SM_HP_")
    }
    # Command-line `--name value` pairs (the toolkit's form) win over SM_HP_* variables.
    it = iter(rest)
    for token in it:
        if not token.startswith("--"):
            raise SystemExit(f"unexpected argument {token!r}")
        hyperparameters[token[2:].replace("-", "_")] = next(it, "")
    if args.train is None or args.model_dir is None:
        raise SystemExit("need --train/--model-dir or SM_CHANNEL_TRAIN/SM_MODEL_DIR")
    return args, hyperparameters


def main(argv: list[str] | None = None) -> int:
    args, hyperparameters = _parse(argv)
    unknown = set(hyperparameters) - set(DEFAULTS)
    if unknown:
        print(f"passing extra hyperparameters to XGBoost: {sorted(unknown)}")
    train(args.train, args.model_dir, hyperparameters, args.validation)
    print(f"Model saved to {args.model_dir / MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
