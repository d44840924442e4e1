"""The per-tenant model build pipeline: `build` (the SDK definition), `publish` (upsert it
only when what makes it changed, see `fingerprint`; a build once made is reused from
`definition_cache`, filled at install time by `prebuild`), `sdk_workarounds` (what the SDK needs
changed to build it, pinned) and `run` (start, wait, report). Notebooks use the names
re-exported here: `helpers.pipeline.upsert(session)`, ...
"""

from __future__ import annotations

from helpers.naming import PIPELINE_NAME, code_bucket
from helpers.pipeline.build import (
    DEFAULT_ACCURACY_THRESHOLD,
    DEFAULT_HYPERPARAMETERS,
    LIB_DIR,
    SHARED_MODULES,
    STEP_ORDER,
    STEPS_DIR,
    build_pipeline,
    code_prefix,
)
from helpers.pipeline.publish import definition, upsert
from helpers.pipeline.run import (
    ExecutionResult,
    StepState,
    TenantTarget,
    evaluation_report,
    execution_parameters,
    execution_steps,
    metrics_summary,
    run_for_tenant,
    start,
    tenant_target,
    wait,
)
from pipeline_steps.hyperparameters import BOUNDS as HYPERPARAMETER_BOUNDS
from pipeline_steps.hyperparameters import check_hyperparameters

__all__ = [
    "DEFAULT_ACCURACY_THRESHOLD",
    "DEFAULT_HYPERPARAMETERS",
    "HYPERPARAMETER_BOUNDS",
    "LIB_DIR",
    "SHARED_MODULES",
    "PIPELINE_NAME",
    "STEPS_DIR",
    "STEP_ORDER",
    "ExecutionResult",
    "StepState",
    "TenantTarget",
    "build_pipeline",
    "check_hyperparameters",
    "code_bucket",
    "code_prefix",
    "definition",
    "evaluation_report",
    "execution_parameters",
    "execution_steps",
    "metrics_summary",
    "run_for_tenant",
    "start",
    "tenant_target",
    "upsert",
    "wait",
]
