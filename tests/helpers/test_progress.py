"""helpers.progress: live updates while an operation runs, one compact summary that stays."""

from __future__ import annotations

import io
import re
import uuid

import pytest

from helpers import executions, progress, stack, tenants
from helpers.pipeline.run import ExecutionResult, StepState, summary
from helpers.session import connect


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeHandle:
    def __init__(self, shown: list[str]):
        self.shown = shown

    def update(self, obj) -> None:
        self.shown[-1] = repr(obj)


def test_plain_stream_gets_only_the_summary():
    out = io.StringIO()
    line = progress.Progress(out)
    line.update("create-tenant acme: ReserveTenant (2 states, 0.1 s)")
    line.finish("create-tenant acme: 9 states, Succeeded in 0.4 s")
    assert out.getvalue() == "create-tenant acme: 9 states, Succeeded in 0.4 s\n"


def test_terminal_redraws_one_line_and_ends_with_the_summary():
    out = Tty()
    line = progress.Progress(out)
    line.update("a long first state name")
    line.update("short")
    line.finish("done")
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rsplit("\r", 1)[-1].rstrip() == "done"


def test_notebook_keeps_only_the_last_update(monkeypatch):
    shown: list[str] = []

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(repr(obj))
        return FakeHandle(shown)

    monkeypatch.setattr(progress, "_notebook_display", lambda: display)
    line = progress.Progress(True)
    for state in ("Validate", "Reserve", "Bucket"):
        line.update(f"create-tenant acme: {state}")
    line.finish("create-tenant acme: 9 states, Succeeded in 0.4 s")
    assert shown == ["create-tenant acme: 9 states, Succeeded in 0.4 s"]


def test_disabled_writes_nothing(capsys):
    for target in (False, None):
        line = progress.Progress(target)
        assert not line.enabled
        line.update("x")
        line.finish("y")
    assert capsys.readouterr().out == ""


def test_pipeline_summary_is_one_line():
    steps = [StepState(n, "Succeeded") for n in ("Preprocess", "Train", "Evaluate")]
    ok = ExecutionResult("arn", "Succeeded", "", steps, 12.34)
    assert summary(ok) == "pipeline: 3 steps, Succeeded in 12.3 s"
    failed = ExecutionResult("arn", "Failed", "accuracy too low", steps, 1.0)
    assert summary(failed) == "pipeline: 3 steps, Failed in 1.0 s (accuracy too low)"


@pytest.fixture(scope="module")
def session(localaws):
    session = connect("local")
    stack.deploy_stack(session)
    return session


@pytest.mark.slow
def test_real_create_and_delete_leave_one_correct_line_each(session):
    tenant_id = f"prog-{uuid.uuid4().hex[:6]}"
    out = io.StringIO()
    tenants.create_tenant(session, tenant_id, progress=out)
    execution = tenants.delete_tenant(session, tenant_id, progress=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, lines
    pattern = r"^(create|delete)-tenant {}: (\d+) states, Succeeded in \d+\.\d s$"
    created = re.match(pattern.format(tenant_id), lines[0])
    deleted = re.match(pattern.format(tenant_id), lines[1])
    assert created and created[1] == "create" and int(created[2]) >= 5
    assert deleted and deleted[1] == "delete" and int(deleted[2]) == len(execution.states)


@pytest.mark.slow
def test_a_live_display_reads_only_new_history_events_per_poll(session):
    """Each poll of a shown execution asks for the newest page (no execution data) and stops at
    the events it already has; the states it collects are the whole history's."""
    tenant_id = f"prog-{uuid.uuid4().hex[:6]}"
    sfn, asked, returned = session.client("stepfunctions"), [], []
    sfn.meta.events.register(
        "before-parameter-build.sfn.GetExecutionHistory",
        lambda params, **kw: asked.append(dict(params)),
    )
    sfn.meta.events.register(
        "after-call.sfn.GetExecutionHistory",
        lambda parsed, **kw: returned.append(len(parsed["events"])),
    )
    execution = executions.run_state_machine(
        session, "create", {"tenant": {"name": tenant_id}}, name_hint=tenant_id, progress=Tty()
    )
    try:
        # A first read, then a page per poll (none if the execution ended before a second poll).
        assert execution.status == "SUCCEEDED" and asked
        polled = len(asked)
        # Reading again from a fresh reader: its first read, then one newest page with nothing new.
        again = executions.EnteredStates(sfn, execution.arn)
        assert again.refresh() == again.refresh() == execution.states
        assert asked[polled]["maxResults"] == 1000
        for params, count in zip(
            asked[1:polled] + asked[polled + 1 :],
            returned[1:polled] + returned[polled + 1 :],
            strict=True,
        ):
            assert params["reverseOrder"] is True and params["includeExecutionData"] is False
            assert params["maxResults"] == executions.EnteredStates.PAGE
            assert count <= executions.EnteredStates.PAGE
        full = sfn.get_execution_history(executionArn=execution.arn, maxResults=1000)["events"]
        entered = [
            e["stateEnteredEventDetails"]["name"] for e in full if "stateEnteredEventDetails" in e
        ]
        assert execution.states == entered and len(entered) > 5
    finally:
        tenants.delete_tenant(session, tenant_id, progress=False)


def test_an_executed_notebook_keeps_only_the_summary(tmp_path):
    """In a real Jupyter kernel (as papermill and nbval run them) the updates replace each
    other: the saved cell output is the summary line alone."""
    import nbformat
    from nbclient import NotebookClient

    code = (
        "from helpers.progress import Progress\n"
        "line = Progress(True)\n"
        "for i in range(30):\n"
        "    line.update(f'state {i}')\n"
        "line.finish('create-tenant acme: 30 states, Succeeded in 0.1 s')\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={}).execute()
    outputs = notebook.cells[0].outputs
    texts = [o.get("data", {}).get("text/plain", o.get("text", "")) for o in outputs]
    assert texts == ["create-tenant acme: 30 states, Succeeded in 0.1 s"]
