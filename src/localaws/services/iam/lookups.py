"""IAM roles by name or ARN, and STS sessions by access key id, without a scan per request.

moto 5.2.5 scans every role in `IAMBackend.get_role` / `get_role_by_arn`, and every assumed
role in `AssumedRoleAccessKey.__init__`, which runs for each request signed with temporary
keys: with a thousand tenants that cost grew with every tenant created (`core.lookup`).
CreateRole's check that the name is free scans every role too: that scan reads, so it does
not go through the tracked iteration (which would have the save compare every role).
"""

from __future__ import annotations

from typing import Any

from moto.iam.access_control import AssumedRoleAccessKey
from moto.iam.models import IAMBackend
from moto.sts.models import sts_backends

from localaws.core.lookup import Lookup
from localaws.core.patching import Patches

patches = Patches("iam.lookups")
_BY_NAME = Lookup("name")
_BY_ARN = Lookup("arn")
_SESSIONS = Lookup("access_key_id")


def role_named(backend: Any, name: str) -> Any:
    """The role called `name` in `backend` (moto's IAMBackend), or None."""
    return _BY_NAME.find(backend.roles, name)


def role_with_arn(backend: Any, arn: str) -> Any:
    """The role whose ARN is `arn` in `backend`, or None."""
    return _BY_ARN.find(backend.roles, arn)


@patches.wrap(IAMBackend, "get_role")
def get_role(original, self, role_name: str) -> Any:
    return role_named(self, role_name) or original(self, role_name)  # raises NoSuchEntity


@patches.wrap(IAMBackend, "get_role_by_arn")
def get_role_by_arn(original, self, arn: str) -> Any:
    return role_with_arn(self, arn) or original(self, arn)


@patches.replace(IAMBackend, "get_roles")
def get_roles(self) -> Any:
    # Its callers look for a name: create_role (is it free?) and the fallbacks of get_role /
    # get_role_by_arn above, reached only when the lookup found no such role. A copy (one C
    # call), as a concurrent request may add a role while they scan.
    return list(dict.values(self.roles))


@patches.wrap(AssumedRoleAccessKey, "__init__")
def assumed_role_access_key(
    original, self, account_id: str, partition: str, access_key_id: str, headers: dict
) -> None:
    session = _SESSIONS.find(sts_backends[account_id][partition].assumed_roles, access_key_id)
    if session is None or headers.get("X-Amz-Security-Token") != session.session_token:
        # moto's own scan raises the error AWS gives (InvalidId / InvalidToken)
        return original(self, account_id, partition, access_key_id, headers)
    # the attributes moto's __init__ sets for a session it found
    self.account_id = account_id
    self.partition = partition
    self._access_key_id = access_key_id
    self._secret_access_key = session.secret_access_key
    self._session_token = session.session_token
    self._owner_role_name = session.role_arn.split("/")[-1]
    self._session_name = session.session_name
    return None
