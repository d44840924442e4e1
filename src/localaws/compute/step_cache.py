"""Step caching's key: which resolved arguments of a step decide whether an earlier run of it
is reused (CacheConfig). Types without an entry are never cached.
"""

from __future__ import annotations

import hashlib
import json

# The arguments that make a step's cache key, per step type: "Default cache key attributes by
# pipeline step type" (https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-default-keys.html).
# Output locations are not among them: the SDK's default ones carry the execution id.
CACHE_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "Processing": ("AppSpecification", "Environment", "ProcessingInputs"),
    "Training": (
        "AlgorithmSpecification",
        "CheckpointConfig",
        "DebugHookConfig",
        "DebugRuleConfigurations",
        "Environment",
        "HyperParameters",
        "InputDataConfig",
    ),
    "Transform": ("DataProcessing", "Environment", "ModelName", "TransformInput"),
}


def cache_key(step_name: str, kind: str, args: dict) -> str | None:
    """The cache key of a step with resolved `args`; None for a type that is never cached."""
    fields = CACHE_KEY_FIELDS.get(kind)
    if fields is None:
        return None
    keyed = {field: args.get(field) for field in fields}
    return hashlib.sha256(
        json.dumps([step_name, kind, keyed], sort_keys=True, default=str).encode()
    ).hexdigest()
