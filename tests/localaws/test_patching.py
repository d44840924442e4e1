"""The patch mechanism: checks before it changes anything, applies in order, undoes exactly."""

from __future__ import annotations

import types

import pytest

from localaws.core.patching import PatchError, Patches, apply_all, check, undo_all


class Target:
    def greet(self, name: str) -> str:
        return f"hello {name}"

    @staticmethod
    def static(x: int) -> int:
        return x + 1

    @classmethod
    def kind(cls) -> str:
        return cls.__name__


def test_wrap_passes_the_original_and_undo_restores_it():
    original = Target.__dict__["greet"]
    group = Patches("demo")

    @group.wrap(Target, "greet")
    def greet(orig, self, name):
        return orig(self, name).upper()

    group.apply()
    assert Target().greet("x") == "HELLO X"
    group.apply()  # idempotent: not wrapped twice
    assert Target().greet("x") == "HELLO X"
    group.undo()
    assert Target.__dict__["greet"] is original
    assert Target().greet("x") == "hello x"


def test_wrap_keeps_static_and_class_methods():
    group = Patches("kinds")

    @group.wrap(Target, "static")
    def static(orig, x):
        return orig(x) * 10

    @group.wrap(Target, "kind")
    def kind(orig):
        return "kind of " + orig()

    group.apply()
    try:
        assert Target.static(1) == 20
        assert Target().static(2) == 30
        assert Target.kind() == "kind of Target"
    finally:
        group.undo()
    assert Target.static(1) == 2


def test_add_refuses_an_existing_attribute_and_replace_a_missing_one():
    adds = Patches("adds")
    adds.add(Target, "greet")(lambda self: "x")
    with pytest.raises(PatchError, match=r"Target\.greet already exists"):
        adds.apply()
    replaces = Patches("replaces")
    replaces.set(Target, "vanished", 1)
    with pytest.raises(PatchError) as err:
        apply_all([replaces])
    assert f"{Target.__module__}.Target.vanished is missing" in str(err.value)
    assert "\n" not in str(err.value)
    assert not hasattr(Target, "vanished")


def test_nothing_is_applied_when_any_group_has_a_problem():
    good, bad = Patches("good"), Patches("bad")
    good.set(Target, "greet", lambda self, name: "patched")
    bad.set(Target, "nope", 1)
    with pytest.raises(PatchError, match="'bad'.*Target.nope is missing"):
        apply_all([good, bad])
    assert Target().greet("x") == "hello x"


def test_declared_order_is_checked():
    first, second = Patches("first"), Patches("second", after=("first",))
    with pytest.raises(PatchError, match="'second' must come after 'first'"):
        check([second, first])
    apply_all([first, second])
    undo_all([first, second])


def test_modules_and_mappings_can_be_patched():
    module = types.ModuleType("fake_moto")
    module.setting = 1
    registry = {"a": 1}
    group = Patches("misc")
    group.set(module, "setting", 2)
    group.add(registry, "b")(2)
    group.apply()
    assert module.setting == 2 and registry == {"a": 1, "b": 2}
    assert group.targets() == ["fake_moto.setting", "['b'] of a dict"]
    group.undo()
    assert module.setting == 1 and registry == {"a": 1}


class Child(Target):
    pass


def test_undo_of_an_inherited_attribute_removes_the_override():
    group = Patches("inherited")

    @group.wrap(Child, "greet")
    def greet(orig, self, name):
        return "child " + orig(self, name)

    group.apply()
    assert Child().greet("x") == "child hello x" and Target().greet("x") == "hello x"
    group.undo()
    assert "greet" not in Child.__dict__
    assert Child().greet("x") == "hello x"


def test_put_takes_a_key_either_way_and_refresh_runs_on_apply_and_undo():
    registry = {"a": 1}
    calls = []
    group = Patches("put")
    group.put(registry, "a", 10)
    group.put(registry, "b", 20)
    group.refresh(lambda: calls.append(dict(registry)))
    group.apply()
    assert registry == {"a": 10, "b": 20}
    group.undo()
    assert registry == {"a": 1}
    assert calls == [{"a": 10, "b": 20}, {"a": 1}]


def test_wrap_of_an_inherited_classmethod_stays_a_classmethod():
    group = Patches("inherited-kind")

    @group.wrap(Child, "kind")
    def kind(orig):
        return "child kind of " + orig()

    group.apply()
    try:
        assert Child.kind() == "child kind of Child"
        assert Target.kind() == "Target"
    finally:
        group.undo()
    assert "kind" not in Child.__dict__


def test_every_group_targets_the_pinned_moto_in_a_valid_order():
    import moto

    from localaws.services import all_groups

    assert moto.__version__ == "5.2.5"  # the pin (pyproject.toml) these groups were written for
    declared = all_groups()
    names = [group.name for group in declared]
    assert len(names) == len(set(names))
    check(declared)  # every target present (absent for `add`), every `after` earlier
    assert all(group.targets() for group in declared)


def test_a_missing_moto_attribute_stops_the_start_with_one_line(tmp_path, monkeypatch, capsys):
    import socket

    from moto.sagemaker.models import SageMakerModelBackend

    from localaws import server
    from localaws.services import boot_groups, groups

    assert not any(group.applied for group in boot_groups() + groups())  # servers run elsewhere
    monkeypatch.delattr(SageMakerModelBackend, "create_endpoint")
    monkeypatch.setenv("MOTO_PORT", "0")  # create_app sets it; monkeypatch restores it
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SystemExit) as stopped:
        server.main(["--state-dir", str(tmp_path / "state"), "--port", str(port)])
    assert stopped.value.code == server.EXIT_INCOMPATIBLE_MOTO
    err = capsys.readouterr().err.strip()
    assert err == (
        "localaws: localaws patch group 'sagemaker.endpoints': "
        "moto.sagemaker.models.SageMakerModelBackend.create_endpoint is missing"
    )
    assert not any(group.applied for group in boot_groups() + groups())  # the boot ones undone
    assert not (tmp_path / "state" / "data").exists()  # nothing stored was touched


@pytest.mark.slow
def test_region_lists_answer_as_botocore_does_for_every_partition():
    import boto3.session

    from localaws.services import region_lists

    asked = [("ec2", p) for p in ("aws", "aws-us-gov", "aws-cn")] + [("sagemaker", "aws")]
    expected = [boto3.session.Session().get_available_regions(s, p) for s, p in asked]
    assert not region_lists.patches.applied
    region_lists.patches.apply()
    try:
        for _ in range(2):  # the second round comes from the shared session's answers
            got = [boto3.session.Session().get_available_regions(s, p) for s, p in asked]
            assert got == expected
        assert "us-gov-west-1" in got[1] and "cn-north-1" in got[2]
        got[0].append("mutated")  # a caller's list is its own
        assert boto3.session.Session().get_available_regions("ec2") == expected[0]
    finally:
        region_lists.patches.undo()


def test_a_problem_in_the_later_groups_undoes_the_first_ones():
    first = Patches("first")
    holder = types.SimpleNamespace(value=1)
    first.set(holder, "value", 2)

    def later() -> list[Patches]:  # built once `first` is applied, as groups() after boot
        assert holder.value == 2
        group = Patches("later")
        group.set(types.SimpleNamespace(), "missing", 0)
        return [group]

    with pytest.raises(PatchError, match="missing is missing"):
        apply_all([first], then=later)
    assert holder.value == 1 and not first.applied  # the start fails with nothing applied
