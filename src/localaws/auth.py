"""Credentials inside the server process: the admin's, and a role's (as STS AssumeRole gives).

STUB until the foundation work lands: returns moto's default keys. Interface is fixed.
"""

from __future__ import annotations


def admin_credentials() -> dict[str, str]:
    """Keys with full access, as `localaws env` hands them out."""
    return {"AccessKeyId": "test", "SecretAccessKey": "test"}


def role_credentials(role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary keys of `role_arn` (AccessKeyId, SecretAccessKey, SessionToken)."""
    return {**admin_credentials(), "SessionToken": ""}
