"""CloudFormation under polling: reads during a stack operation see it, never change it.

AWS lets a client poll DescribeStacks, DescribeStackResources, ListStackResources and
DescribeStackEvents at any time; a create reads CREATE_IN_PROGRESS (no outputs) until it is
CREATE_COMPLETE, and reads never create a resource. Each test runs an operation while threads
poll all four, then checks the operation's own result and what the pollers saw. The module's
own localaws makes each resource take DELAY seconds (`LOCALAWS_FAULT_CFN_RESOURCE_DELAY`), so
every operation spans many polls.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError
from compute_helpers import TRUST

from localaws.ephemeral import running
from localaws.services.cloudformation.delays import ENV

pytestmark = pytest.mark.slow  # a server of its own with slowed resources, and pollers

PAIRS = 10  # named roles and buckets
DELAY = 0.03  # per resource: a create of 2 * PAIRS resources spans ~30 polls
POLLERS = 4


def _template(name: str, pairs: int = PAIRS) -> str:
    """`pairs` named roles and buckets, interleaved; an output for each."""
    resources: dict = {}
    outputs: dict = {}
    for i in range(pairs):
        resources[f"Role{i}"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {"RoleName": f"{name}-r{i}", "AssumeRolePolicyDocument": TRUST},
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


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    """A factory of boto3 clients talking to this module's slowed localaws."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(ENV, str(DELAY))
        with running(tmp_path_factory.mktemp("cfn-polling")):
            session = boto3.Session(region_name="us-east-1")
            yield lambda service: session.client(service)


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
    during = [(n, made) for s, n, made in pollers.seen if s == "CREATE_IN_PROGRESS"]
    assert during, "the pollers never saw the create in progress"
    assert {n for n, _ in during} == {0}  # no outputs before CREATE_COMPLETE
    assert min(made for _, made in during) < 2 * PAIRS  # the resources made so far
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
    _create(cf, name, pairs=2)
    with Pollers(cf, name) as pollers:
        cf.update_stack(
            StackName=name,
            TemplateBody=_template(name),  # adds PAIRS - 2 roles and buckets
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
    during = [n for s, n, _ in pollers.seen if s == "UPDATE_IN_PROGRESS"]
    assert during, "the pollers never saw the update in progress"
    assert set(during) == {4}  # the outputs of the last complete state, until it completes

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
    assert "DELETE_IN_PROGRESS" in {s for s, _, _ in pollers.seen}
    # reads during the delete re-created nothing
    iam, s3 = clients("iam"), clients("s3")
    for i in range(PAIRS):
        with pytest.raises(ClientError):
            iam.get_role(RoleName=f"{name}-r{i}")
        with pytest.raises(ClientError):
            s3.head_bucket(Bucket=f"{name}-b{i}")


def test_change_set_create_under_polling(cf, clients, name):
    """`aws cloudformation deploy`'s path: CreateChangeSet then ExecuteChangeSet, polled."""
    with Pollers(cf, name) as pollers:
        change_set = cf.create_change_set(
            StackName=name,
            ChangeSetName="first",
            ChangeSetType="CREATE",
            TemplateBody=_template(name),
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )["Id"]
        cf.execute_change_set(ChangeSetName=change_set, StackName=name)
    assert pollers.errors == []
    stack = cf.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert len(stack["Outputs"]) == 2 * PAIRS
    before = [n for s, n, _ in pollers.seen if s != "CREATE_COMPLETE"]
    assert before == [0] * len(before)
    assert {s for s, _, _ in pollers.seen} <= {
        "REVIEW_IN_PROGRESS",
        "CREATE_IN_PROGRESS",
        "CREATE_COMPLETE",
    }
    cf.delete_stack(StackName=name)
