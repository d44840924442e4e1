"""The patch mechanism: checks before it changes anything, applies in order, undoes exactly."""

from __future__ import annotations

import types

import pytest

from localaws.core.patching import OnImport, PatchError, Patches, apply_all, check, undo_all


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

    from localaws.services import CHECKED_MOTO, all_groups

    # a start with this moto trusts this test for the on-import groups (not checked at start)
    assert moto.__version__ == CHECKED_MOTO
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


def _module_file(tmp_path, monkeypatch, name: str) -> None:
    (tmp_path / f"{name}.py").write_text(
        "class Late:\n    def hello(self):\n        return 'moto'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, name, raising=False)


def test_on_import_groups_apply_when_their_module_is_first_imported(tmp_path, monkeypatch):
    import importlib
    import sys

    name = "localaws_test_late_module"
    _module_file(tmp_path, monkeypatch, name)
    early = Patches("early")
    early.put(types.SimpleNamespace(), "x", 1)
    built: list[Patches] = []

    def late_groups() -> list[Patches]:
        module = importlib.import_module(name)  # as a service module imports moto's
        group = Patches("late", after=("early",))
        group.wrap(module.Late, "hello")(lambda original, self: original(self) + " patched")
        built.append(group)
        return [group]

    apply_all([early], on_import=[OnImport(name, late_groups)], now=False)
    try:
        assert name not in sys.modules and not built  # nothing imported at "start"
        module = importlib.import_module(name)
        assert module.Late().hello() == "moto patched"  # applied before the importer saw it
        assert built[0].applied
    finally:
        undo_all(built + [early])


def test_an_on_import_problem_fails_that_import_every_time(tmp_path, monkeypatch):
    import importlib
    import sys

    name = "localaws_test_late_broken"
    _module_file(tmp_path, monkeypatch, name)

    def late_groups() -> list[Patches]:
        module = importlib.import_module(name)
        group = Patches("late.broken")
        group.wrap(module.Late, "renamed_upstream")(lambda original, self: original(self))
        return [group]

    apply_all([], on_import=[OnImport(name, late_groups)], now=False)
    for _ in range(2):  # never imported unpatched: the second import fails the same way
        with pytest.raises(PatchError, match=r"Late\.renamed_upstream is missing"):
            importlib.import_module(name)
        assert name not in sys.modules


def test_on_import_groups_apply_at_once_when_asked_and_a_problem_undoes_all(tmp_path, monkeypatch):
    import importlib

    name = "localaws_test_late_now"
    _module_file(tmp_path, monkeypatch, name)
    first = Patches("first")
    holder = types.SimpleNamespace(value=1)
    first.set(holder, "value", 2)

    def broken() -> list[Patches]:
        module = importlib.import_module(name)
        group = Patches("late.now")
        group.set(module.Late, "missing", 0)
        return [group]

    with pytest.raises(PatchError, match=r"Late\.missing is missing"):
        apply_all([first], on_import=[OnImport(name, broken)], now=True)
    assert holder.value == 1 and not first.applied  # the start fails with nothing applied


def test_a_start_with_the_checked_moto_leaves_cloudformation_and_sfn_to_their_first_use():
    """In a process of its own (a server's patches stay applied): the start imports neither
    moto's CloudFormation nor its Step Functions; CloudFormation's first import applies both
    services' groups, Step Functions' first; with another moto release the start applies (and
    so checks) them at once."""
    import subprocess
    import sys

    code = """
import sys
import moto
from localaws import services
if sys.argv[1] == "other":
    moto.__version__ = "5.2.6"
services.apply()
print("moto.cloudformation" in sys.modules, "moto.stepfunctions" in sys.modules)
import moto.cloudformation.models  # imports moto.stepfunctions first
print(all(group.applied for group in services.all_groups()))
"""
    for release, imported_at_start in (("checked", "False"), ("other", "True")):
        out = subprocess.run(
            [sys.executable, "-c", code, release], capture_output=True, text=True, check=True
        ).stdout.split()
        assert out == [imported_at_start, imported_at_start, "True"], release
