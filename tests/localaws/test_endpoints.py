"""localaws endpoints: real models behind the endpoint APIs and InvokeEndpoint."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import numpy as np
import pytest
import xgboost as xgb
from botocore.exceptions import ClientError
from server_forks import kill9

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
INFERENCE = Path(__file__).resolve().parents[2] / "src" / "pipeline_steps" / "inference.py"
N_FEATURES = 4


def train_booster(seed: int, flip: bool = False) -> xgb.Booster:
    """A tiny real XGBoost model; `flip` learns the opposite label (its scores differ)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(200, N_FEATURES))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    if flip:
        y = 1 - y
    return xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), 8)


def tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def booster_bytes(booster: xgb.Booster) -> bytes:
    return bytes(booster.save_raw(raw_format="ubj"))


ROWS = np.array([[1.0, 1.0, 0.0, 0.0], [-1.0, -1.0, 0.5, 0.5], [0.2, -0.1, 0.0, 1.0]])


def csv_of(rows: np.ndarray) -> str:
    return "\n".join(",".join(str(v) for v in row) for row in rows)


@pytest.fixture(scope="module")
def env(localaws):
    """A bucket and a role that SageMaker models run under."""
    session = boto3.Session(region_name="us-east-1")
    aws = session.client
    s3, iam = aws("s3"), aws("iam")
    bucket = f"endpoints-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    role_name = f"endpoint-role-{uuid.uuid4().hex[:6]}"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
            }
        ],
    }
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    iam.put_role_policy(
        RoleName=role_name,
        PolicyName="read-models",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["s3:GetObject"],
                        "Resource": f"arn:aws:s3:::{bucket}/*",
                    }
                ],
            }
        ),
    )
    return {
        "s3": s3,
        "sm": aws("sagemaker"),
        "rt": aws("sagemaker-runtime"),
        "bucket": bucket,
        "role": role["Arn"],
    }


def upload(env, key: str, data: bytes) -> str:
    env["s3"].put_object(Bucket=env["bucket"], Key=key, Body=data)
    return f"s3://{env['bucket']}/{key}"


def make_model(env, artifact_url: str | None, environment: dict | None = None) -> str:
    name = f"m-{uuid.uuid4().hex[:10]}"
    container = {"Image": XGB_IMAGE, "Environment": environment or {}}
    if artifact_url:
        container["ModelDataUrl"] = artifact_url
    env["sm"].create_model(ModelName=name, ExecutionRoleArn=env["role"], PrimaryContainer=container)
    env["sm"].create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    return name


def algorithm_model(env, booster: xgb.Booster) -> str:
    key = f"models/{uuid.uuid4().hex[:8]}/model.tar.gz"
    return make_model(env, upload(env, key, tar_gz({"xgboost-model": booster_bytes(booster)})))


