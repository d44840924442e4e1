"""Delete of one large tenant through the real delete state machine, on a fresh localaws.

The tenant holds LOCALAWS_BENCH_OBJECT_VERSIONS (default 10,000) object versions, a tenth of
them delete markers, and LOCALAWS_BENCH_MODEL_VERSIONS (default 100) model versions. Measures
the delete alone (client side, StartExecution to the last execution's end; target <= 60 s),
its states and executions (a delete past its event budget continues as new ones), and that
nothing is left. Writes benchmarks/results/delete.json and prints a table.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks.common import print_table, publish
from localaws.ephemeral import running

OBJECT_VERSIONS = int(os.environ.get("LOCALAWS_BENCH_OBJECT_VERSIONS", "10000"))
MODEL_VERSIONS = int(os.environ.get("LOCALAWS_BENCH_MODEL_VERSIONS", "100"))
WORKERS = 8
TARGET_S = 60.0


def delete_at_size(session, tenant: str = "big-0001") -> dict:
    """Fill `tenant` (created here) with OBJECT_VERSIONS object versions and MODEL_VERSIONS
    model versions, then time its delete."""
    from helpers import tenants
    from helpers.naming import model_package_group

    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    s3, sm = session.client("s3"), session.client("sagemaker")
    markers = OBJECT_VERSIONS // 10
    keys = (OBJECT_VERSIONS - markers) // 2

    def write(i: int) -> None:
        key = f"pipeline/exec-{i // 7:05d}/step-{i % 7}/output-{i:06d}.csv"
        for _ in range(2):
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        if i < markers:
            s3.delete_object(Bucket=bucket, Key=key)

    def register(_: int) -> None:
        sm.create_model_package(
            ModelPackageGroupName=model_package_group(tenant),
            InferenceSpecification={
                "Containers": [{"Image": "xgboost:1.7-1", "ModelDataUrl": f"s3://{bucket}/m"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )

    started = time.monotonic()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(write, range(keys)))
        list(pool.map(register, range(MODEL_VERSIONS)))
    setup_s = time.monotonic() - started
    execution = tenants.delete_tenant(session, tenant, progress=False)
    left = tenants.tenant_leftovers(session, tenant)
    return {
        "object_versions": keys * 2 + markers,
        "model_versions": MODEL_VERSIONS,
        "setup_s": round(setup_s, 2),
        "delete_s": round(execution.seconds, 2),
        "states_entered": len(execution.states),
        "executions": 1 + execution.states.count("ContinueAsNew"),
        "leftovers": sum(len(v) for v in left.values()),
        "target_s": TARGET_S,
    }


def main() -> dict:
    from helpers import stack
    from helpers.session import connect

    with running():
        session = connect("local")
        stack.deploy_stack(session)
        results = delete_at_size(session)
    publish("delete", results, _print_table)
    return results


def _print_table(results: dict) -> None:
    rows = [
        (
            f"delete of {results['object_versions']} object versions"
            f" + {results['model_versions']} model versions",
            f"{results['delete_s']:.1f} s",
            f"<= {TARGET_S:.0f} s",
        ),
        (
            "states entered / executions",
            f"{results['states_entered']} / {results['executions']}",
            "",
        ),
        ("setup (writes, registrations)", f"{results['setup_s']:.1f} s", ""),
        ("leftovers", str(results["leftovers"]), "0"),
    ]
    print()
    print_table(rows, ("measure", "result", "target"))


if __name__ == "__main__":
    main()
