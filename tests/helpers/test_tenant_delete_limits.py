"""The delete state machine within Step Functions' 25,000-event history quota: past its event
budget it continues as a new execution of itself, which helpers.executions follows; and it
retries SageMaker's ConflictException (localaws raises it on request, LOCALAWS_FAULT_CONFLICTS).
"""

from __future__ import annotations

import json
import os

import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from tenant_checks import add_version, new_id, nothing_left

from helpers import stack, tenants
from helpers.session import connect
from localaws.ephemeral import running
from localaws.services.sagemaker import faults
from localaws.services.stepfunctions import history_limit

pytestmark = pytest.mark.slow  # hundreds of model versions, several executions


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


def history(session, arn: str) -> list[dict]:
    sfn, events, token = session.client("stepfunctions"), [], None
    while True:
        page = sfn.get_execution_history(
            executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {})
        )
        events += page["events"]
        if not (token := page.get("nextToken")):
            return events


def chain_to(session, arn: str) -> list[str]:
    """The executions that led to `arn`, first to last: each was started by the one before."""
    sfn, chain = session.client("stepfunctions"), [arn]
    while True:
        described = sfn.describe_execution(executionArn=chain[0])
        parent = json.loads(described["input"]).get("AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID")
        if not parent:
            return chain
        chain.insert(0, parent)


def test_many_model_versions_continue_as_new_executions_within_the_budget(session):
    tenant = new_id("reg")
    tenants.create_tenant(session, tenant, progress=False)
    for _ in range(230):
        add_version(session, tenant)
    budget = 1000  # one page of 100 versions per execution (the default 20,000: ~23 pages)
    payload = {"tenant": {"name": tenant}, "eventBudget": budget}
    execution = tenants.run_state_machine(session, "delete", payload, progress=False)
    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output == {"tenant": tenant, "status": "DELETED", "leftAlone": {}}
    assert nothing_left(session, tenant)

    sfn, chain = session.client("stepfunctions"), chain_to(session, execution.arn)
    assert len(chain) == 3  # 100, 100, then 30 versions, the group and the rest
    for arn in chain:
        events = history(session, arn)
        assert len(events) <= budget
        deleted = [
            e
            for e in events
            if e.get("stateEnteredEventDetails", {}).get("name") == "DeleteModelPackage"
        ]
        assert len(deleted) <= 100
        described = sfn.describe_execution(executionArn=arn)
        assert described["status"] == "SUCCEEDED"
    first = json.loads(sfn.describe_execution(executionArn=chain[0])["output"])
    assert first["status"] == "CONTINUED" and first["continuedIn"] == chain[1]
    assert execution.states.count("DeleteModelPackage") == 230


@pytest.mark.parametrize("budget", [999, 20001, "1000", None, True])
def test_an_event_budget_out_of_range_is_refused_and_changes_nothing(session, budget):
    tenant = new_id("bud")
    tenants.create_tenant(session, tenant, progress=False)
    before = tenants.describe_tenant(session, tenant)
    payload = {"tenant": {"name": tenant}, "eventBudget": budget}
    execution = tenants.run_state_machine(session, "delete", payload, progress=False)
    assert (execution.status, execution.error) == ("FAILED", "InvalidEventBudget")
    assert tenants.describe_tenant(session, tenant) == before
    tenants.delete_tenant(session, tenant, progress=False)
    assert nothing_left(session, tenant)


def test_delete_retries_conflict_exceptions_with_backoff(tmp_path):
    """Each model version conflicts twice and the group once (localaws' fault hook, checked
    directly first): the delete retries (1 s, then x2) and succeeds."""
    os.environ[faults.ENV] = "DeleteModelPackage=2,DeleteModelPackageGroup=1"
    try:
        with running(tmp_path / "state"):
            session = connect("local")
            stack.deploy_stack(session)
            tenant = new_id("conflict")
            tenants.create_tenant(session, tenant, progress=False)
            probe = add_version(session, tenant)
            sm = session.boto_session.client(  # this server's credentials, not the worker's
                "sagemaker", config=BotoConfig(retries={"total_max_attempts": 1})
            )
            for _ in range(2):
                with pytest.raises(ClientError) as refused:
                    sm.delete_model_package(ModelPackageName=probe)
                assert refused.value.response["Error"]["Code"] == "ConflictException"
            sm.delete_model_package(ModelPackageName=probe)  # the third call goes through

            add_version(session, tenant)
            execution = tenants.delete_tenant(session, tenant, progress=False)
            assert nothing_left(session, tenant)
            failed = [
                (e["timestamp"], e["previousEventId"])
                for e in history(session, execution.arn)
                if e["type"] == "TaskFailed"
                and e["taskFailedEventDetails"]["error"] == "SageMaker.ConflictException"
            ]
            assert len(failed) == 3  # two for the version, one for the group
            version_failures = [t for t, _ in failed[:2]]
            assert (version_failures[1] - version_failures[0]).total_seconds() >= 1
    finally:
        os.environ.pop(faults.ENV, None)


def test_under_an_enforced_history_limit_only_the_event_budget_gets_through(tmp_path):
    """localaws enforces the history quota (lowered here to 1000 events, the smallest budget):
    the default budget of 20,000 runs past it and fails as on AWS, a budget of 1000 keeps
    every execution of the chain within it, and running the delete again finishes the tenant
    the failed one left half deleted."""
    os.environ[history_limit.ENV] = "1000"
    try:
        with running(tmp_path / "state"):
            session = connect("local")
            stack.deploy_stack(session)
            cut, kept = new_id("cut"), new_id("kept")
            for tenant in (cut, kept):
                tenants.create_tenant(session, tenant, progress=False)
                for _ in range(150):
                    add_version(session, tenant)

            payload = {"tenant": {"name": cut}}
            failed = tenants.run_state_machine(session, "delete", payload, progress=False)
            assert (failed.status, failed.error) == ("FAILED", "States.Runtime")
            assert failed.cause == history_limit.cause(1000)
            events = history(session, failed.arn)
            assert (len(events), events[-1]["type"]) == (1000, "ExecutionFailed")

            payload = {"tenant": {"name": kept}, "eventBudget": 1000}
            execution = tenants.run_state_machine(session, "delete", payload, progress=False)
            assert execution.status == "SUCCEEDED", execution.cause
            assert execution.states.count("DeleteModelPackage") == 150
            chain = chain_to(session, execution.arn)
            assert len(chain) == 2  # 100 versions, then 50 and the rest
            assert all(len(history(session, arn)) <= 1000 for arn in chain)
            assert nothing_left(session, kept)

            payload = {"tenant": {"name": cut}, "eventBudget": 1000}
            again = tenants.run_state_machine(session, "delete", payload, progress=False)
            assert again.status == "SUCCEEDED", again.cause
            assert nothing_left(session, cut)
    finally:
        os.environ.pop(history_limit.ENV, None)