def wait_status(sm, name: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_endpoint(EndpointName=name)
        if desc["EndpointStatus"] not in ("Creating", "Updating"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['EndpointStatus']}"
        time.sleep(0.05)


def invoke(env, name: str, body: str, content_type="text/csv", accept="text/csv") -> str:
    answer = env["rt"].invoke_endpoint(
        EndpointName=name, Body=body, ContentType=content_type, Accept=accept
    )
    return answer["Body"].read().decode()


def deploy(env, config: str) -> str:
    name = f"ep-{uuid.uuid4().hex[:10]}"
    status = env["sm"].create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert status["EndpointArn"].endswith(f"endpoint/{name}")
    return name


@pytest.mark.slow
def test_algorithm_model_serves_csv_and_json(env):
    booster = train_booster(1)
    name = deploy(env, algorithm_model(env, booster))
    # Not asserted Creating first: without LOCALAWS_ENDPOINT_DELAY_S an endpoint is InService
    # once its model is loaded, a few ms after CreateEndpoint (test_tenant_faults sets a delay).
    assert wait_status(env["sm"], name)["EndpointStatus"] == "InService"
    expected = booster.predict(xgb.DMatrix(ROWS))

    csv_scores = [float(v) for v in invoke(env, name, csv_of(ROWS)).split()]
    np.testing.assert_allclose(csv_scores, expected, rtol=1e-5)
    answer = json.loads(
        invoke(
            env,
            name,
            json.dumps({"instances": ROWS.tolist()}),
            "application/json",
            "application/json",
        )
    )
    np.testing.assert_allclose([p["score"] for p in answer["predictions"]], expected, rtol=1e-5)
    assert all(0 <= s <= 1 for s in csv_scores)


@pytest.mark.slow
def test_script_mode_with_code_in_artifact(env):
    booster = train_booster(2)
    artifact = tar_gz(
        {"xgboost-model": booster_bytes(booster), "code/inference.py": INFERENCE.read_bytes()}
    )
    config = make_model(
        env,
        upload(env, f"script/{uuid.uuid4().hex[:6]}/model.tar.gz", artifact),
        {"SAGEMAKER_PROGRAM": "inference.py"},
    )
    name = deploy(env, config)
    assert wait_status(env["sm"], name)["EndpointStatus"] == "InService"
    answer = json.loads(invoke(env, name, csv_of(ROWS), accept="application/json"))
    np.testing.assert_allclose(answer["predictions"], booster.predict(xgb.DMatrix(ROWS)), rtol=1e-4)


ANSWERING = b"""
import answer


def model_fn(model_dir):
    return None


def transform_fn(model, body, content_type, accept):
    return answer.VALUE, "text/plain"
"""


@pytest.mark.slow
def test_each_model_imports_its_own_sibling_modules(env):
    """Two models whose scripts import a sibling module of the same name, served by one
    server: each answers with its own module (a container each, on SageMaker), and so does a
    third model with an edited copy of the first one's."""

    def model(value: str) -> str:
        artifact = tar_gz(
            {
                "code/inference.py": ANSWERING,
                "code/answer.py": f"VALUE = {value!r}\n".encode(),
            }
        )
        key = f"siblings/{uuid.uuid4().hex[:6]}/model.tar.gz"
        return make_model(env, upload(env, key, artifact), {"SAGEMAKER_PROGRAM": "inference.py"})

    names = [deploy(env, model(value)) for value in ("first", "second", "first, edited")]
    for name in names:
        assert wait_status(env["sm"], name)["EndpointStatus"] == "InService"
    assert [invoke(env, name, "x", accept="text/plain") for name in names] == [
        "first",
        "second",
        "first, edited",
    ]


@pytest.mark.slow
def test_script_mode_with_submit_directory_in_s3(env):
    booster = train_booster(3)
    model_url = upload(
        env,
        f"sd/{uuid.uuid4().hex[:6]}/model.tar.gz",
        tar_gz({"xgboost-model": booster_bytes(booster)}),
    )
    code_url = upload(
        env,
        f"sd/{uuid.uuid4().hex[:6]}/sourcedir.tar.gz",
        tar_gz({"inference.py": INFERENCE.read_bytes()}),
    )
    name = deploy(
        env,
        make_model(
            env,
            model_url,
            {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": code_url},
        ),
    )
    assert wait_status(env["sm"], name)["EndpointStatus"] == "InService"
    scores = [float(v) for v in invoke(env, name, csv_of(ROWS[:1])).split()]
    np.testing.assert_allclose(scores, booster.predict(xgb.DMatrix(ROWS[:1])), rtol=1e-4)


def test_unknown_endpoint_is_a_validation_error(env):
    with pytest.raises(ClientError) as err:
        env["rt"].invoke_endpoint(
            EndpointName="no-such-endpoint", Body="1,2", ContentType="text/csv"
        )
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "no-such-endpoint" in err.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    "body,content_type",
    [
        ("a,b,c,d", "text/csv"),  # not numbers
        ("1,2", "text/csv"),  # wrong feature count
        ("{not json", "application/json"),
        ("\n\n", "text/csv"),  # no rows
    ],
)
def test_malformed_body_is_a_4xx_model_error_and_endpoint_keeps_serving(env, body, content_type):
    name = _shared_endpoint(env)
    with pytest.raises(env["rt"].exceptions.ModelError) as err:
        env["rt"].invoke_endpoint(EndpointName=name, Body=body, ContentType=content_type)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert 400 <= response["OriginalStatusCode"] < 500
    assert "client error" in response["Error"]["Message"]
    assert response["LogStreamArn"].endswith(f"log-group:/aws/sagemaker/Endpoints/{name}")
    assert len(invoke(env, name, csv_of(ROWS)).split()) == len(ROWS)


_shared: dict[str, str] = {}


def _shared_endpoint(env) -> str:
    if "name" not in _shared:
        _shared["name"] = deploy(env, algorithm_model(env, train_booster(4)))
        assert wait_status(env["sm"], _shared["name"])["EndpointStatus"] == "InService"
    return _shared["name"]


def test_missing_artifact_fails_with_reason(env):
    name = deploy(env, make_model(env, f"s3://{env['bucket']}/nothing/here/model.tar.gz"))
    desc = wait_status(env["sm"], name)
    assert desc["EndpointStatus"] == "Failed"
    assert "nothing/here/model.tar.gz" in desc["FailureReason"]
    logs = boto3.Session(region_name="us-east-1").client("logs")
    events = logs.get_log_events(
        logGroupName=f"/aws/sagemaker/Endpoints/{name}", logStreamName="AllTraffic/localaws"
    )["events"]
    assert any("failed to load" in e["message"] and "NoSuchKey" in e["message"] for e in events)
    with pytest.raises(ClientError) as err:
        invoke(env, name, csv_of(ROWS))
    assert err.value.response["Error"]["Code"] == "ValidationError"


def test_corrupt_artifact_fails_with_reason(env):
    name = deploy(env, make_model(env, upload(env, "bad/model.tar.gz", b"not a tarball")))
    desc = wait_status(env["sm"], name)
    assert desc["EndpointStatus"] == "Failed"
    assert "not a valid .tar.gz" in desc["FailureReason"]


def test_model_fn_that_raises_fails_with_reason(env):
    script = b"def model_fn(model_dir):\n    raise RuntimeError('weights are corrupt')\n"
    artifact = tar_gz({"xgboost-model": booster_bytes(train_booster(5)), "code/serve.py": script})
    config = make_model(
        env, upload(env, "raising/model.tar.gz", artifact), {"SAGEMAKER_PROGRAM": "serve.py"}
    )
    desc = wait_status(env["sm"], deploy(env, config))
    assert desc["EndpointStatus"] == "Failed"
    assert "model_fn raised RuntimeError: weights are corrupt" in desc["FailureReason"]


def test_unsupported_image_fails_with_reason(env):
    name = f"m-{uuid.uuid4().hex[:8]}"
    env["sm"].create_model(
        ModelName=name,
        ExecutionRoleArn=env["role"],
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-server:1"},
    )
    env["sm"].create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
    )
    desc = wait_status(env["sm"], deploy(env, name))
    assert desc["EndpointStatus"] == "Failed"
    assert "my-own-server" in desc["FailureReason"]


