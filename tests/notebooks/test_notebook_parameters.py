"""Each notebook checks its parameters first: a bad one stops it with one line naming it,
before any AWS call (nothing is created)."""

from __future__ import annotations

import pytest
from papermill.exceptions import PapermillExecutionError

from helpers import stack
from helpers.chain import run_chain
from helpers.session import connect
from helpers.tenants import get_tenant_item

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(localaws):
    """A session on a localaws where the stack (and so the tenant table) exists."""
    session = connect("local")
    stack.deploy_stack(session)
    return session


@pytest.mark.parametrize(
    "notebook, bad, says",
    [
        ("01_create_tenant", {"region": "mars"}, "region: must be an AWS region"),
        ("01_create_tenant", {"data_path": ""}, "data_path: must be None, a path"),
        ("02_pipeline", {"max_depth": -3}, "max_depth"),
        ("03_deploy", {"model_package_arn": 1.5}, "model_package_arn: must be None"),
        ("99_cleanup", {"delete_stack": "yes"}, "delete_stack: must be True or False"),
    ],
)
def test_a_bad_parameter_stops_the_notebook_before_any_aws_call(
    session, tmp_path, notebook, bad, says
):
    with pytest.raises(PapermillExecutionError) as failure:
        run_chain("param-check", tmp_path, (notebook,), extra={notebook: bad})
    assert says in failure.value.evalue and "\n" not in failure.value.evalue
    assert failure.value.exec_count == 3  # parameters, papermill's injected ones, the check
    assert get_tenant_item(session, "param-check") is None
