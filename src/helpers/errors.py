"""The named errors of the helpers library, in one place so every module raises the same ones.

`ExecutionFailed` carries a failed state machine execution's `error` and `cause`; the tenant
and deploy errors refine it. A missing tenant is always `TenantNotFound`.
"""

from __future__ import annotations


class ExecutionFailed(RuntimeError):
    """A state machine execution (or our check before it) failed; `error`, `cause` say why."""

    def __init__(
        self, message: str, error: str = "", cause: str = "", execution_arn: str | None = None
    ):
        super().__init__(message)
        self.error = error
        self.cause = cause
        self.execution_arn = execution_arn


class TenantError(ExecutionFailed):
    """A tenant operation failed."""


class InvalidTier(TenantError, ValueError):
    """A tier that is neither dedicated nor pooled (the state machines' error InvalidTier)."""


class TenantExists(TenantError):
    """Creating a tenant whose name is taken."""


class TenantNotFound(TenantError, LookupError):
    """The tenant is not in the tenant table; the message names the tenant and the table."""

    @classmethod
    def in_table(cls, tenant_id: str, table_name: str) -> TenantNotFound:
        """The error of a table look-up that found no item for `tenant_id`."""
        return cls(
            f"tenant {tenant_id!r} not found in table {table_name!r} (TenantNotFound)",
            error="TenantNotFound",
            cause=f"no item with tenant-name {tenant_id!r}",
        )


class TenantNotReady(TenantError):
    """The tenant is still being created or deleted (run its create again to finish it)."""


class DeployError(ExecutionFailed):
    """The deployment failed; the previous deployment (if any) keeps serving."""


class ApprovalError(ValueError):
    """A model version cannot be approved, rejected or deployed as asked; the message says why."""


class BatchScoringError(RuntimeError):
    """A batch scoring's transform job failed or timed out; the message has the job's reason."""
