"""Notebooks 00 -> 01 -> 99 under papermill for two tenants side by side."""

from __future__ import annotations

import json

import pytest

from helpers import tenants
from helpers.chain import run_chain
from helpers.session import connect

pytestmark = pytest.mark.slow


def _outputs_text(path) -> str:
    notebook = json.loads(path.read_text())
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            texts += (
                output.get("text", [])
                if isinstance(output.get("text"), list)
                else [output.get("text", "")]
            )
            data = output.get("data", {})
            texts += data.get("text/plain", [])
    return "".join(texts)


def test_two_tenants_onboarded_then_one_removed(localaws, tmp_path):
    first, second = "nb-alpha", "nb-beta"
    for tenant in (first, second):
        done = run_chain(tenant, tmp_path / tenant, notebooks=("00_setup", "01_create_tenant"))
        assert [p.name for p in done] == ["00_setup.ipynb", "01_create_tenant.ipynb"]
        text = _outputs_text(done[1])
        assert "-> ActivateTenant" in text and f"tenant-id={tenant}" in text
        assert "data/raw/churn.csv" in text

    session = connect("local")
    before = tenants.describe_tenant(session, second)
    run_chain(first, tmp_path / f"{first}-cleanup", notebooks=("99_cleanup",))

    assert not any(tenants.tenant_leftovers(session, first).values())
    after = tenants.describe_tenant(session, second)
    assert after == before
    assert [o["key"] for o in after["bucket"]["objects"]] == ["data/raw/churn.csv"]

    done = run_chain(second, tmp_path / f"{second}-cleanup", notebooks=("99_cleanup",))
    assert "stack kept" in _outputs_text(done[0])
    assert not any(tenants.tenant_leftovers(session, second).values())
    # Cleaning up a tenant that is gone is a no-op that still reports nothing left.
    done = run_chain(second, tmp_path / "again", notebooks=("99_cleanup",))
    assert "does not exist: nothing to delete" in _outputs_text(done[0])
