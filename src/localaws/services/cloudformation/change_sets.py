"""CloudFormation change sets (`aws cloudformation deploy`) take the stack operations' paths.

Outputs, failure handling and rollback, capabilities as for CreateStack/UpdateStack; an
unchanged template and parameters give a FAILED change set ("didn't contain changes"), and
executing a change set that is not AVAILABLE is refused (InvalidChangeSetStatus), as on AWS.
"""

from __future__ import annotations

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from localaws.core.patching import Patches
from localaws.services.cloudformation.stacks import settle_create
from localaws.services.cloudformation.templates import check_capabilities, same_parameters

patches = Patches("cloudformation.change_sets", after=("cloudformation.stacks",))


@patches.replace(CloudFormationResponse, "create_change_set")
def create_change_set_response(self) -> ActionResult:
    name = self._get_param("StackName")
    kind = self._get_param("ChangeSetType", "CREATE")
    stack = self.cloudformation_backend.get_stack(name) if kind == "UPDATE" else None
    if stack is not None:
        self.validate_template_and_stack_body()
    body = self._get_param("TemplateBody")
    if self._get_bool_param("UsePreviousTemplate", False) and stack is not None:
        body = stack.template
    elif not body and self._get_param("TemplateURL"):
        body = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
    check_capabilities(self, body)
    parameters = {
        p["ParameterKey"]: (
            stack.stack_parameters[p["ParameterKey"]]
            if p.get("UsePreviousValue") and stack is not None
            else p.get("ParameterValue")
        )
        for p in self._get_param("Parameters", [])
    }
    change_set_id, stack_id = self.cloudformation_backend.create_change_set(
        stack_name=name,
        change_set_name=self._get_param("ChangeSetName"),
        template=body,
        parameters=parameters,
        description=self._get_param("Description"),
        notification_arns=self._get_param("NotificationARNs", []),
        tags={t["Key"]: t["Value"] for t in self._get_param("Tags", [])},
        role_arn=self._get_param("RoleARN"),
        change_set_type=kind,
    )
    return ActionResult({"Id": change_set_id, "StackId": stack_id})


@patches.wrap(CloudFormationBackend, "create_change_set")
def create_change_set(
    original,
    self,
    stack_name,
    change_set_name,
    template,
    parameters,
    *args,
    change_set_type="CREATE",
    **kwargs,
):
    change_set_id, stack_id = original(
        self,
        stack_name,
        change_set_name,
        template,
        parameters,
        *args,
        change_set_type=change_set_type,
        **kwargs,
    )
    change_set = self.change_sets[change_set_id]
    if change_set_type == "UPDATE":
        stack = self.stacks[stack_id]
        unchanged = template == stack.template and same_parameters(
            stack, Stack.parse_template(template), parameters
        )
        change_set.status = "FAILED" if unchanged else "CREATE_COMPLETE"
        change_set.execution_status = "UNAVAILABLE" if unchanged else "AVAILABLE"
        change_set.status_reason = (
            "The submitted information didn't contain changes. Submit different "
            "information to create a change set."
            if unchanged
            else None
        )
    return change_set_id, stack_id


def _find(backend, change_set_name: str, stack_name: str | None):
    change_set = backend.change_sets.get(change_set_name) or next(
        (
            c
            for c in list(backend.change_sets.values())  # a copy: other requests may change it
            if c.change_set_name == change_set_name
            and stack_name in (None, c.stack_name, c.stack_id)
        ),
        None,
    )
    if change_set is None:
        raise ValidationError(stack_name, message=f"ChangeSet [{change_set_name}] does not exist")
    if change_set.execution_status != "AVAILABLE":
        error = ValidationError(
            stack_name,
            message=f"ChangeSet [{change_set.change_set_id}] cannot be executed "
            f"in its current execution status of [{change_set.execution_status}]",
        )
        error.code = "InvalidChangeSetStatus"
        raise error
    return change_set


def _create(backend, stack, change_set) -> bool:
    """Create the stack a CREATE change set describes; whether it succeeded."""
    stack.template = change_set.template
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.parameters = change_set.parameters
    stack.cross_stack_resources = backend.exports
    stack.resource_map = stack._create_resource_map()
    stack.output_map = stack._create_output_map()
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.create_resources()
    settle_create(stack)
    if stack.status != "CREATE_COMPLETE":
        return False
    for export in stack.exports:
        backend.exports[export.name] = export
    return True


@patches.replace(CloudFormationBackend, "execute_change_set")
def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
    change_set = _find(self, change_set_name, stack_name)
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    if change_set.change_set_type == "CREATE":
        ok = _create(self, stack, change_set)
    else:
        stack.update(
            change_set.template,
            change_set.role_arn,
            parameters=change_set.parameters,
            tags=change_set.tags or None,
        )
        ok = stack.status == "UPDATE_COMPLETE"
    change_set.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
