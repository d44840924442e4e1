"""What the SageMaker Python SDK (v3) needs changed to build our pipeline definition.

Three of these replace SDK internals while a definition is built (`sdk_build_context`), so
`sagemaker`, `sagemaker-core` and `sagemaker-train` are pinned exactly in pyproject.toml;
`check_sdk()` fails with one clear line if an attribute they replace has gone:

- `SageMakerConfig.validate_sagemaker_config` (sagemaker-core): the SDK re-validates a
  non-empty config against its large JSON schema at every config look-up (seconds per
  definition); ours (the telemetry opt-out) is constant, so it is validated once per value.
- `ModelTrainer._resolve_staging_bucket` (sagemaker-train): ModelTrainer asks IAM
  (SimulatePrincipalPolicy) whether the job role may write the default bucket before staging
  code; our role is a placeholder and the code always goes to the platform code bucket, which
  tenant roles may read, so the probe's answer is known.
- `LocalSagemakerClient` as `sagemaker.mlops.workflow.steps` names it: each ProcessingStep
  builds a whole local-mode session (a boto3 session, the SDK config loaded and checked
  against its JSON schema) only to read the name of one of its methods; the class answers
  the same name without being instantiated.

The fourth, `tenant_training_step_class`, only subclasses the public `TrainingStep`: ModelTrainer
takes a literal role, the step's request gets the TenantRoleArn parameter instead.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from helpers.naming import arn

# The SDK's own config: no telemetry calls from notebooks, CI or localaws runs.
SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}
# The SDK internals replaced while building: (module, class, attribute).
REPLACED = (
    ("sagemaker.core.config.config_manager", "SageMakerConfig", "validate_sagemaker_config"),
    ("sagemaker.train.model_trainer", "ModelTrainer", "_resolve_staging_bucket"),
    ("sagemaker.mlops.workflow.steps", "LocalSagemakerClient", "create_processing_job"),
)


def role_placeholder(region: str) -> str:
    """The literal role given to ModelTrainer; TenantTrainingStep replaces it in the request."""
    return arn("iam", region, "000000000000", "role/replaced-by-TenantRoleArn")


def check_sdk() -> None:
    """Raise RuntimeError naming the first SDK attribute this module replaces that is missing."""
    import importlib

    for module, cls, attribute in REPLACED:
        owner = getattr(importlib.import_module(module), cls, None)
        if owner is None or attribute not in vars(owner):
            raise RuntimeError(
                f"sagemaker SDK changed: {module}.{cls}.{attribute} is missing; "
                "helpers.pipeline.sdk_workarounds needs the SDK version pinned in pyproject.toml"
            )


def tenant_training_step_class() -> type:
    """A TrainingStep whose job role is a pipeline parameter (ModelTrainer wants a str)."""
    from sagemaker.mlops.workflow.steps import TrainingStep

    class TenantTrainingStep(TrainingStep):
        """A TrainingStep whose request's RoleArn is `role` (a pipeline parameter)."""

        def __init__(self, role: Any, **kwargs: Any):
            super().__init__(**kwargs)
            self._role = role

        @property
        def arguments(self) -> dict[str, Any]:
            request = super().arguments
            request["RoleArn"] = self._role
            return request

    return TenantTrainingStep


@contextmanager
def sdk_build_context() -> Iterator[None]:
    """While the SDK builds the definition: validate its config once, skip the staging-bucket
    IAM probe and the throwaway local-mode sessions (see the module docstring), and keep it
    quiet."""
    # The SDK's first import runs logging.basicConfig(level=INFO) (sagemaker.core.experiments):
    # a stderr handler on the root logger, which would then print botocore's INFO lines.
    root = logging.getLogger()
    root_level, root_handlers = root.level, list(root.handlers)
    check_sdk()
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.mlops.workflow import steps
    from sagemaker.train.model_trainer import ModelTrainer

    original = SageMakerConfig.__dict__["validate_sagemaker_config"]
    seen: set[str] = set()

    def validate_once(sagemaker_config: Any = None) -> None:
        key = json.dumps(sagemaker_config, sort_keys=True, default=str)
        if key not in seen:
            original.__func__(sagemaker_config)
            seen.add(key)

    SageMakerConfig.validate_sagemaker_config = staticmethod(validate_once)
    staging = ModelTrainer.__dict__["_resolve_staging_bucket"]
    ModelTrainer._resolve_staging_bucket = lambda self: (
        self.sagemaker_session.default_bucket(),
        None,
    )
    local_client = steps.LocalSagemakerClient
    steps.LocalSagemakerClient = lambda: local_client  # its methods' names, no session
    # The SDK logs every config look-up, endpoint resolution and instance-type guess while it
    # builds, from loggers it sets to INFO/DEBUG itself: silence all of it for the build.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)
        root.setLevel(root_level)
        for handler in [h for h in root.handlers if h not in root_handlers]:
            root.removeHandler(handler)
        SageMakerConfig.validate_sagemaker_config = original
        ModelTrainer._resolve_staging_bucket = staging
        steps.LocalSagemakerClient = local_client


def pipeline_session(boto_session: Any, bucket: str) -> Any:
    """A PipelineSession for building the definition: no role validation, no telemetry."""
    os.environ.setdefault("SAGEMAKER_VALIDATE_ROLE", "false")
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    return PipelineSession(
        boto_session=boto_session, default_bucket=bucket, sagemaker_config=SDK_CONFIG
    )
