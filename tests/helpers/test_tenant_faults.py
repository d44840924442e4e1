"""kill -9 of localaws at a named state of create / delete / deploy, restart, run again: the
tenant ends fully created, fully deleted, or deployed with table = endpoint, and nothing is
orphaned (issue 10).

The module's localaws runs with `LOCALAWS_FAULT_KILL_FILE` (localaws.services.stepfunctions.
faults): a test arms a kill point by writing it to that file while the server runs, and the
server kills itself when an execution enters that state; the execution that was cut off reads
FAILED after the one restart, and the helpers' re-run finishes the operation.
Deploy's kill points are in test_deploy_faults.py (their own server, endpoints asynchronous).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from tenant_checks import CONTAINER, add_version, nothing_left, slow_endpoints

from helpers import stack, tenants
from helpers.executions import state_machine_arn
from helpers.naming import STATE_MACHINES
from helpers.session import connect
from localaws.cli import _pid_alive, start, stop
from localaws.core.config import Config
from localaws.services.stepfunctions.faults import FILE_ENV

# kill -9 of localaws at each state, restart, re-run
pytestmark = pytest.mark.slow
ONE_ATTEMPT = BotoConfig(retries={"max_attempts": 1}, read_timeout=30)


class Server:
    """A localaws of its own that can be armed to die at a state and restarted."""

    def __init__(self, config: Config, kill_file: Path):
        self.config = config
        self.kill_file = kill_file

    def pid(self) -> int:
        return json.loads(self.config.pid_file.read_text())["pid"]

    def arm(self, kill_at: str) -> None:
        """Make the running server die when an execution enters `kill_at`."""
        scratch = self.kill_file.with_suffix(".tmp")
        scratch.write_text(kill_at)
        scratch.replace(self.kill_file)  # whole: the server never reads half a kill point

    def restart(self) -> None:
        start(self.config)

    def wait_killed(self, timeout: float = 60) -> None:
        pid = self.pid()
        deadline = time.monotonic() + timeout
        while _pid_alive(pid):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child: reap it
                    return
            except ChildProcessError:
                pass
            assert time.monotonic() < deadline, "localaws was not killed at the fault point"
            time.sleep(0.05)


@contextmanager
def fault_server(folder: Path, endpoint_delay: float = 0) -> Iterator[Server]:
    """A private localaws (state in `folder`/state) that a test can arm, endpoints taking
    `endpoint_delay` seconds to change state."""
    kill_file = folder / "kill-at-state"
    os.environ[FILE_ENV] = str(kill_file)
    try:
        with slow_endpoints(folder / "state", endpoint_delay) as config:
            yield Server(config, kill_file)
    finally:
        os.environ.pop(FILE_ENV, None)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    with fault_server(tmp_path_factory.mktemp("faults")) as armable:
        yield armable


def stack_session():
    """A session on the server LOCALAWS_* names, the stack deployed."""
    session = connect("local")
    stack.deploy_stack(session)
    return session


@pytest.fixture(scope="module")
def session(server):
    return stack_session()


def new_id(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:6]}"


def start_and_die(server: Server, session, kind: str, tenant: str, state: str) -> float:
    """Arm localaws to die at `state` of the `kind` machine, start it, restart after; the
    time by which it had died."""
    server.arm(f"{STATE_MACHINES[kind]}:{state}")
    # Killed at the first state, the server may die before it answers StartExecution: one
    # attempt (no retry into the dead port), and a cut connection is the expected outcome.
    sfn = session.boto_session.client("stepfunctions", config=ONE_ATTEMPT)
    try:
        sfn.start_execution(
            stateMachineArn=state_machine_arn(session, kind),
            name=f"fault-{uuid.uuid4().hex[:12]}",
            input=json.dumps({"tenant": {"name": tenant}}),
        )
    except (ConnectionClosedError, EndpointConnectionError, ReadTimeoutError):
        pass
    try:
        server.wait_killed()
    finally:
        server.kill_file.unlink(missing_ok=True)  # not reached: disarmed for the next test
    dead_at = time.time()
    server.restart()
    return dead_at


CREATE_STATES = [
    "ReserveTenant",
    "CheckBucket",
    "ClaimBucket",
    "CreateBucketUsEast1",
    "BucketIsOurs",
    "TagBucket",
    "EncryptBucket",
    "CreateRole",
    "PutRolePolicy",
    "PutBucketPolicy",
    "CreateModelPackageGroup",
    "ActivateTenant",
]


@pytest.mark.parametrize("state", CREATE_STATES)
def test_create_killed_at_a_state_is_finished_by_a_rerun(server, session, state):
    tenant = new_id("kc")
    start_and_die(server, session, "create", tenant, state)
    item = tenants.get_tenant_item(session, tenant)
    assert item is None or item["tenant-status"] == "CREATING"
    description = tenants.create_tenant(session, tenant, progress=False)
    assert description["item"]["tenant-status"] == "ACTIVE"
    assert description["bucket"]["tags"] == {"tenant-id": tenant}
    assert description["bucket"]["versioning"] == "Enabled"
    tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)


DELETE_STATES = [
    "MarkDeleting",
    "FindEndpoint",
    "ListModels",
    "DeleteModelPackage",
    "DeleteModelPackageGroup",
    "ListObjectVersions",
    "DeleteVersions",
    "DeleteMarkers",
    "DeleteBucket",
    "DeleteRolePolicy",
    "DeleteRole",
    "DeleteItem",
]


@pytest.mark.parametrize("state", DELETE_STATES)
def test_delete_killed_at_a_state_is_finished_by_a_rerun(server, session, state):
    tenant = new_id("kd")
    bucket = tenants.create_tenant(session, tenant, progress=False)["bucket"]["name"]
    s3 = session.client("s3")
    for n in range(3):
        s3.put_object(Bucket=bucket, Key=f"pipeline/run-{n}/evaluation.json", Body=b"{}")
    s3.delete_object(Bucket=bucket, Key="pipeline/run-0/evaluation.json")
    for _ in range(2):
        add_version(session, tenant)
    start_and_die(server, session, "delete", tenant, state)
    item = tenants.get_tenant_item(session, tenant)
    assert item is None or item["tenant-status"] in ("ACTIVE", "DELETING")  # cut off early
    if item is not None:
        tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)
    tenants.create_tenant(session, tenant, progress=False)  # the name is free again
    tenants.delete_tenant(session, tenant, progress=False)


def test_delete_waits_for_an_asynchronous_endpoint_deletion(server, session):
    """With endpoints Creating / Deleting for a while (as on AWS), delete waits for the
    endpoint to be gone before it removes the role, and leaves nothing listed."""
    stop(server.config)
    os.environ["LOCALAWS_ENDPOINT_DELAY_S"] = "2"
    try:
        server.restart()
    finally:
        os.environ.pop("LOCALAWS_ENDPOINT_DELAY_S")
    try:
        tenant = new_id("async")
        item = tenants.create_tenant(session, tenant, progress=False)["item"]
        sm = session.client("sagemaker")
        name = f"mt-{tenant}-v1-20260101000000"
        tags = [{"Key": "tenant-id", "Value": tenant}]
        sm.create_model(
            ModelName=name,
            ExecutionRoleArn=item["tenant-role"],
            PrimaryContainer=CONTAINER,
            Tags=tags,
        )
        variant = {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1}
        sm.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[{**variant, "InstanceType": "ml.m5.large"}],
            Tags=tags,
        )
        sm.create_endpoint(EndpointName=f"mt-{tenant}", EndpointConfigName=name, Tags=tags)
        assert sm.describe_endpoint(EndpointName=f"mt-{tenant}")["EndpointStatus"] == "Creating"
        execution = tenants.delete_tenant(session, tenant, progress=False)
        states = execution.states
        assert "WaitEndpointDeleted" in states
        assert states.index("EndpointGone") < states.index("DeleteRole")
        assert not sm.list_endpoints(NameContains=f"mt-{tenant}")["Endpoints"]
        assert nothing_left(session, tenant)
    finally:
        stop(server.config)
        server.restart()
