"""A bucket's objects listed as they were when the listing began, whatever is deleted meanwhile.

moto's key store (`_VersionedKeyStore`) iterates a copy of its names, "to enable
concurrency", but then looks each name up in the live store: an object deleted by another
request between the copy and the look-up raised KeyError, and the listing answered 500. Two
tenants deleted at once met it: one's ListObjectsV2 of the shared model pool (prefix: its
own name, but moto walks every name in the bucket) while the other's DeleteObject removed
its artifact. The copy holds each name's versions already; they are read from it now.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from moto.s3.utils import _VersionedKeyStore

from localaws.core.patching import Patches

patches = Patches("s3.key_iteration")


@patches.replace(_VersionedKeyStore, "_iteritems")
@patches.replace(_VersionedKeyStore, "iteritems")
@patches.replace(_VersionedKeyStore, "items")  # moto's aliases name the functions themselves
def _iteritems(self: Any) -> Iterator[tuple[str, Any]]:
    for name, versions in self._self_iterable().items():
        yield name, versions[-1]


@patches.replace(_VersionedKeyStore, "_itervalues")
@patches.replace(_VersionedKeyStore, "itervalues")
@patches.replace(_VersionedKeyStore, "values")
def _itervalues(self: Any) -> Iterator[Any]:
    for versions in self._self_iterable().values():
        yield versions[-1]


@patches.replace(_VersionedKeyStore, "_iterlists")
@patches.replace(_VersionedKeyStore, "iterlists")
@patches.replace(_VersionedKeyStore, "lists")
def _iterlists(self: Any) -> Iterator[tuple[str, list[Any]]]:
    yield from self._self_iterable().items()
