"""SageMaker's built-in XGBoost algorithm, run with the installed `xgboost`.

Runs inside a job process (the runner calls `main`) laid out as the
algorithm container expects: ``$SM_INPUT_CONFIG_DIR/{hyperparameters,inputdataconfig}.json``,
channels ``train`` (required) and ``validation`` under ``$SM_INPUT_DATA_DIR``, CSV without a
header and the label in the first column (``text/csv``), or LIBSVM (``text/libsvm``). Writes the
booster to ``$SM_MODEL_DIR/xgboost-model`` as the container does, and prints evaluation lines
in the container's format (``[3]#011train-logloss:0.41#011validation-logloss:0.45``).
"""

from __future__ import annotations

import glob
import json
import os
import sys

#: Hyperparameters the container consumes itself rather than passing to xgboost.train.
_CONTAINER_KEYS = {
    "num_round",
    "early_stopping_rounds",
    "csv_weights",
    "save_model_on_termination",
    "_kfold",
    "_num_cv_round",
    "_tuning_objective_metric",
}


class UserError(ValueError):
    """Bad hyperparameters or data: the job fails with FailureReason `ClientError: <message>`.

    The algorithm container reports the customer's mistakes so (e.g. "ClientError: No value(s)
    were specified for 'mini_batch_size' which are required hyperparameter(s)", quoted in
    aws/sagemaker-python-sdk issue 132), writing the message to /opt/ml/output/failure itself.
    """


def _typed(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except (TypeError, ValueError):
            pass
    return value


def _params(hyperparameters: dict[str, str]) -> tuple[dict, int, int | None]:
    if "num_round" not in hyperparameters:
        raise UserError("Missing required hyperparameter: num_round")
    try:
        num_round = int(hyperparameters["num_round"])
    except ValueError:
        raise UserError(
            f"Hyperparameter num_round must be an integer, got '{hyperparameters['num_round']}'"
        ) from None
    early = hyperparameters.get("early_stopping_rounds")
    params = {
        k: _typed(v)
        for k, v in hyperparameters.items()
        if k not in _CONTAINER_KEYS and not k.startswith("sagemaker_")
    }
    if isinstance(params.get("eval_metric"), str) and "," in params["eval_metric"]:
        params["eval_metric"] = params["eval_metric"].split(",")
    params.setdefault("verbosity", 1)
    return params, num_round, int(early) if early else None


def _load_channel(directory: str, content_type: str):
    import numpy as np
    import xgboost as xgb

    files = sorted(
        f
        for f in glob.glob(os.path.join(directory, "**", "*"), recursive=True)
        if os.path.isfile(f) and not os.path.basename(f).startswith(".")
    )
    if not files:
        raise UserError(f"No data files found in channel directory {os.path.basename(directory)}")
    ctype = (content_type or "text/csv").split(";")[0].strip().lower()
    if ctype in ("text/csv", "csv"):
        try:
            data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
        except ValueError as exc:
            raise UserError(
                f"Unable to parse CSV in channel {os.path.basename(directory)} "
                f"(expected numbers only, no header, label first): {exc}"
            ) from None
        return xgb.DMatrix(data[:, 1:], label=data[:, 0])
    if ctype in ("text/libsvm", "libsvm", "text/x-libsvm"):
        return (
            xgb.DMatrix(f"{files[0]}?format=libsvm")
            if len(files) == 1
            else xgb.DMatrix(f"{directory}?format=libsvm")
        )
    raise UserError(f"Content type '{content_type}' is not supported (text/csv, text/libsvm)")


def train(config_dir: str, data_dir: str, model_dir: str) -> dict[str, float]:
    """Train from the container layout; return the final evaluation metrics {"train:auc": ...}."""
    import xgboost as xgb

    with open(os.path.join(config_dir, "hyperparameters.json")) as fh:
        hyperparameters = {k: str(v) for k, v in json.load(fh).items()}
    with open(os.path.join(config_dir, "inputdataconfig.json")) as fh:
        channels = json.load(fh)
    if "train" not in channels:
        raise UserError("Channel 'train' is required by the XGBoost algorithm")
    params, num_round, early = _params(hyperparameters)
    dtrain = _load_channel(os.path.join(data_dir, "train"), channels["train"].get("ContentType"))
    evals = [(dtrain, "train")]
    if "validation" in channels:
        evals.append(
            (
                _load_channel(
                    os.path.join(data_dir, "validation"), channels["validation"].get("ContentType")
                ),
                "validation",
            )
        )
    history: dict = {}
    try:
        booster = xgb.train(
            params,
            dtrain,
            num_boost_round=num_round,
            evals=evals,
            evals_result=history,
            early_stopping_rounds=early,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as exc:
        raise UserError(
            f"XGBoost rejected the parameters or data: {str(exc).splitlines()[0]}"
        ) from None
    rounds = len(next(iter(next(iter(history.values())).values()))) if history else 0
    for i in range(rounds):
        parts = [
            f"{name}-{metric}:{values[i]:.5f}"
            for name, metrics in history.items()
            for metric, values in metrics.items()
        ]
        print(f"[{i}]\t" + "\t".join(parts))
    os.makedirs(model_dir, exist_ok=True)
    booster.save_model(os.path.join(model_dir, "xgboost-model"))
    return {
        f"{name}:{metric}": float(values[-1])
        for name, metrics in history.items()
        for metric, values in metrics.items()
    }


def main() -> None:
    try:
        metrics = train(
            os.environ["SM_INPUT_CONFIG_DIR"],
            os.environ["SM_INPUT_DATA_DIR"],
            os.environ["SM_MODEL_DIR"],
        )
    except UserError as exc:
        print(f"ClientError: {exc}", file=sys.stderr)
        with open(os.environ["SM_OUTPUT_FAILURE"], "w") as fh:
            fh.write(f"ClientError: {exc}")
        raise SystemExit(2) from None
    out = os.path.join(os.environ["SM_OUTPUT_DIR"], "metrics.json")
    with open(out, "w") as fh:
        json.dump(metrics, fh)
