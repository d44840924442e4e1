"""8 client threads x hundreds of mixed requests: right answers, and all of it persisted."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.config import Config as BotoConfig
from test_persistence import Server

from localaws.cli import stop

# 8 threads x hundreds of requests, then a restart
pytestmark = pytest.mark.slow

THREADS = 8
ROUNDS = 40  # x 5 requests each = 200 requests per thread


def test_concurrent_mixed_requests_are_correct_and_durable(tmp_path):
    srv = Server(tmp_path / "state")
    srv.start()
    try:
        _run(srv)
        stop(srv.config)
        srv.start()
        _verify(srv)
    finally:
        stop(srv.config)


def _client(srv: Server, name: str):
    return srv.session.client(
        name,
        endpoint_url=srv.config.endpoint_url,
        config=BotoConfig(retries={"max_attempts": 1}, max_pool_connections=THREADS),
    )


def _run(srv: Server) -> None:
    s3, ddb = _client(srv, "s3"), _client(srv, "dynamodb")
    s3.create_bucket(Bucket="conc-shared")
    ddb.create_table(
        TableName="conc",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    barrier = threading.Barrier(THREADS)

    def worker(t: int) -> int:
        s3c, ddbc, smc = _client(srv, "s3"), _client(srv, "dynamodb"), _client(srv, "sagemaker")
        barrier.wait()
        done = 0
        for r in range(ROUNDS):
            body = f"{t}-{r}".encode() * 50
            s3c.put_object(Bucket="conc-shared", Key=f"t{t}/{r}", Body=body)
            assert s3c.get_object(Bucket="conc-shared", Key=f"t{t}/{r}")["Body"].read() == body
            ddbc.update_item(
                TableName="conc",
                Key={"pk": {"S": "counter"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
            ddbc.put_item(TableName="conc", Item={"pk": {"S": f"t{t}-{r}"}, "r": {"N": str(r)}})
            if r % 10 == 0:
                smc.create_model_package_group(ModelPackageGroupName=f"conc-{t}-{r}")
            else:
                assert ddbc.get_item(TableName="conc", Key={"pk": {"S": f"t{t}-{r}"}})["Item"]
            done += 5
        return done

    with ThreadPoolExecutor(THREADS) as pool:
        total = sum(pool.map(worker, range(THREADS)))
    assert total == THREADS * ROUNDS * 5
    _verify(srv)


def _verify(srv: Server) -> None:
    s3, ddb, sm = _client(srv, "s3"), _client(srv, "dynamodb"), _client(srv, "sagemaker")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="conc-shared"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(keys) == sorted(f"t{t}/{r}" for t in range(THREADS) for r in range(ROUNDS))
    assert s3.get_object(Bucket="conc-shared", Key="t3/7")["Body"].read() == b"3-7" * 50
    counter = ddb.get_item(TableName="conc", Key={"pk": {"S": "counter"}})["Item"]["n"]["N"]
    assert int(counter) == THREADS * ROUNDS
    items = 0
    for page in ddb.get_paginator("scan").paginate(TableName="conc", Select="COUNT"):
        items += page["Count"]
    assert items == THREADS * ROUNDS + 1
    groups = [
        g["ModelPackageGroupName"]
        for page in sm.get_paginator("list_model_package_groups").paginate()
        for g in page["ModelPackageGroupSummaryList"]
    ]
    assert sorted(groups) == sorted(
        f"conc-{t}-{r}" for t in range(THREADS) for r in range(0, ROUNDS, 10)
    )
