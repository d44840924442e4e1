"""CloudFormation stack operations: nothing skipped silently, failures and rollback as on AWS.

What moto 5.2.5 lacks and this adds:
- a resource that cannot be created (`parsing.ResourceFailed`) fails the stack (CREATE_FAILED
  event naming it), then what was made is rolled back (ROLLBACK_COMPLETE), as OnFailure /
  DisableRollback ask; OnFailure=DELETE deletes a rolled-back stack;
- UpdateStack with a type localaws cannot create is refused; a failed update leaves the stack
  UPDATE_FAILED and a failed delete DELETE_FAILED, with the reason;
- CreateStack/UpdateStack demand CAPABILITY_IAM / CAPABILITY_NAMED_IAM / CAPABILITY_AUTO_EXPAND
  as AWS does (InsufficientCapabilitiesException);
- "No updates are to be performed." whenever template and parameters are unchanged.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Event, Stack
from moto.cloudformation.parsing import OutputMap
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from localaws.core.patching import Patches
from localaws.services.cloudformation.parsing import ResourceFailed
from localaws.services.cloudformation.templates import (
    check_capabilities,
    same_parameters,
    unsupported_types,
)

patches = Patches("cloudformation.stacks")
patches.add(Stack, "stack_status_reason")(None)


def _resource_event(stack, logical_id: str, resource_type: str, status: str, reason: str) -> None:
    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id="",
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _stop_making_resources(stack) -> None:
    """moto makes resources lazily (outputs, resource listings): make no more now; keep what a
    CREATE_FAILED (not rolled back) stack holds, so that a delete removes it."""
    made = stack.resource_map._parsed_resources
    stack.resource_map._resource_json_map = {
        k: v
        for k, v in stack.resource_map._resource_json_map.items()
        if stack.status == "CREATE_FAILED" and k in made
    }
    stack.output_map = OutputMap(stack.resource_map, {}, stack.stack_id)


@patches.wrap(Stack, "create_resources")
def create_resources(original, self) -> None:
    """Create the resources; on a failure, the stack is CREATE_FAILED (see `settle_create`)."""
    try:
        original(self)
    except ResourceFailed as failure:
        _resource_event(
            self, failure.logical_id, failure.resource_type, "CREATE_FAILED", failure.reason
        )
        self.status = "CREATE_FAILED"
        self._add_stack_event(
            "CREATE_FAILED",
            resource_status_reason=f"The following resource(s) failed to create: "
            f"[{failure.logical_id}]. Rollback requested by user.",
        )
        self.stack_status_reason = (
            f"The following resource(s) failed to create: [{failure.logical_id}]: {failure.reason}"
        )
    finally:
        if self.status != "CREATE_COMPLETE":
            _stop_making_resources(self)


def settle_create(stack, on_failure: str = "ROLLBACK") -> None:
    """After a create that failed: roll back what was made, unless `on_failure` is DO_NOTHING."""
    if stack.status != "CREATE_FAILED" or on_failure == "DO_NOTHING":
        return
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=stack.stack_status_reason)
    try:
        stack.resource_map.delete()
    except Exception as exc:
        stack.status = "ROLLBACK_FAILED"
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=str(exc))
    else:
        stack.status = "ROLLBACK_COMPLETE"
        stack._add_stack_event("ROLLBACK_COMPLETE")
    finally:
        _stop_making_resources(stack)


@patches.wrap(CloudFormationBackend, "create_stack")
def create_stack(original, self, *args: Any, on_failure: str = "ROLLBACK", **kwargs: Any) -> Stack:
    """moto's create_stack; a failed create is then settled as `on_failure` (OnFailure) asks."""
    stack = original(self, *args, **kwargs)
    settle_create(stack, on_failure)
    if on_failure == "DELETE" and stack.status == "ROLLBACK_COMPLETE":
        self.delete_stack(stack.stack_id)
    return stack


def _failed(stack, status: str, exc: Exception) -> None:
    reason = f"{type(exc).__name__}: {exc}"
    stack.status = status
    stack.stack_status_reason = reason
    stack._add_stack_event(status, resource_status_reason=reason)


@patches.wrap(Stack, "update")
def update(original, self, template: str, role_arn=None, parameters=None, tags=None) -> None:
    missing = unsupported_types(self.parse_template(template))
    if missing:
        raise ValidationError(
            self.name,
            message=f"localaws cannot create resources of type {', '.join(missing)}; "
            "the stack was not changed",
        )
    try:
        original(self, template, role_arn, parameters, tags)
    except ValidationError:
        raise
    except Exception as exc:
        _failed(self, "UPDATE_FAILED", exc)
        return
    self.stack_status_reason = None


@patches.replace(CloudFormationBackend, "delete_stack")
def delete_stack(self, name_or_stack_id: str) -> None:
    stack = next(
        (s for s in list(self.stacks.values()) if name_or_stack_id in (s.stack_id, s.name)),
        None,
    )
    if stack is None:
        return
    # named before the delete: evaluating exports afterwards would re-create their resources
    exports = [export.name for export in stack.exports]
    stack.status = "DELETE_IN_PROGRESS"
    try:
        stack.delete()
    except Exception as exc:
        _failed(stack, "DELETE_FAILED", exc)
        return
    self.stacks.pop(stack.stack_id, None)
    self.deleted_stacks[stack.stack_id] = stack
    for name in exports:
        self.exports.pop(name, None)


@patches.replace(CloudFormationResponse, "_validate_different_update")
def _validate_different_update(self, incoming_params, stack_body, old_stack) -> None:
    if not stack_body or stack_body != old_stack.template:
        return
    given = self._get_param_values(incoming_params or [], old_stack.stack_parameters)
    if same_parameters(old_stack, old_stack.template_dict, given):
        raise ValidationError(old_stack.name, message="No updates are to be performed.")


def template_body(response: Any, previous: str | None = None) -> str | None:
    """The template a CreateStack/UpdateStack/CreateChangeSet request names."""
    if response._get_bool_param("UsePreviousTemplate", False):
        return previous
    if response._get_param("TemplateURL"):
        return response._get_stack_from_s3_url(response._get_param("TemplateURL"))
    return response._get_param("TemplateBody")


@patches.replace(CloudFormationResponse, "create_stack")
def create_stack_response(self) -> ActionResult:
    """moto's CreateStack, with capabilities checked and OnFailure / DisableRollback passed on."""
    body = template_body(self)
    check_capabilities(self, body)
    on_failure = self._get_param("OnFailure") or "ROLLBACK"
    if self._get_bool_param("DisableRollback", False):
        on_failure = "DO_NOTHING"
    stack = self.cloudformation_backend.create_stack(
        name=self._get_param("StackName"),
        template=body,
        parameters=self._get_params_from_list(self._get_param("Parameters", [])),
        notification_arns=self._get_param("NotificationARNs", []),
        tags={item["Key"]: item["Value"] for item in self._get_param("Tags", [])},
        role_arn=self._get_param("RoleARN"),
        enable_termination_protection=self._get_param("EnableTerminationProtection"),
        timeout_in_mins=self._get_param("TimeoutInMinutes"),
        stack_policy_body=self._get_param("StackPolicyBody"),
        on_failure=on_failure,
    )
    return ActionResult({"StackId": stack.stack_id})


@patches.wrap(CloudFormationResponse, "update_stack")
def update_stack_response(original, self) -> ActionResult:
    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    check_capabilities(self, template_body(self, stack.template))
    return original(self)