def test_duplicate_create_and_bad_update_are_refused(env):
    name = _shared_endpoint(env)
    config = env["sm"].describe_endpoint(EndpointName=name)["EndpointConfigName"]
    with pytest.raises(ClientError, match="already existing"):
        env["sm"].create_endpoint(EndpointName=name, EndpointConfigName=config)
    with pytest.raises(ClientError, match="Could not find endpoint configuration"):
        env["sm"].update_endpoint(EndpointName=name, EndpointConfigName="no-such-config")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        env["sm"].update_endpoint(EndpointName="no-such-endpoint", EndpointConfigName=config)
    assert env["sm"].describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


@pytest.mark.slow
def test_update_swaps_under_load_with_zero_failures(env):
    old, new = train_booster(6), train_booster(6, flip=True)
    name = deploy(env, algorithm_model(env, old))
    assert wait_status(env["sm"], name)["EndpointStatus"] == "InService"
    new_config = algorithm_model(env, new)
    row = csv_of(ROWS[:1])
    old_score, new_score = (float(b.predict(xgb.DMatrix(ROWS[:1]))[0]) for b in (old, new))
    failures: list[Exception] = []
    seen: list[float] = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            try:
                seen.append(float(invoke(env, name, row)))
            except Exception as exc:  # any failed request fails the test
                failures.append(exc)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    env["sm"].update_endpoint(EndpointName=name, EndpointConfigName=new_config)
    desc = wait_status(env["sm"], name)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == new_config
    assert seen[0] == pytest.approx(old_score, rel=1e-5)
    assert seen[-1] == pytest.approx(new_score, rel=1e-5)
    assert set(np.round(seen, 5)) <= {round(old_score, 5), round(new_score, 5)}


def test_failed_update_rolls_back_and_keeps_serving(env):
    name = _shared_endpoint(env)
    before = env["sm"].describe_endpoint(EndpointName=name)["EndpointConfigName"]
    broken = make_model(env, f"s3://{env['bucket']}/missing/model.tar.gz")
    env["sm"].update_endpoint(EndpointName=name, EndpointConfigName=broken)
    desc = wait_status(env["sm"], name)
    assert desc["EndpointStatus"] == "InService"
    assert desc["EndpointConfigName"] == before
    assert "missing/model.tar.gz" in desc["FailureReason"]
    assert len(invoke(env, name, csv_of(ROWS)).split()) == len(ROWS)


