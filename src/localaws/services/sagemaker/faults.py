"""Test-only: SageMaker's ConflictException on request (`LOCALAWS_FAULT_CONFLICTS`).

AWS documents ConflictException for DeleteModelPackage and DeleteModelPackageGroup ("There
was a conflict when you attempted to modify a SageMaker entity", e.g. while another call
changes it; docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeleteModelPackage.html),
and callers are to retry. localaws never has such races, so tests ask for them:
`LOCALAWS_FAULT_CONFLICTS="DeleteModelPackage=2,DeleteModelPackageGroup=1"` in the server's
environment makes the first 2 (1) calls of that action on each resource fail with it, then
lets them through. Unset (the default), nothing changes. The registry calls `conflict`.
"""

from __future__ import annotations

import os
import threading

from moto.sagemaker.exceptions import ConflictException

ENV = "LOCALAWS_FAULT_CONFLICTS"
_failed: dict[tuple[str, str], int] = {}
_lock = threading.Lock()


def _limits(spec: str) -> dict[str, int]:
    limits = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        action, _, count = part.partition("=")
        if not action or not count.isdigit():
            raise ValueError(f"{ENV}: expected Action=count[,Action=count], got {part!r}")
        limits[action] = int(count)
    return limits


def conflict(action: str, resource: str) -> None:
    """Raise ConflictException if `action` on `resource` is still to fail by request."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    limit = _limits(spec).get(action, 0)
    with _lock:
        done = _failed.get((action, resource), 0)
        if done >= limit:
            return
        _failed[(action, resource)] = done + 1
    raise ConflictException(
        f"{action} of {resource}: a conflicting operation is in progress, try again "
        f"(injected {done + 1} of {limit} by {ENV})"
    )
