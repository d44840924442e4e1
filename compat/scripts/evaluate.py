"""Abalone evaluation, as a ScriptProcessor script on the XGBoost image: the trained model's
mean squared error on the test split, written as the PropertyFile `evaluation.json`."""

import json
import os
import pathlib
import tarfile

import numpy as np
import xgboost

BASE = "/opt/ml/processing"

if __name__ == "__main__":
    with tarfile.open(f"{BASE}/model/model.tar.gz") as tar:
        tar.extractall(path=".")
    model = xgboost.Booster()
    model.load_model("xgboost-model")
    test = np.loadtxt(f"{BASE}/test/test.csv", delimiter=",", ndmin=2)
    predictions = model.predict(xgboost.DMatrix(test[:, 1:]))
    errors = (test[:, 0] - predictions) ** 2
    report = {
        "regression_metrics": {
            "mse": {"value": float(errors.mean()), "standard_deviation": float(errors.std())}
        }
    }
    os.makedirs(f"{BASE}/evaluation", exist_ok=True)
    pathlib.Path(f"{BASE}/evaluation/evaluation.json").write_text(json.dumps(report))
    print(report)
