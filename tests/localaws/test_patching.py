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
