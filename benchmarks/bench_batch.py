"""Batch scoring on localaws: a tenant's customer file through `helpers.batch.score_batch`.

1. `score_batch` end to end (check the records, upload, the transform job, read the output,
   write the churn list): wall time and records per second; beside it the transform job's own
   run time (TransformStartTime -> TransformEndTime). A 100-record job runs first: the
   server's first job also starts its warm worker, which is reported apart.
2. The same model scored directly in one process on the same raw records: the model artifact
   from S3 and the inference code the job runs (`input_fn` -> `predict_fn`: record checks,
   features, XGBoost), and XGBoost alone on the already-built features.
The version is built as the pipeline builds it and approved (not deployed: the job uses a model
of the approved version). Records: `--records N` or LOCALAWS_BENCH_BATCH_RECORDS (default
100,000; the issue's figure is 1,000,000). Writes benchmarks/results/batch.json, prints a table.
"""

from __future__ import annotations

import argparse
import io
import os
import tarfile
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, publish
from localaws.ephemeral import running

RECORDS = int(os.environ.get("LOCALAWS_BENCH_BATCH_RECORDS", "100000"))


def main(records: int = RECORDS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as workdir, running():
        return _run(Path(workdir), records)


def _direct(aws, arn: str, workdir: Path, body: str) -> dict[str, float]:
    """Seconds to score `body` (headerless CSV records) in this process, two ways."""
    import numpy as np

    from pipeline_steps import inference

    package = aws.client("sagemaker").describe_model_package(ModelPackageName=arn)
    url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
    bucket, key = url[5:].split("/", 1)
    data = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    folder = workdir / "direct-model"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
    model = inference.model_fn(str(folder))
    started = time.perf_counter()
    rows = inference.input_fn(body, "text/csv")
    scores = inference.predict_fn(rows, model)
    same_code = time.perf_counter() - started
    features = inference.to_features(rows, model.params).astype(np.float32)
    started = time.perf_counter()
    model.booster.inplace_predict(features)
    booster_only = time.perf_counter() - started
    return {"same_code_s": same_code, "xgboost_only_s": booster_only, "n": len(scores)}


def _run(workdir: Path, records: int) -> dict:
    from benchmarks.bench_endpoints import register_version
    from helpers import approval, batch, tenants
    from helpers.data import TARGET, generate_churn
    from helpers.session import connect
    from helpers.stack import deploy_stack

    aws = connect("local")
    deploy_stack(aws)
    tenant = "bench-batch"
    tenants.create_tenant(aws, tenant)
    arn = register_version(aws, tenant, workdir, 40)
    approval.approve(aws, tenant, 1, "benchmark")
    customers = generate_churn(tenant, rows=records).drop(columns=TARGET)
    # The first job of a server also starts its warm worker (imports): measured apart.
    started = time.perf_counter()
    batch.score_batch(aws, tenant, customers.head(100), progress=False)
    first = time.perf_counter() - started

    started = time.perf_counter()
    churn = batch.score_batch(aws, tenant, customers, progress=False)
    wall = time.perf_counter() - started
    assert len(churn) == records

    body = batch.read_records(customers)[0].to_csv(index=False, header=False)
    direct = _direct(aws, arn, workdir, body)
    data = {
        "records": records,
        "first_job_100_records_s": round(first, 2),
        "score_batch_wall_s": round(wall, 2),
        "score_batch_records_per_s": round(records / wall),
        "transform_job_s": round(churn.attrs["seconds"], 2),
        "direct_same_code_s": round(direct["same_code_s"], 2),
        "direct_same_code_records_per_s": round(records / direct["same_code_s"]),
        "direct_xgboost_only_s": round(direct["xgboost_only_s"], 3),
        "direct_xgboost_only_records_per_s": round(records / direct["xgboost_only_s"]),
    }
    return publish("batch", data, _show)


def _show(data: dict) -> None:
    n = data["records"]
    print_table(
        [
            (
                "score_batch (transform job, end to end)",
                n,
                data["score_batch_wall_s"],
                data["score_batch_records_per_s"],
            ),
            (
                "  the transform job alone",
                n,
                data["transform_job_s"],
                round(n / max(data["transform_job_s"], 1e-9)),
            ),
            (
                "direct, one process, same inference code",
                n,
                data["direct_same_code_s"],
                data["direct_same_code_records_per_s"],
            ),
            (
                "direct, XGBoost on built features",
                n,
                data["direct_xgboost_only_s"],
                data["direct_xgboost_only_records_per_s"],
            ),
        ],
        ["batch scoring", "records", "wall s", "records/s"],
        "<>>>",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=RECORDS, help="customers to score")
    main(parser.parse_args().records)
