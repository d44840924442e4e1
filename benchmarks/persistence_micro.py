"""The persistence cost of one write as the resources present grow (`bench_scale --micro`).

In-process on moto's backends and a real `Store`: a write's cost before (the whole backend
pickled per write, as localaws once did) and now (`Store.append` of what the request changed),
the bytes journaled, and the restore time of that state.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import summary
from localaws.core.config import ACCOUNT_ID as ACCOUNT


def run_micro(sizes: list[int], samples: int = 15) -> list[dict]:
    """Persistence cost of one write with `size` IAM roles and `size` SageMaker model package
    groups present, in-process on moto's backends and a real `Store`: before (the whole
    backend pickled per write, as localaws did) and now (`Store.append` of a request that
    changed one resource), bytes journaled, and the restore time of that state."""
    from localaws.persistence import journal

    journal.CHECKPOINT_SECONDS = 3600.0  # checkpoints by hand, between measurements
    rows = []
    for size in sizes:
        rows.append(_micro_row(size, samples))
        print(f"  {rows[-1]}", flush=True)
    return rows


def _micro_row(size: int, samples: int) -> dict:
    import json
    import tempfile

    from moto.iam.models import iam_backends
    from moto.sagemaker.models import sagemaker_backends

    from localaws.persistence import tracking
    from localaws.persistence.store import Store

    trust = json.dumps({"Version": "2012-10-17", "Statement": []})
    statement = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam, sm = iam_backends[ACCOUNT]["global"], sagemaker_backends[ACCOUNT]["us-east-1"]
    iam.reset(), sm.reset()
    row: dict[str, Any] = {"resources": size}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        store = Store(Path(scratch))
        store.ensure_format()
        store.restore()
        for i in range(size + 1):  # the probe in the middle: moto scans roles by name
            name = "probe" if i == size // 2 else f"role-{i}"
            iam.create_role(name, trust, "/", None, "", [], None)
            sm.create_model_package_group(f"group-{i}", "", None)
        store.save_all()
        store.journal.checkpoint()
        writes = {
            "iam": (iam, lambda i: iam.put_role_policy("probe", f"p{i}", policy)),
            "sagemaker": (sm, lambda i: sm.create_model_package_group(f"new-{i}", "", None)),
        }
        for service, (backend, write) in writes.items():
            whole = store._pickler.dumps(dict(backend.__dict__))
            before = _timed(lambda b=backend: store._pickler.dumps(dict(b.__dict__)))
            appends, journaled = [], []
            for i in range(samples):
                with tracking.tracking():
                    write(i)
                    appends.append(_timed(lambda s=service: store.append(s)))
                pending = store.journal._pending.values()
                journaled.append(sum(len(data or b"") for data, _ in pending))
                store.journal.checkpoint()
            row[f"{service}_before_ms"] = round(before * 1000, 2)
            row[f"{service}_before_kb"] = round(len(whole) / 1024, 1)
            row[f"{service}_now_ms"] = summary(appends, (0.5,), extras=())["p50_ms"]
            row[f"{service}_now_kb"] = round(statistics.median(journaled) / 1024, 1)
        store.journal.close()
        iam.reset(), sm.reset()
        restore = Store(Path(scratch))
        row["restore_s"] = round(_timed(restore.restore), 2)
        restore.journal.close()
    iam.reset(), sm.reset()
    return row


def _timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began
