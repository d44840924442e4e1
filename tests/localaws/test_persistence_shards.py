"""Resource-per-file persistence (`persistence.shards`): a write saves what it reached.

In-process, on moto's real IAM and STS backends and a real `Store` in a temporary state
directory: what one write journals, what a background thread's named save journals, what a
restart (and a crash after the acknowledgement) brings back, and the earlier layout (one
pickle per backend) loading and being split. The server-level guarantees (kill -9, every
service) are in test_persistence.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from localaws.persistence import journal, tracking
from localaws.persistence.store import Store

ACCOUNT = "123456789012"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "*"}
        ],
    }
)
POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)
ROLES = 300


def _iam():
    return iam_backends[ACCOUNT]["global"]


def _reset() -> None:
    _iam().reset()
    sts_backends[ACCOUNT]["global"].reset()


def _open(state_dir: Path) -> Store:
    store = Store(state_dir)
    store.ensure_format()
    store.restore()
    return store


def _restart(store: Store, crash: bool = False) -> Store:
    """A new process's view: moto emptied, the state directory restored (after a clean
    close, or, with `crash`, straight from the journal as after kill -9)."""
    if not crash:
        store.journal.close()
    _reset()
    return _open(store.state_dir)


def _journaled(store: Store, write) -> dict[str, bytes | None]:
    """Run `write` as one request does; return the records its save appended."""
    store.journal.checkpoint()
    with tracking.tracking():
        write()
        ticket = store.append("iam")
    if ticket:
        store.journal.sync(ticket)
    return {rel: data for rel, (data, _) in store.journal._pending.items()}


@pytest.fixture(autouse=True)
def _no_background_checkpoints(monkeypatch):
    """The tests read what the journal holds; a checkpoint would move it meanwhile."""
    monkeypatch.setattr(journal, "CHECKPOINT_SECONDS", 3600.0)


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    _reset()
    opened = _open(tmp_path / "state")
    iam = _iam()
    for i in range(ROLES):
        iam.create_role(f"role-{i:03d}", TRUST, "/", None, "", [], None)
    opened.save("iam")
    opened.journal.checkpoint()
    try:
        yield opened
    finally:
        opened.journal.close()
        _reset()


def _shard_files(store: Store) -> list[Path]:
    return sorted((store.state_dir / "data" / "iam" / ACCOUNT).glob("*.shards/*.pkl"))


def test_a_write_journals_only_the_resource_it_reached(store: Store):
    assert len(_shard_files(store)) >= ROLES  # one file per role (plus other resources)
    total = sum(p.stat().st_size for p in _shard_files(store))
    # PutRolePolicy: moto finds the role by scanning every role by name.
    written = _journaled(store, lambda: _iam().put_role_policy("role-150", "inline", POLICY))
    shards = [rel for rel in written if ".shards/" in rel]
    assert len(shards) == 1, written.keys()
    assert len(written) <= 2  # the role's file, and the backend's small remainder if it changed
    assert sum(len(d or b"") for d in written.values()) < total / 20
    # Untouched since: a second identical write journals nothing for the role.
    again = _journaled(store, lambda: _iam().put_role_policy("role-150", "inline", POLICY))
    assert not [rel for rel in again if ".shards/" in rel]


def test_delete_and_create_journal_one_file_each(store: Store):
    created = _journaled(store, lambda: _iam().create_role("new", TRUST, "/", None, "", [], None))
    assert len([r for r in created if ".shards/" in r and created[r] is not None]) == 1
    deleted = _journaled(store, lambda: _iam().delete_role("role-007"))
    assert [data for rel, data in deleted.items() if ".shards/" in rel] == [None]
    restored = _restart(store)
    try:
        names = {role.name for role in _iam().roles.values()}
        assert "new" in names and "role-007" not in names and len(names) == ROLES
    finally:
        restored.journal.close()


def test_a_thread_names_what_it_changed_or_everything_is_compared(store: Store):
    iam = _iam()
    role, other = iam.get_role("role-010"), iam.get_role("role-020")
    role.description, other.description = "named", "not named"
    store.journal.checkpoint()
    store.save("iam", None, (role,))  # outside a request, as `hooks.changed` does
    written = [rel for rel in store.journal._pending if ".shards/" in rel]
    assert len(written) == 1
    store.save("iam")  # no names: every resource compared, the other change found
    written = [rel for rel in store.journal._pending if ".shards/" in rel]
    assert len(written) == 2
    restored = _restart(store, crash=True)  # no checkpoint, no close: the journal alone
    try:
        assert _iam().get_role("role-010").description == "named"
        assert _iam().get_role("role-020").description == "not named"
    finally:
        restored.journal.close()


def test_restart_keeps_references_between_resources_and_list_order(store: Store):
    iam = _iam()
    policy = iam.create_policy("shared", "p", POLICY, "/", [])
    for name in ("role-001", "role-002"):
        iam.attach_role_policy(policy.arn, name)
    store.save("iam")
    sts = sts_backends[ACCOUNT]["global"]
    sessions = [
        sts.assume_role("us-east-1", f"s{i}", iam.get_role("role-001").arn, None, 900, None)
        for i in range(5)
    ]
    store.save("sts", None, (sessions[-1],))
    restored = _restart(store, crash=True)
    try:
        iam = _iam()
        shared = iam.managed_policies[policy.arn]
        one, two = iam.get_role("role-001"), iam.get_role("role-002")
        assert one.managed_policies[policy.arn] is shared is two.managed_policies[policy.arn]
        assert shared.attachment_count == 2
        keys = [r.access_key_id for r in sts_backends[ACCOUNT]["global"].assumed_roles]
        assert keys == [s.access_key_id for s in sessions]
    finally:
        restored.journal.close()


def test_the_earlier_layout_loads_and_is_split_at_the_first_save(tmp_path):
    """State written before shards: one pickle of the whole backend at <region>.pkl."""
    _reset()
    old = _open(tmp_path / "state")
    try:
        iam = _iam()
        for i in range(20):
            iam.create_role(f"old-{i}", TRUST, "/", None, "", [], None)
        main = tmp_path / "state" / "data" / "iam" / ACCOUNT / "aws.pkl"
        main.parent.mkdir(parents=True, exist_ok=True)
        main.write_bytes(old._pickler.dumps(dict(iam.__dict__)))  # how it was saved before
    finally:
        old.journal.close()
    _reset()
    store = _open(tmp_path / "state")
    try:
        assert len(_iam().roles) == 20
        assert not _shard_files(store)
        with tracking.tracking():
            _iam().tag_role("old-3", [{"Key": "k", "Value": "v"}])
            store.save("iam")
        store.journal.checkpoint()
        assert len(_shard_files(store)) >= 20  # split: every role in its own file
        store = _restart(store)
        assert len(_iam().roles) == 20
        assert _iam().list_role_tags("old-3", None, 100)[0] == [{"Key": "k", "Value": "v"}]
    finally:
        store.journal.close()
        _reset()


def test_tracked_collections_report_lookups_and_where_a_scan_stopped():
    """A looked-up key and the item a scan stopped at are `full`; items a scan went past are
    `scanned`; nothing is recorded outside a request; a scan survives concurrent inserts."""
    from types import SimpleNamespace

    from localaws.persistence.tracking import TrackedDict, TrackedList

    roles = TrackedDict({f"id-{i}": SimpleNamespace(name=f"r{i}") for i in range(10)})
    roles.get("id-1")  # outside a request
    with tracking.tracking() as touches:
        roles.get("id-9")
        found = next(r for r in roles.values() if r.name == "r3")
        assert found.name == "r3"
        for _ in roles.values():
            roles[f"new-{_.name}"] = SimpleNamespace(name="x")  # grows while scanned
    assert touches.full[id(roles)] >= {"id-9", "id-3"}
    assert {"id-0", "id-1", "id-2"} <= touches.scanned[id(roles)]
    assert "id-1" not in touches.full[id(roles)]

    runs = TrackedList(SimpleNamespace(arn=f"arn-{i}") for i in range(5))
    runs.key_attr = "arn"
    version = runs.version
    with tracking.tracking() as touches:
        assert next(x for x in runs if x.arn == "arn-2").arn == "arn-2"
        runs.append(SimpleNamespace(arn="arn-5"))
    assert touches.full[id(runs)] == {"arn-2", "arn-5"}
    assert touches.scanned[id(runs)] == {"arn-0", "arn-1"}
    assert runs.version > version


def _sagemaker():
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[ACCOUNT]["us-east-1"]


def _pipeline_with_runs(runs: int) -> tuple[Any, list[str]]:
    sm = _sagemaker()
    sm.reset()
    sm.create_pipeline("p", "p", '{"Steps": []}', None, "", "arn:aws:iam::1:role/r", [], None)
    arns = [
        sm.start_pipeline_execution("p", f"run-{i}", [], "", None, f"t{i}")["PipelineExecutionArn"]
        for i in range(runs)
    ]
    return sm.pipelines["p"], arns


def test_a_pipeline_execution_is_saved_without_its_pipelines_other_executions(tmp_path):
    """A pipeline holds its executions (every tenant's runs): a step's save of one execution
    (named by the interpreter thread) journals that execution, not the pipeline with all."""
    _reset()
    store = _open(tmp_path / "state")
    try:
        pipeline, arns = _pipeline_with_runs(200)
        store.save("sagemaker")
        store.journal.checkpoint()
        run = pipeline.pipeline_executions[arns[57]]
        run.pipeline_execution_status = "Executing"
        store.save("sagemaker", None, (run,))
        written = {r: d for r, (d, _) in store.journal._pending.items() if ".shards/" in r}
        assert len(written) == 1 and b"run-57" in next(iter(written.values()))
        assert b"run-58" not in next(iter(written.values()))
        store = _restart(store, crash=True)
        restored = _sagemaker().pipelines["p"].pipeline_executions
        assert list(restored) == arns
        assert restored[arns[57]].pipeline_execution_status == "Executing"
        assert restored[arns[3]].pipeline_execution_status == "Succeeded"
    finally:
        store.journal.close()
        _sagemaker().reset()


def test_executions_saved_inside_their_pipeline_load_and_are_split(tmp_path, monkeypatch):
    """State written when a pipeline's file held its executions loads; the first save after
    writes each execution on its own and the pipeline without them, and a restart after
    still has every execution with its last state."""
    from localaws.persistence import catalog
    from localaws.persistence import store as store_module

    unsplit = catalog.ServiceSpec("moto.sagemaker.models", "sagemaker_backends")
    monkeypatch.setitem(store_module.SERVICES, "sagemaker", unsplit)
    _reset()
    store = _open(tmp_path / "state")
    try:
        pipeline, arns = _pipeline_with_runs(5)
        store.save("sagemaker")
    finally:
        store.journal.close()
    monkeypatch.undo()
    _sagemaker().reset()
    store = _open(tmp_path / "state")
    try:
        runs = _sagemaker().pipelines["p"].pipeline_executions
        assert list(runs) == arns
        runs[arns[1]].pipeline_execution_status = "Stopped"
        store.save("sagemaker", None, (runs[arns[1]],))
        written = [r for r, (d, _) in store.journal._pending.items() if ".shards/" in r and d]
        assert len(written) == 1 + len(arns)  # the pipeline and, split off, its executions
        store = _restart(store, crash=True)
        runs = _sagemaker().pipelines["p"].pipeline_executions
        assert list(runs) == arns
        assert [r.pipeline_execution_status for r in runs.values()].count("Stopped") == 1
    finally:
        store.journal.close()
        _sagemaker().reset()


def test_registering_and_deleting_a_version_reach_only_its_own_group(tmp_path):
    """Version numbers and the group's remaining versions are read, not reached: a save after
    CreateModelPackage / DeleteModelPackage compares that version, not every tenant's."""
    from localaws.core.patching import apply_all, undo_all
    from localaws.services.sagemaker import registry

    fields = (
        "model_package_description inference_specification source_algorithm_specification "
        "validation_specification certify_for_marketplace metadata_properties model_metrics "
        "customer_metadata_properties drift_check_baselines domain task sample_payload_url "
        "additional_inference_specifications client_token model_approval_status "
        "tags model_package_name"
    ).split()

    def register(group: str) -> str:  # as the response layer calls it: every field given
        return sm.create_model_package(model_package_group_name=group, **dict.fromkeys(fields))

    groups = [g for g in (registry.patches,) if not g.applied]
    apply_all(groups)
    sm = _sagemaker()
    sm.reset()
    store = _open(tmp_path / "state")
    try:
        for i in range(30):
            sm.create_model_package_group(f"g{i}", "", None)
            register(f"g{i}")
        store.save("sagemaker")  # the collections are tracked from here on
        with tracking.tracking() as touches:
            arn = register("g7")
            store.append("sagemaker")
        assert arn.endswith("g7/2")
        assert not touches.scanned.get(id(sm.model_packages))
        assert set(touches.full[id(sm.model_packages)]) == {arn}
        with tracking.tracking() as touches:
            sm.delete_model_package(arn)
            store.append("sagemaker")
        assert not touches.scanned
        left = registry._versions(sm, "g7")
        assert [p.model_package_version for p in left] == [1]
        assert sm.model_package_name_mapping["g7"] == left[0].arn
    finally:
        store.journal.close()
        sm.reset()
        undo_all(groups)


def test_creating_a_role_reaches_no_other_role(store: Store):
    """CreateRole checks that the name is free without the save comparing every role."""
    from moto.iam.exceptions import EntityAlreadyExists

    from localaws.core.patching import apply_all, undo_all
    from localaws.services.iam import lookups

    groups = [g for g in (lookups.patches,) if not g.applied]
    apply_all(groups)
    try:
        with tracking.tracking() as touches:
            role = _iam().create_role("fresh", TRUST, "/", None, "", [], None)
        assert not touches.scanned and set(touches.full[id(_iam().roles)]) == {role.id}
        with pytest.raises(EntityAlreadyExists):
            _iam().create_role("role-042", TRUST, "/", None, "", [], None)
        assert _iam().get_role("role-042").name == "role-042"
    finally:
        undo_all(groups)


def test_deleting_a_model_reaches_no_other_model(tmp_path):
    """DeleteModel (`services.sagemaker.names`) takes the model by its name, no scan."""
    from moto.sagemaker.exceptions import MissingModel

    from localaws.services.sagemaker.names import delete_model

    sm = _sagemaker()
    sm.reset()
    store = _open(tmp_path / "state")
    try:
        for i in range(20):
            sm.create_model(f"m{i}", "arn:aws:iam::1:role/r", {"Image": "i"}, None, None, None)
        store.save("sagemaker")
        with tracking.tracking() as touches:
            delete_model(sm, "m5")
        assert not touches.scanned and "m5" not in sm._models and len(sm._models) == 19
        with pytest.raises(MissingModel, match='Could not find model "m5"'):
            delete_model(sm, "m5")
    finally:
        store.journal.close()
        sm.reset()
