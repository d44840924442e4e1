"""Listing a bucket while its objects are deleted (`s3.key_iteration`): no KeyError, a snapshot."""

from __future__ import annotations

import pytest
from moto.s3.utils import _VersionedKeyStore

from localaws.core.patching import apply_all
from localaws.services.s3 import key_iteration


class _Version(str):
    """An object version as the store holds it (moto disposes of a deleted one's body)."""

    def dispose(self) -> None:
        pass


def _store() -> _VersionedKeyStore:
    store = _VersionedKeyStore()
    for i in range(4):
        store[f"t{i}/model.tar.gz"] = _Version(f"v{i}")
    store["t1/model.tar.gz"] = _Version("v1-new")  # a second version: the newest is the value
    return store


def _delete_after_first(iterator, store):
    """The first item, then every other once another request deleted t2 meanwhile."""
    first = next(iterator)
    store.pop("t2/model.tar.gz")
    return [first, *iterator]


@pytest.fixture
def patched():
    apply_all([key_iteration.patches])
    try:
        yield
    finally:
        key_iteration.patches.undo()


def test_moto_s_own_iteration_fails_when_a_name_goes_meanwhile():
    store = _store()
    with pytest.raises(KeyError, match="t2/model.tar.gz"):
        _delete_after_first(iter(store.items()), store)


@pytest.mark.parametrize("method", ["items", "iteritems", "_iteritems"])
def test_items_are_the_snapshot_taken_when_the_listing_began(patched, method):
    store = _store()
    listed = _delete_after_first(iter(getattr(store, method)()), store)
    assert listed == [
        ("t0/model.tar.gz", "v0"),
        ("t1/model.tar.gz", "v1-new"),
        ("t2/model.tar.gz", "v2"),
        ("t3/model.tar.gz", "v3"),
    ]
    assert "t2/model.tar.gz" not in store  # the delete itself happened


@pytest.mark.parametrize("method", ["values", "itervalues", "_itervalues"])
def test_values_too(patched, method):
    store = _store()
    assert _delete_after_first(iter(getattr(store, method)()), store) == [
        "v0",
        "v1-new",
        "v2",
        "v3",
    ]


@pytest.mark.parametrize("method", ["lists", "iterlists", "_iterlists"])
def test_lists_hold_every_version(patched, method):
    store = _store()
    listed = dict(_delete_after_first(iter(getattr(store, method)()), store))
    assert listed["t1/model.tar.gz"] == ["v1", "v1-new"]
    assert listed["t2/model.tar.gz"] == ["v2"]
