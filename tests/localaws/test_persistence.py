"""localaws keeps every acknowledged write across stop+start and across kill -9 (real HTTP)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config as BotoConfig
from server_forks import kill9

from localaws.cli import env_vars, start, stop
from localaws.core.config import Config
from localaws.ephemeral import free_port

# kill -9 and restarts of private servers: minutes in all
pytestmark = pytest.mark.slow

ROLE_TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["dynamodb:*", "s3:*"], "Resource": "*"}],
    }
)
MIB = 1024 * 1024


class Server:
    """A localaws of its own (free port, temp state) with clients signed by its admin."""

    def __init__(self, state_dir: Path):
        self.config = Config(state_dir=state_dir, port=free_port())

    def start(self) -> None:
        start(self.config)
        env = env_vars(self.config)
        self.session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
        )

    def client(self, name: str):
        return self.session.client(
            name,
            endpoint_url=self.config.endpoint_url,
            config=BotoConfig(retries={"max_attempts": 1}),
        )

    def pid(self) -> int:
        return json.loads(self.config.pid_file.read_text())["pid"]

    def kill9(self) -> None:
        kill9(self.pid())


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    srv = Server(tmp_path / "state")
    srv.start()
    yield srv
    stop(srv.config)


def _machine_definition(table: str) -> str:
    return json.dumps(
        {
            "StartAt": "Put",
            "States": {
                "Put": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::dynamodb:putItem",
                    "Parameters": {
                        "TableName": table,
                        "Item": {"pk": {"S.$": "$.id"}, "v": {"S": "from-sfn"}},
                    },
                    "ResultPath": None,
                    "Next": "Done",
                },
                "Done": {"Type": "Pass", "Result": "ok", "End": True},
            },
        }
    )


def _wait_execution(sfn, arn: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return desc
        time.sleep(0.05)
    raise AssertionError(f"execution {arn} still RUNNING after {timeout}s")


def populate(srv: Server, tag: str) -> dict:
    """Write one of everything; return what to expect back."""
    s3, ddb, iam = srv.client("s3"), srv.client("dynamodb"), srv.client("iam")
    sfn, sm = srv.client("stepfunctions"), srv.client("sagemaker")
    bucket = f"persist-{tag}"
    s3.create_bucket(Bucket=bucket)
    small = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="small.bin", Body=small, Metadata={"k": "v"})
    s3.put_object(Bucket=bucket, Key="gone.bin", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone.bin")
    # Multipart: 2 x 5 MiB + a tail, with distinct content per part.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big/multi.bin")
    chunks = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(123_457)]
    parts = []
    for number, chunk in enumerate(chunks, start=1):
        etag = s3.upload_part(
            Bucket=bucket,
            Key="big/multi.bin",
            PartNumber=number,
            UploadId=upload["UploadId"],
            Body=chunk,
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big/multi.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    versioned = f"persist-{tag}-versions"
    s3.create_bucket(Bucket=versioned)
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    v1 = s3.put_object(Bucket=versioned, Key="doc", Body=b"one")["VersionId"]
    s3.put_object(Bucket=versioned, Key="doc", Body=b"two")

    table = f"persist-{tag}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(20):
        ddb.put_item(TableName=table, Item={"pk": {"S": f"item-{i}"}, "n": {"N": str(i)}})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "item-0"}},
        UpdateExpression="SET n = :v",
        ExpressionAttributeValues={":v": {"N": "100"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "item-1"}})

    role = iam.create_role(RoleName=f"persist-{tag}", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]
    iam.put_role_policy(RoleName=f"persist-{tag}", PolicyName="inline", PolicyDocument=ROLE_POLICY)
    machine = sfn.create_state_machine(
        name=f"persist-{tag}", roleArn=role["Arn"], definition=_machine_definition(table)
    )["stateMachineArn"]
    run = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"id": "sfn-1"}))
    assert _wait_execution(sfn, run["executionArn"])["status"] == "SUCCEEDED"
    group = f"persist-{tag}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    return {
        "bucket": bucket,
        "small": small,
        "multi": b"".join(chunks),
        "versioned": versioned,
        "v1": v1,
        "table": table,
        "role": role["Arn"],
        "machine": machine,
        "execution": run["executionArn"],
        "group": group,
    }


def verify(srv: Server, exp: dict) -> None:
    s3, ddb, iam = srv.client("s3"), srv.client("dynamodb"), srv.client("iam")
    sfn, sm = srv.client("stepfunctions"), srv.client("sagemaker")
    got = s3.get_object(Bucket=exp["bucket"], Key="small.bin")
    assert got["Body"].read() == exp["small"]
    assert got["Metadata"] == {"k": "v"}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=exp["bucket"])["Contents"]]
    assert keys == ["big/multi.bin", "small.bin"]
    multi = s3.get_object(Bucket=exp["bucket"], Key="big/multi.bin")["Body"].read()
    assert hashlib.sha256(multi).digest() == hashlib.sha256(exp["multi"]).digest()
    ranged = s3.get_object(Bucket=exp["bucket"], Key="big/multi.bin", Range="bytes=5-14")
    assert ranged["Body"].read() == exp["multi"][5:15]
    assert s3.get_object(Bucket=exp["versioned"], Key="doc")["Body"].read() == b"two"
    old = s3.get_object(Bucket=exp["versioned"], Key="doc", VersionId=exp["v1"])
    assert old["Body"].read() == b"one"

    items = ddb.scan(TableName=exp["table"])["Items"]
    by_key = {i["pk"]["S"]: i for i in items}
    assert len(by_key) == 20  # 20 put, 1 deleted, 1 written by the state machine
    assert "item-1" not in by_key
    assert by_key["item-0"]["n"] == {"N": "100"}
    assert by_key["sfn-1"]["v"] == {"S": "from-sfn"}

    role_name = exp["role"].rsplit("/", 1)[1]
    assert iam.get_role(RoleName=role_name)["Role"]["Arn"] == exp["role"]
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["inline"]
    history = sfn.get_execution_history(executionArn=exp["execution"])["events"]
    assert history[-1]["type"] == "ExecutionSucceeded"
    # The state machine still runs after the restart.
    run = sfn.start_execution(stateMachineArn=exp["machine"], input=json.dumps({"id": "sfn-2"}))
    assert _wait_execution(sfn, run["executionArn"])["status"] == "SUCCEEDED"
    assert ddb.get_item(TableName=exp["table"], Key={"pk": {"S": "sfn-2"}})["Item"]
    ddb.delete_item(TableName=exp["table"], Key={"pk": {"S": "sfn-2"}})
    groups = sm.list_model_package_groups()["ModelPackageGroupSummaryList"]
    assert exp["group"] in {g["ModelPackageGroupName"] for g in groups}


def test_state_survives_stop_start_and_kill9(server: Server):
    first = populate(server, "one")
    stop(server.config)
    server.start()
    verify(server, first)

    second = populate(server, "two")
    server.kill9()
    server.start()
    verify(server, first)
    verify(server, second)


def test_running_execution_comes_back_failed_after_kill9(server: Server):
    sfn, iam = server.client("stepfunctions"), server.client("iam")
    role = iam.create_role(RoleName="waiter", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]
    definition = json.dumps(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 120, "End": True}}}
    )
    machine = sfn.create_state_machine(name="waiter", roleArn=role["Arn"], definition=definition)[
        "stateMachineArn"
    ]
    arn = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    server.kill9()
    server.start()
    desc = server.client("stepfunctions").describe_execution(executionArn=arn)
    assert desc["status"] == "FAILED"
    assert "localaws stopped" in desc["cause"]


def test_blobs_not_referenced_are_collected_at_start(server: Server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="gc-test")
    for _ in range(3):
        s3.put_object(Bucket="gc-test", Key="same", Body=os.urandom(2000))
    s3.put_object(Bucket="gc-test", Key="deleted", Body=b"1")
    s3.delete_object(Bucket="gc-test", Key="deleted")
    stop(server.config)
    server.start()
    blobs = [p for p in (server.config.state_dir / "blobs").glob("*/*")]
    assert len(blobs) == 1
    assert len(server.client("s3").get_object(Bucket="gc-test", Key="same")["Body"].read()) == 2000


def test_other_services_and_stacks_survive_kill9(server: Server):
    sqs, sns, logs = server.client("sqs"), server.client("sns"), server.client("logs")
    queue = sqs.create_queue(QueueName="persist-q")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    topic = sns.create_topic(Name="persist-t")["TopicArn"]
    server.client("secretsmanager").create_secret(Name="persist-s", SecretString="s3cret")
    logs.create_log_group(logGroupName="persist-g")
    logs.create_log_stream(logGroupName="persist-g", logStreamName="s")
    logs.put_log_events(
        logGroupName="persist-g",
        logStreamName="s",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "line"}],
    )
    template = {
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": "persist-cfn",
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [{"AttributeName": "k", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "k", "AttributeType": "S"}],
                },
            }
        }
    }
    server.client("cloudformation").create_stack(
        StackName="persist-stack", TemplateBody=json.dumps(template)
    )
    server.kill9()
    server.start()
    sqs = server.client("sqs")
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "hello"
    assert topic in [t["TopicArn"] for t in server.client("sns").list_topics()["Topics"]]
    secret = server.client("secretsmanager").get_secret_value(SecretId="persist-s")
    assert secret["SecretString"] == "s3cret"
    events = server.client("logs").get_log_events(logGroupName="persist-g", logStreamName="s")
    assert [e["message"] for e in events["events"]] == ["line"]
    cfn, ddb = server.client("cloudformation"), server.client("dynamodb")
    stack = cfn.describe_stacks(StackName="persist-stack")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert "persist-cfn" in ddb.list_tables()["TableNames"]
    cfn.delete_stack(StackName="persist-stack")
    assert "persist-cfn" not in ddb.list_tables()["TableNames"]


def test_object_level_changes_survive_kill9(server: Server):
    s3 = server.client("s3")
    s3.create_bucket(Bucket="objects")
    for name in ("keep", "drop-1", "drop-2", "dir/ünïcode name+plus"):
        s3.put_object(Bucket="objects", Key=name, Body=name.encode())
    s3.delete_objects(Bucket="objects", Delete={"Objects": [{"Key": "drop-1"}, {"Key": "drop-2"}]})
    s3.put_object_acl(Bucket="objects", Key="keep", ACL="public-read")
    s3.put_object_tagging(
        Bucket="objects", Key="keep", Tagging={"TagSet": [{"Key": "tenant-id", "Value": "acme"}]}
    )
    s3.copy_object(Bucket="objects", Key="copy", CopySource={"Bucket": "objects", "Key": "keep"})
    s3.create_bucket(Bucket="short-lived")
    s3.put_object(Bucket="short-lived", Key="x", Body=b"x")
    s3.delete_object(Bucket="short-lived", Key="x")
    s3.delete_bucket(Bucket="short-lived")
    server.kill9()
    server.start()
    s3 = server.client("s3")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="objects")["Contents"])
    assert keys == ["copy", "dir/ünïcode name+plus", "keep"]
    assert (
        s3.get_object(Bucket="objects", Key="dir/ünïcode name+plus")["Body"].read()
        == "dir/ünïcode name+plus".encode()
    )
    assert s3.get_object(Bucket="objects", Key="copy")["Body"].read() == b"keep"
    grants = s3.get_object_acl(Bucket="objects", Key="keep")["Grants"]
    assert any(
        g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("AllUsers")
        for g in grants
    )
    tags = s3.get_object_tagging(Bucket="objects", Key="keep")["TagSet"]
    assert tags == [{"Key": "tenant-id", "Value": "acme"}]
    assert "short-lived" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_dynamodb_item_level_changes_survive_kill9(server: Server):
    ddb = server.client("dynamodb")
    ddb.create_table(
        TableName="ranged",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
    )
    ddb.batch_write_item(
        RequestItems={
            "ranged": [
                {"PutRequest": {"Item": {"pk": {"S": p}, "sk": {"N": str(n)}}}}
                for p in ("a", "b")
                for n in range(3)
            ]
        }
    )
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "ranged",
                    "Key": {"pk": {"S": "a"}, "sk": {"N": "0"}},
                    "UpdateExpression": "SET v = :v",
                    "ExpressionAttributeValues": {":v": {"S": "updated"}},
                }
            },
            {"Delete": {"TableName": "ranged", "Key": {"pk": {"S": "b"}, "sk": {"N": "2"}}}},
        ]
    )
    ddb.delete_item(TableName="ranged", Key={"pk": {"S": "a"}, "sk": {"N": "1"}})
    ddb.create_table(
        TableName="dropped",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    ddb.put_item(TableName="dropped", Item={"pk": {"S": "x"}})
    ddb.delete_table(TableName="dropped")
    server.kill9()
    server.start()
    ddb = server.client("dynamodb")
    assert ddb.list_tables()["TableNames"] == ["ranged"]
    items = ddb.scan(TableName="ranged")["Items"]
    assert sorted((i["pk"]["S"], int(i["sk"]["N"])) for i in items) == [
        ("a", 0),
        ("a", 2),
        ("b", 0),
        ("b", 1),
    ]
    got = ddb.get_item(TableName="ranged", Key={"pk": {"S": "a"}, "sk": {"N": "0"}})["Item"]
    assert got["v"] == {"S": "updated"}
    # Still writable after the restart, and that write persists too.
    ddb.put_item(TableName="ranged", Item={"pk": {"S": "c"}, "sk": {"N": "9"}})
    stop(server.config)
    server.start()
    assert server.client("dynamodb").get_item(
        TableName="ranged", Key={"pk": {"S": "c"}, "sk": {"N": "9"}}
    )["Item"]


def test_moto_patches_record_into_the_request_scope_and_only_there(tmp_path):
    """s3.storage and dynamodb.items read and record request data through one scope;
    outside a request they behave as moto does (in-process, no server)."""
    import pickle

    from moto.s3.models import FakeKey

    from localaws.core import request_scope
    from localaws.core.patching import apply_all, undo_all
    from localaws.persistence.blobs import BlobStore, BlobStream
    from localaws.services.dynamodb import items
    from localaws.services.s3 import storage

    groups = [g for g in (storage.patches, items.patches) if not g.applied]
    apply_all(groups)
    blobs = BlobStore(tmp_path / "blobs")
    storage.attach(blobs)
    try:
        body = b"x" * storage.STREAM_MIN
        key = FakeKey("big", body, account_id="123456789012", region_name="us-east-1")
        assert key.__dict__["_blob"] and blobs.read(key._blob) == body
        assert key.value == body  # outside a request: bytes
        with request_scope.scope() as scope:
            assert request_scope.current() is scope
            assert key.value == body  # inside, but not a plain GetObject
            scope.stream_bodies = True
            stream = key.value
            assert isinstance(stream, BlobStream) and b"".join(stream) == body
        assert request_scope.current() is None
        copy = pickle.loads(pickle.dumps(key))
        assert "value" not in key.__getstate__()  # the blob's name is pickled, not the body
        assert copy._blob == key._blob and copy.value == body

        tracked = items.TrackedItems(dict)
        tracked.table_name = "t"
        tracked["a"] = 1  # no request: nothing to record into
        with request_scope.scope() as scope:
            tracked["b"] = 2
            assert tracked.get("a") == 1
            assert scope.dynamodb_keys == {"t": {"a", "b"}}
    finally:
        storage.attach(None)
        undo_all(groups)
    plain = FakeKey("small", b"y", account_id="123456789012", region_name="us-east-1")
    assert "_blob" not in plain.__dict__ and plain.value == b"y"


def test_state_files_of_the_earlier_layout_still_load(monkeypatch):
    """Pickles name helpers by module path; state written when they lived in
    `localaws.persistence` / `localaws.ddb_items` must load after the move."""
    import io
    import pickle
    import sys
    import types

    from localaws.persistence import pickling
    from localaws.services.dynamodb.items import TrackedItems

    old = types.ModuleType("localaws.ddb_items")

    def _rebuild(table_name, values):  # stands in for the old function while pickling
        raise AssertionError("the old module must not be used on load")

    _rebuild.__module__, _rebuild.__qualname__ = "localaws.ddb_items", "_rebuild"
    old._rebuild = _rebuild

    class OldItems:
        def __reduce__(self):
            return _rebuild, ("t", {"a": 1})

    monkeypatch.setitem(sys.modules, "localaws.ddb_items", old)
    data = pickle.dumps(OldItems())
    monkeypatch.delitem(sys.modules, "localaws.ddb_items")
    loaded = pickling.load(io.BytesIO(data))
    assert isinstance(loaded, TrackedItems)
    assert loaded.table_name == "t" and dict(loaded) == {"a": 1}


def test_delete_during_a_checkpoint_is_not_undone_by_it(tmp_path, monkeypatch):
    """A put is being checkpointed (taken from the journal's pending records, its file not yet
    written) when a delete of the same item is saved: the delete must be journaled, or the
    checkpoint writes the item back and a kill -9 restart shows it again (the lost delete of
    `test_state_survives_stop_start_and_kill9`, under load)."""
    import shutil
    import threading

    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    from localaws.persistence import journal
    from localaws.persistence.journal import Journal
    from localaws.persistence.store import Store

    monkeypatch.setattr(journal, "CHECKPOINT_SECONDS", 3600)  # checkpoints only when called
    account, region = "210987654321", "us-east-1"
    store = Store(tmp_path / "state")
    store.ensure_format()
    store.restore()
    backend = dynamodb_backends[account][region]
    table = Table(
        "t",
        account_id=account,
        region=region,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    backend.tables["t"] = table
    key = DynamoType({"S": "sfn-2"})
    writing, resume = threading.Event(), threading.Event()
    write_file = journal.write_file

    def paused_write(path, data, sync=True):
        writing.set()
        assert resume.wait(30)
        write_file(path, data, sync)

    try:
        store.save("dynamodb")
        table.put_item({"pk": {"S": "sfn-2"}})
        store.save("dynamodb", {"t": {key}})
        monkeypatch.setattr(journal, "write_file", paused_write)
        checkpoint = threading.Thread(target=store.journal.checkpoint)
        checkpoint.start()
        assert writing.wait(30)  # the put left the pending records, its file is not written
        dict.__delitem__(table.items, key)
        store.save("dynamodb", {"t": {key}})  # acknowledged delete
        resume.set()
        checkpoint.join(30)
        assert not checkpoint.is_alive()
        monkeypatch.setattr(journal, "write_file", write_file)
        # kill -9 now: a restart replays the journal over data/.
        crashed = tmp_path / "crashed"
        shutil.copytree(tmp_path / "state", crashed)
        Journal(crashed).replay()
        assert not list(crashed.glob("data/dynamodb/*/*/t.items/*.pkl"))
        store.journal.close()
        assert not list((tmp_path / "state").glob("data/dynamodb/*/*/t.items/*.pkl"))
    finally:
        resume.set()
        dynamodb_backends[account].reset()


def test_a_failed_checkpoint_keeps_its_records_and_segment(tmp_path, monkeypatch):
    """Records of a checkpoint that failed still answer `pending()` and are written by the
    next one; their segment stays until then (a replay of it alone would undo later ones)."""
    from localaws.persistence import journal
    from localaws.persistence.journal import Journal

    monkeypatch.setattr(journal, "CHECKPOINT_SECONDS", 3600)  # checkpoints only when called
    log = Journal(tmp_path)
    log.replay()
    log.open()
    write_file = journal.write_file

    def failing(path, data, sync=True):
        raise OSError("disk full")

    try:
        log.commit([("data/a.pkl", b"put", False)])
        monkeypatch.setattr(journal, "write_file", failing)
        with pytest.raises(OSError):
            log.checkpoint()
        monkeypatch.setattr(journal, "write_file", write_file)
        assert log.pending("data/a.pkl") == (True, b"put")
        log.commit([("data/b.pkl", b"other", False)])
        assert len(list((tmp_path / "journal").glob("*.journal"))) == 2
        log.checkpoint()
        assert (tmp_path / "data/a.pkl").read_bytes() == b"put"
        assert log.pending("data/a.pkl") == (False, None)
        assert len(list((tmp_path / "journal").glob("*.journal"))) == 1  # the fresh one
        log.commit([("data/a.pkl", None, False)])
        log.checkpoint()
        assert not (tmp_path / "data/a.pkl").exists()
    finally:
        log.close()
