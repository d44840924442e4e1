"""Credentials of this localaws: the admin's, and a role's (as STS AssumeRole gives them).

The admin is an IAM user (`localaws-admin`, policy `*` on `*`) created in moto's IAM on the
first start of a state directory; its access key is saved to `<state_dir>/credentials.json`.

- `admin_credentials()` works in any process that can read the state directory (the server,
  the CLI, tests, job workers started with `LOCALAWS_STATE_DIR` set).
- `role_credentials()` works inside the server process only: it assumes the role in-process
  (moto's STS backend), so the temporary keys are real keys the server then checks S3 calls
  against (the role's identity policies). Keys are cached per (role, session) for an hour.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from localaws.core.config import ACCOUNT_ID, DEFAULT_REGION, Config

ADMIN_USER = "localaws-admin"
CREDENTIALS_FILE = "credentials.json"
_ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
_SESSION_SECONDS = 12 * 3600
_REUSE_SECONDS = 3600

# Set by the server process (server.create_app); None elsewhere.
_server_state_dir: Path | None = None
_admin: dict[str, str] | None = None
_role_cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}
_lock = threading.Lock()


def credentials_file(state_dir: Path) -> Path:
    return state_dir / CREDENTIALS_FILE


def read_admin_credentials(state_dir: Path) -> dict[str, str]:
    """The admin keys saved in `state_dir`; RuntimeError if the server never started there."""
    path = credentials_file(state_dir)
    try:
        data = json.loads(path.read_text())
        return {"AccessKeyId": data["AccessKeyId"], "SecretAccessKey": data["SecretAccessKey"]}
    except FileNotFoundError:
        raise RuntimeError(
            f"no localaws credentials in {state_dir} yet: run `localaws start` first"
        ) from None
    except (ValueError, KeyError) as exc:
        raise RuntimeError(f"corrupt credentials file {path}: {exc}") from None


def admin_credentials() -> dict[str, str]:
    """Keys with full access, as `localaws env` hands them out."""
    global _admin
    if _admin is None:
        state_dir = _server_state_dir or Config.from_env().state_dir
        _admin = read_admin_credentials(state_dir)
    return dict(_admin)


def role_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary keys of `role_arn` (AccessKeyId, SecretAccessKey, SessionToken).

    Only inside the server process. ValueError if the role does not exist.
    """
    if _server_state_dir is None:
        raise RuntimeError(
            "localaws.core.credentials.role_credentials works inside the localaws server only"
        )
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from localaws.core import hooks
    from localaws.services.iam.lookups import role_with_arn

    account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else ""
    if not account or ":role/" not in role_arn:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    iam = iam_backends[account]["global"]
    if role_with_arn(iam, role_arn) is None:
        raise ValueError(f"role {role_arn} does not exist")
    key = (role_arn, session_name)
    with _lock:
        cached = _role_cache.get(key)
        if cached and time.time() - cached[0] < _REUSE_SECONDS:
            return dict(cached[1])
        assumed = sts_backends[account]["global"].assume_role(
            region_name=DEFAULT_REGION,
            role_session_name=session_name,
            role_arn=role_arn,
            policy=None,
            duration=_SESSION_SECONDS,
            external_id=None,
        )
        creds = {
            "AccessKeyId": assumed.access_key_id,
            "SecretAccessKey": assumed.secret_access_key,
            "SessionToken": assumed.session_token,
        }
        _role_cache[key] = (time.time(), creds)
    hooks.changed("sts", assumed)
    return dict(creds)


def ensure_admin(state_dir: Path) -> dict[str, str]:
    """Inside the server, after state is restored: create the admin user and key if missing."""
    global _server_state_dir, _admin
    from moto.iam.models import iam_backends

    _server_state_dir = state_dir
    iam = iam_backends[ACCOUNT_ID]["global"]
    path = credentials_file(state_dir)
    if path.exists():
        creds = read_admin_credentials(state_dir)
        user = next((u for u in iam.list_users("/", None, None) if u.name == ADMIN_USER), None)
        keys = [k.access_key_id for k in user.access_keys] if user else []
        if creds["AccessKeyId"] not in keys:
            raise RuntimeError(
                f"{path} names an access key that this state directory's IAM does not hold "
                "(state files missing or from another directory); `localaws reset` starts over"
            )
        _admin = creds
        return dict(creds)
    if not any(u.name == ADMIN_USER for u in iam.list_users("/", None, None)):
        iam.create_user(region_name=DEFAULT_REGION, user_name=ADMIN_USER)
        iam.put_user_policy(ADMIN_USER, "localaws-admin", _ADMIN_POLICY)
    key = iam.create_access_key(ADMIN_USER)
    creds = {"AccessKeyId": key.access_key_id, "SecretAccessKey": key.secret_access_key}
    from localaws.core import hooks
    from localaws.core.files import write_atomic

    hooks.changed("iam")
    write_atomic(path, json.dumps({**creds, "UserName": ADMIN_USER}).encode())
    os.chmod(path, 0o600)
    _admin = creds
    return dict(creds)
