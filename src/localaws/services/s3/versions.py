"""ListObjectVersions at the cost of the page it returns, with exactly moto's answers.

moto 5.2.5's `S3Backend.list_object_versions` deep-copies every version of the bucket, sorts
them all by (name, newest first) and walks from the first, whatever MaxKeys and KeyMarker
are: the delete state machine, paging 100 at a time through 10,000 versions, paid for
1,000,000. This walks the same sequence lazily: bisect to KeyMarker (and Prefix) in the
bucket's sorted names (`services.s3.key_index`), order only the versions of the names the
page visits (moto's stable sort, so versions within one millisecond keep moto's order), and
copy only the versions it returns. Every rule of moto's walk is kept, its quirks included
(tests/localaws/test_s3_versions.py compares both on generated buckets, page by page):
KeyMarker without VersionIdMarker also skips the first version at or after the marker; a
VersionIdMarker that names no version of KeyMarker gives an empty page; NextKeyMarker is the
last returned version's name (or the common prefix that filled the page). With a Delimiter,
the names under one common prefix are passed over with one bisect.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from moto.s3 import models

from localaws.core.patching import Patches
from localaws.services.s3 import key_index

patches = Patches("s3.versions", after=("s3.key_index",))

_Page = tuple[list[Any], list[str], list[Any], str | None, str | None]


def _newest_first(version: Any) -> float:
    return -models.unix_time_millis(version.last_modified)


def _ordered(keys: Any, name: str) -> list[Any]:
    """The versions of `name`, newest first (moto's sort key; stable, as moto's sort is)."""
    return sorted(keys.getlist(name) or (), key=_newest_first)


def _listed(version: Any, is_latest: bool) -> Any:
    """A copy of `version` carrying `is_latest` (the stored version is left untouched)."""
    clone = object.__new__(type(version))
    clone.__dict__.update(version.__dict__)
    clone.is_latest = is_latest
    return clone


def _past_prefix(names: list[str], prefix: str, lo: int) -> int:
    """Index of the first name from `lo` on that does not start with `prefix` (the names that
    do start with it come first: `names[lo - 1]` starts with it and `names` is sorted)."""
    return bisect_left(names, 1, lo=lo, key=lambda name: 0 if name.startswith(prefix) else 1)


def _start(keys: Any, names: list[str], key_marker: str | None, version_marker: str | None):
    """Where moto's walk starts returning versions: (index in `names`, index in that name's
    ordered versions), or None when it skips everything."""
    if key_marker is None:
        return 0, 0
    at = bisect_left(names, key_marker)
    if not version_marker:
        return at, 1  # moto skips the names before KeyMarker and one version more
    if at == len(names) or names[at] != key_marker:
        return None
    for position, version in enumerate(_ordered(keys, key_marker)):
        if version.name == key_marker and version.version_id == version_marker:
            return at, position + 1
    return None


@patches.replace(models.S3Backend, "list_object_versions")
def list_object_versions(
    self: Any,
    bucket_name: str,
    delimiter: str | None = None,
    key_marker: str | None = None,
    max_keys: int | None = 1000,
    prefix: str = "",
    version_id_marker: str | None = None,
) -> _Page:
    bucket = self.get_bucket(bucket_name)
    keys = bucket.keys
    names = key_index.sorted_names(keys)
    common_prefixes: set[str] = set()
    versions: list[Any] = []
    delete_markers: list[Any] = []
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None
    start = _start(keys, names, key_marker, version_id_marker)
    if start is None:
        return versions, [], delete_markers, None, None
    at, first = start
    lowest = bisect_left(names, prefix)
    if lowest > at:
        at, first = lowest, 0
    last_added: Any = None
    while at < len(names) and next_key_marker is None:
        if not names[at].startswith(prefix):
            break  # sorted: no later name starts with it either
        skip_to = at + 1
        ordered = _ordered(keys, names[at])
        for position in range(first, len(ordered)):
            version = ordered[position]
            name = version.name
            if not name.startswith(prefix):
                continue
            is_common_prefix = False
            if delimiter and delimiter in name[len(prefix) :]:
                end = len(prefix) + name[len(prefix) :].index(delimiter) + len(delimiter)
                group = name[:end]
                # Every later version under this prefix repeats what this one does.
                skip_to = _past_prefix(names, group, at + 1)
                if group == key_marker:
                    break
                common_prefixes.add(group)
                name = group
                is_common_prefix = True
            elif last_added:
                name = last_added.name
            if (
                max_keys is not None
                and len(versions) + len(delete_markers) + len(common_prefixes) >= max_keys
            ):
                next_key_marker = name
                if is_common_prefix:
                    next_version_id_marker = None
                elif last_added is not None:
                    next_version_id_marker = last_added.version_id
                break
            if is_common_prefix:
                break
            last_added = version
            listed = _listed(version, is_latest=position == 0)
            if isinstance(version, models.FakeKey):
                versions.append(listed)
            else:
                delete_markers.append(listed)
        at, first = skip_to, 0
    next_markers = next_key_marker, next_version_id_marker
    return versions, sorted(common_prefixes), delete_markers, *next_markers
