"""What the notebooks display and record about a step of the workflow: small tables (the
predictions of 03, the leftovers of 99, named ARNs) and JSON-ready summaries of results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from helpers.pipeline import ExecutionResult

# A failed execution whose only failed step is this one missed the accuracy threshold: an
# expected outcome (nothing registered), not an error.
THRESHOLD_FAIL_STEP = "AccuracyTooLow"


def key_values(values: Mapping[str, Any], key: str = "name", value: str = "value") -> pd.DataFrame:
    """A two-column table of `values`, in their order (ARNs read better in a table)."""
    return pd.DataFrame(list(values.items()), columns=[key, value])


def execution_summary(result: ExecutionResult) -> dict[str, Any]:
    """A pipeline `ExecutionResult` as JSON-ready values: status, failure reason, each step's
    status, the registered model package and its version number (None if nothing registered)."""
    arn = result.model_package_arn
    return {
        "status": result.status,
        "failure_reason": result.failure_reason,
        "steps": {step.name: step.status for step in result.steps},
        "failure_reasons": {s.name: s.failure_reason for s in result.steps if s.failure_reason},
        "model_package_arn": arn,
        "version": int(arn.rsplit("/", 1)[-1]) if arn else None,
    }


def execution_outcome(result: ExecutionResult) -> str:
    """One line on how the execution ended; raises if it failed for any reason other than
    the accuracy threshold (the notebook must stop there)."""
    if result.status == "Succeeded":
        return f"Registered {result.model_package_arn}"
    failed = [s.name for s in result.steps if s.status == "Failed"]
    if failed != [THRESHOLD_FAIL_STEP]:
        raise RuntimeError(f"pipeline execution {result.status}: {result.failure_reason}")
    return f"Pipeline {result.status}: {result.failure_reason}"


def predictions_table(
    labels: Sequence[int],
    probabilities: Sequence[float],
    records: pd.DataFrame | None = None,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Each sample's label, the endpoint's churn probability, the predicted class, then the
    raw record the endpoint was sent (when given)."""
    table = pd.DataFrame(
        {
            "churned (label)": [bool(label) for label in labels],
            "churn probability": [round(p, 4) for p in probabilities],
            "predicted churn": [p >= threshold for p in probabilities],
        }
    )
    if records is None:
        return table
    return pd.concat([table, records.reset_index(drop=True)], axis=1)


def closing_line(
    tenant_id: str, endpoint: str, version: int, probability: float, churned: bool
) -> str:
    """The demo's last line: which version the endpoint serves, and one prediction."""
    return (
        f"tenant {tenant_id}: endpoint {endpoint} serves version {version}; "
        f"first test row -> churn probability {probability:.4f} "
        f"(label: {'churned' if churned else 'stayed'})"
    )


def leftovers_table(leftovers: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """`tenant_leftovers` as a table: each kind of resource and what is left of it ('-')."""
    rows = [(kind, ", ".join(names) or "-") for kind, names in leftovers.items()]
    return pd.DataFrame(rows, columns=["resource", "left"])