def test_endpoint_keeps_serving_when_its_records_are_deleted_then_stops_when_deleted(env):
    name = deploy(env, algorithm_model(env, train_booster(7)))
    desc = wait_status(env["sm"], name)
    config = desc["EndpointConfigName"]
    env["sm"].delete_endpoint_config(EndpointConfigName=config)
    env["sm"].delete_model(ModelName=config)
    assert len(invoke(env, name, csv_of(ROWS)).split()) == len(ROWS)
    env["sm"].delete_endpoint(EndpointName=name)
    with pytest.raises(ClientError) as err:
        invoke(env, name, csv_of(ROWS))
    assert err.value.response["Error"]["Code"] == "ValidationError"


@pytest.mark.slow
def test_lru_cap_and_serving_again_after_a_crash(tmp_path, monkeypatch):
    """Its own server with room for ONE loaded model: two endpoints invoked in turn keep
    answering with their own model (evicted and reloaded on demand); after SIGKILL and a
    restart, both serve again (reloaded lazily on the first invocation)."""

    from compute_helpers import own_server

    from localaws.cli import start

    monkeypatch.setenv("LOCALAWS_MAX_LOADED_MODELS", "1")
    with own_server(tmp_path / "state") as (config, info, session):

        def clients():
            aws = lambda name: session.client(name, endpoint_url=config.endpoint_url)  # noqa: E731
            return {"s3": aws("s3"), "sm": aws("sagemaker"), "rt": aws("sagemaker-runtime")}

        own = {**clients(), "bucket": "restart-models"}
        own["s3"].create_bucket(Bucket=own["bucket"])
        own["role"] = session.client("iam", endpoint_url=config.endpoint_url).create_role(
            RoleName="restart-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "sts:AssumeRole",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        session.client("iam", endpoint_url=config.endpoint_url).put_role_policy(
            RoleName="restart-role",
            PolicyName="read",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "s3:GetObject",
                            "Resource": "arn:aws:s3:::restart-models/*",
                        }
                    ],
                }
            ),
        )
        boosters = [train_booster(8), train_booster(8, flip=True)]
        names = [deploy(own, algorithm_model(own, b)) for b in boosters]
        expected = [" ".join(f"{v:.4f}" for v in b.predict(xgb.DMatrix(ROWS))) for b in boosters]

        def answers() -> list[str]:
            return [
                " ".join(f"{float(v):.4f}" for v in invoke(own, n, csv_of(ROWS)).split())
                for n in names
            ]

        for name in names:
            assert wait_status(own["sm"], name)["EndpointStatus"] == "InService"
        for _ in range(3):
            assert answers() == expected
        logs = session.client("logs", endpoint_url=config.endpoint_url)
        loads = [
            e
            for e in logs.get_log_events(
                logGroupName=f"/aws/sagemaker/Endpoints/{names[0]}",
                logStreamName="AllTraffic/localaws",
            )["events"]
            if "loaded in" in e["message"]
        ]
        assert len(loads) >= 3  # loaded when deployed, then reloaded after each eviction

        kill9(info["pid"])
        start(config)
        own.update(clients())
        for name in names:
            assert own["sm"].describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        assert answers() == expected


@pytest.mark.slow
def test_aws_cli_invokes_an_endpoint(env, tmp_path):
    import os
    import subprocess
    import sys

    name = _shared_endpoint(env)
    out = tmp_path / "answer.txt"
    aws_cli = Path(sys.executable).with_name("aws")
    done = subprocess.run(
        [
            str(aws_cli),
            "sagemaker-runtime",
            "invoke-endpoint",
            "--endpoint-name",
            name,
            "--content-type",
            "text/csv",
            "--accept",
            "text/csv",
            "--body",
            csv_of(ROWS[:2]),
            str(out),
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ContentType"] == "text/csv"
    scores = [float(v) for v in out.read_text().split()]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    missing = subprocess.run(
        [
            str(aws_cli),
            "sagemaker-runtime",
            "invoke-endpoint",
            "--endpoint-name",
            "nope",
            "--body",
            "1",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert missing.returncode != 0 and "ValidationError" in missing.stderr
