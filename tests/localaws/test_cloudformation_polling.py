"""CloudFormation under polling: reads during a stack operation see it, never change it.

AWS lets a client poll DescribeStacks, DescribeStackResources, ListStackResources and
DescribeStackEvents at any time; a create reads CREATE_IN_PROGRESS (no outputs) until it is
CREATE_COMPLETE, and reads never create a resource. Each test runs an operation while threads
poll all four, then checks the operation's own result and what the pollers saw. The race is
timing-dependent: several pollers and many resources make it show on most runs without the fix.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

PAIRS = 40  # named roles + buckets: enough that an operation spans many polls
POLLERS = 4

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _template(name: str, pairs: int = PAIRS, tag: str = "v1") -> str:
    """`pairs` named roles and buckets, interleaved; an output for each."""
    resources: dict = {}
    outputs: dict = {}
    for i in range(pairs):
        resources[f"Role{i}"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": f"{name}-r{i}",
                "AssumeRolePolicyDocument": TRUST,
                "Description": tag,
            },
        }
        resources[f"Bucket{i}"] = {
            "Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": f"{name}-b{i}"},
        }
        outputs[f"Role{i}"] = {"Value": {"Fn::GetAtt": [f"Role{i}", "Arn"]}}
        outputs[f"Bucket{i}"] = {"Value": {"Ref": f"Bucket{i}"}}
    return json.dumps({"Resources": resources, "Outputs": outputs})


class Pollers:
    """Threads calling the four read APIs on one stack every `interval` s until stopped."""

    def __init__(self, cf, name: str, count: int = POLLERS, interval: float = 0.02) -> None:
        self.cf, self.name, self.interval = cf, name, interval
        self.stop = threading.Event()
        self.seen: list[tuple[str, int, int]] = []  # (status, outputs, listed resources)
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(count)]

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                stack = self.cf.describe_stacks(StackName=self.name)["Stacks"][0]
                listed = self.cf.list_stack_resources(StackName=self.name)
                self.cf.describe_stack_resources(StackName=self.name)
                self.cf.describe_stack_events(StackName=self.name)
                made = len(listed["StackResourceSummaries"])
                self.seen.append((stack["StackStatus"], len(stack.get("Outputs", [])), made))
            except ClientError as exc:
                if "does not exist" not in str(exc):  # before CreateStack, after DeleteStack
                    self.errors.append(str(exc))
            except Exception as exc:  # noqa: BLE001 - a malformed response is a finding
                self.errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(self.interval)

    def __enter__(self) -> Pollers:
        for thread in self.threads:
            thread.start()
        time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(0.1)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def _create(cf, name: str, **kw) -> None:
    cf.create_stack(
        StackName=name,
        TemplateBody=_template(name, **kw),
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )


@pytest.fixture
def cf(clients):
    return clients("cloudformation")


@pytest.fixture
def name() -> str:
    return f"poll-{uuid.uuid4().hex[:8]}"


def test_create_under_polling_completes_and_shows_no_outputs_before(cf, clients, name):
    with Pollers(cf, name) as pollers:
        _create(cf, name)
    assert pollers.errors == []
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert len(stack["Outputs"]) == 2 * PAIRS
    assert {s for s, _, _ in pollers.seen} <= {"CREATE_IN_PROGRESS", "CREATE_COMPLETE"}
    assert [n for s, n, _ in pollers.seen if s != "CREATE_COMPLETE"] == [0] * len(
        [s for s, _, _ in pollers.seen if s != "CREATE_COMPLETE"]
    )
    events = cf.describe_stack_events(StackName=name)["StackEvents"]
    assert [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == name][0] == (
        "CREATE_COMPLETE"
    )
    listed = cf.list_stack_resources(StackName=name)["StackResourceSummaries"]
    assert len(listed) == 2 * PAIRS
    clients("s3").head_bucket(Bucket=f"{name}-b{PAIRS - 1}")
    clients("iam").get_role(RoleName=f"{name}-r{PAIRS - 1}")
    cf.delete_stack(StackName=name)


def test_update_and_delete_under_polling(cf, clients, name):
    _create(cf, name, pairs=PAIRS // 2)
    with Pollers(cf, name) as pollers:
        cf.update_stack(
            StackName=name,
            TemplateBody=_template(name),  # adds PAIRS // 2 roles and buckets
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
    assert pollers.errors == []
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE", stack.get("StackStatusReason")
    assert len(stack["Outputs"]) == 2 * PAIRS
    assert {s for s, _, _ in pollers.seen} <= {
        "CREATE_COMPLETE",
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE",
    }
    # while the update runs the stack keeps the outputs of its last complete state
    assert {n for s, n, _ in pollers.seen if s != "UPDATE_COMPLETE"} <= {PAIRS}

    stack_id = stack["StackId"]
    with Pollers(cf, stack_id) as pollers:
        cf.delete_stack(StackName=name)
    assert pollers.errors == []
    assert cf.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert {s for s, _, _ in pollers.seen} <= {
        "UPDATE_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_COMPLETE",
    }
    # reads during the delete re-created nothing
    iam, s3 = clients("iam"), clients("s3")
    for i in range(PAIRS):
        with pytest.raises(ClientError):
            iam.get_role(RoleName=f"{name}-r{i}")
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=f"{name}-b{i}")
