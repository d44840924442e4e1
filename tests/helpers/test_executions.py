"""The one tenant look-up, the one state-machine runner and the one versions listing."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from helpers import approval, deploy, executions, registry, stack, tenants
from helpers.errors import ExecutionFailed, TenantNotFound
from helpers.naming import model_package_group, state_machine_arn
from helpers.pipeline import tenant_target
from helpers.session import connect
from helpers.tenant_table import tenant_item


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


@pytest.fixture(scope="module")
def tenant_id(session):
    tenant_id = f"run-{uuid.uuid4().hex[:6]}"
    tenants.create_tenant(session, tenant_id, progress=False)
    yield tenant_id
    tenants.delete_tenant(session, tenant_id, progress=False)


def test_state_machine_arns_follow_the_partition():
    assert state_machine_arn("create", "us-east-1", "123456789012") == (
        "arn:aws:states:us-east-1:123456789012:stateMachine:"
        "sm-multitenant-create-tenant-statemachine"
    )
    assert state_machine_arn("deploy", "cn-north-1", "1").startswith("arn:aws-cn:states:")
    assert state_machine_arn("delete", "us-gov-west-1", "1").startswith("arn:aws-us-gov:")


def test_connect_says_what_it_changed_in_the_environment(session):
    changed = session.environment
    assert changed["AWS_ENDPOINT_URL"] == os.environ["AWS_ENDPOINT_URL"]
    assert changed["AWS_DEFAULT_REGION"] == "us-east-1" == os.environ["AWS_DEFAULT_REGION"]
    assert changed["AWS_SESSION_TOKEN"] is None and "AWS_SESSION_TOKEN" not in os.environ


def test_connect_aws_after_local_removes_only_what_local_set(session):
    saved = dict(os.environ)
    try:
        os.environ["AWS_MAX_ATTEMPTS"] = "7"
        aws = connect("aws", "eu-west-1")
        removed = {k for k, v in aws.environment.items() if v is None}
        assert "AWS_ENDPOINT_URL" in removed and "AWS_ACCESS_KEY_ID" in removed
        assert "AWS_ENDPOINT_URL" not in os.environ and os.environ["AWS_MAX_ATTEMPTS"] == "7"
        assert aws.environment["AWS_DEFAULT_REGION"] == "eu-west-1" and aws.endpoint_url is None
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.mark.parametrize(
    "lookup",
    [
        lambda s, t: tenant_item(s, t),
        lambda s, t: tenants.describe_tenant(s, t),
        lambda s, t: tenants.upload_tenant_data(s, t, rows=10),
        lambda s, t: tenant_target(s, t),
        lambda s, t: registry.tenant_versions(s, t),
        lambda s, t: deploy.sample_rows(s, t),
        lambda s, t: deploy.deploy(s, t, progress=False),
    ],
)
def test_a_missing_tenant_is_one_error_naming_tenant_and_table(session, lookup):
    ghost = f"ghost-{uuid.uuid4().hex[:6]}"
    with pytest.raises(TenantNotFound) as err:
        lookup(session, ghost)
    assert f"tenant {ghost!r} not found in table 'allTenants'" in str(err.value)
    assert err.value.error == "TenantNotFound"


@pytest.mark.slow
def test_runner_returns_the_execution_and_check_raises_its_error(session, tenant_id):
    sfn, histories = session.client("stepfunctions"), []
    sfn.meta.events.register(
        "before-call.sfn.GetExecutionHistory", lambda **kw: histories.append(kw["params"])
    )
    execution = executions.run_state_machine(
        session, "create", {"tenant": {"name": tenant_id}}, progress=False
    )
    assert execution.status == "FAILED" and execution.error == "TenantAlreadyExists"
    assert not histories  # without a progress display the history is read only when asked
    assert execution.states[0] and execution.seconds > 0
    assert len(histories) == 1 and execution.states and len(histories) == 1
    with pytest.raises(tenants.TenantExists) as err:
        execution.check("creating again")
    assert err.value.cause == execution.cause and err.value.execution_arn == execution.arn
    assert str(err.value).startswith("creating again failed: TenantAlreadyExists: ")

    invalid = executions.run_state_machine(session, "delete", {}, progress=False)
    assert invalid.states == executions.entered_states(sfn, invalid.arn)
    with pytest.raises(ExecutionFailed) as err:
        invalid.check("deleting nothing")
    assert type(err.value) is ExecutionFailed and err.value.error == "InvalidTenantName"


@pytest.mark.slow
def test_versions_are_listed_with_one_describe_each(session, tenant_id, monkeypatch):
    item = tenant_item(session, tenant_id)
    sm = session.client("sagemaker")
    report = {"binary_classification_metrics": {"accuracy": {"value": 0.75}}}
    uri = f"s3://{item['tenant-bucket']}/pipeline/x/evaluation/evaluation.json"
    session.client("s3").put_object(
        Bucket=item["tenant-bucket"],
        Key=uri.split("/", 3)[3],
        Body=json.dumps(report).encode(),
    )
    for _ in range(3):
        sm.create_model_package(
            ModelPackageGroupName=model_package_group(tenant_id),
            InferenceSpecification={
                "Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            ModelApprovalStatus="PendingManualApproval",
            ModelMetrics={
                "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": uri}}
            },
            CustomerMetadataProperties={"tenant-id": tenant_id},
        )
    approval.approve(session, tenant_id, 2, "the middle one")
    calls: list[str] = []
    describe = sm.describe_model_package
    monkeypatch.setattr(
        sm,
        "describe_model_package",
        lambda **kw: calls.append(kw["ModelPackageName"]) or describe(**kw),
    )
    versions = registry.list_versions(session, model_package_group(tenant_id))
    assert [v.version for v in versions] == [3, 2, 1]
    assert len(calls) == 3 == len(set(calls))
    assert versions[1].status == "Approved" and versions[1].comment == "the middle one"
    assert versions[0].metrics == {"accuracy": 0.75} and versions[0].tenant_id == tenant_id

    calls.clear()
    table = approval.versions_table(session, tenant_id)
    assert len(calls) == 3 and list(table.index) == [3, 2, 1]
    assert table.loc[2, "comment"] == "the middle one"
    frame = registry.tenant_versions(session, tenant_id)
    assert list(frame["version"]) == [1, 2, 3] and list(frame.columns) == registry.COLUMNS
    assert approval.latest_version(session, tenant_id, "Approved").version == 2


def test_the_runner_polls_less_as_a_run_ages():
    """Briskly at first, at most every 0.5 s while young, every 1 s past 10 s: a 1.5 s run
    is described 7 times (each poll is a request the server pays for)."""
    import itertools
    import time

    young = list(itertools.islice(executions.poll_delays(time.monotonic()), 10))
    assert young[0] == 0.05 and young == sorted(young) and max(young) == 0.25
    running = itertools.takewhile(lambda t: t < 1.5, itertools.accumulate(young))
    assert len(list(running)) + 1 == 9  # the polls that saw it running, and the one after
    old = list(itertools.islice(executions.poll_delays(time.monotonic() - 11), 3))
    assert old == [0.05, 1.0, 1.0]
