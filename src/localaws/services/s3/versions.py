"""ListObjectVersions without a deep copy of every version of every key.

moto 5.2.5 deep-copies each version of the whole bucket on every ListObjectVersions call (to
set `is_latest` on copies), about 150 us a version: over a second per page for a bucket of
10,000 versions, whatever MaxKeys is. A shallow copy of each version's attributes is all the
listing needs. `copy.deepcopy` is used nowhere else in `moto.s3.models`
(tests/localaws/test_s3_versions.py checks this against the pinned moto).
"""

from __future__ import annotations

import copy
from typing import Any

from moto.s3 import models

from localaws.core.patching import Patches

patches = Patches("s3.versions", after=("s3.storage",))


def _listing_copy(version: Any) -> Any:
    clone = object.__new__(type(version))
    clone.__dict__.update(version.__dict__)
    return clone


class _CopyForListing:
    """Stands in for the `copy` module inside moto.s3.models."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(versions: list, memo: Any = None) -> list:
        return [_listing_copy(v) for v in versions]


patches.set(models, "copy", _CopyForListing())
