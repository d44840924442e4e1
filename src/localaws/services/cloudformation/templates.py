"""What localaws reads from a CloudFormation template: types it cannot create, the capabilities
AWS demands for it, and whether an update changes anything."""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.models import Stack

_IAM_NAMES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::UserToGroupAddition": None,
}


def can_create(resource_type: str) -> bool:
    """Whether localaws (moto and the types localaws adds) can create `resource_type`."""
    return (
        resource_type in parsing.NULL_MODELS
        or resource_type.startswith("Custom::")
        or resource_type in parsing.get_model_map()
    )


def unsupported_types(template: dict[str, Any]) -> list[str]:
    """Resource types in `template` that localaws cannot create."""
    types = {r.get("Type", "") for r in (template.get("Resources") or {}).values()}
    return sorted(t for t in types if not can_create(t))


def required_capabilities(template: dict[str, Any]) -> list[str]:
    """The capabilities AWS demands before it creates or updates a stack from `template`."""
    resources = (template.get("Resources") or {}).values()
    iam = [r for r in resources if r.get("Type") in _IAM_NAMES]
    named = any(
        _IAM_NAMES[r["Type"]] and _IAM_NAMES[r["Type"]] in (r.get("Properties") or {}) for r in iam
    )
    needed = ["CAPABILITY_NAMED_IAM"] if named else ["CAPABILITY_IAM"] if iam else []
    if template.get("Transform"):
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def check_capabilities(response: Any, template_body: str | None) -> None:
    """InsufficientCapabilitiesException unless the request grants what the template needs."""
    if not template_body:
        return
    try:
        template = Stack.parse_template(template_body)
    except Exception:
        return  # moto reports a malformed template itself
    if not isinstance(template, dict):
        return
    granted = set(response._get_param("Capabilities", []) or [])
    if "CAPABILITY_NAMED_IAM" in granted:
        granted.add("CAPABILITY_IAM")
    missing = [c for c in required_capabilities(template) if c not in granted]
    if missing:
        error = CloudFormationError(f"Requires capabilities : [{', '.join(missing)}]")
        error.code = "InsufficientCapabilitiesException"
        raise error


def same_parameters(stack: Any, template: dict[str, Any], given: dict[str, Any]) -> bool:
    """Whether `given` (plus the template's defaults) equals the stack's current parameters."""
    declared = template.get("Parameters") or {}
    new = {k: given.get(k, spec.get("Default")) for k, spec in declared.items()}

    def norm(values: dict[str, Any]) -> dict[str, str]:
        return {
            k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()
        }

    return norm(new) == norm(stack.stack_parameters)
