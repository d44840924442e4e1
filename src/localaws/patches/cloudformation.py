"""CloudFormation: nothing skipped silently, state machines as AWS defines them, registry groups.

What moto 5.2.5 lacks and this adds:
- a resource type localaws cannot create fails the stack (CREATE_FAILED event naming the
  type, then rollback of what was made: ROLLBACK_COMPLETE) instead of being skipped with a
  log line; any other resource failure does the same; UpdateStack with such a type is
  refused; a failed delete leaves the stack DELETE_FAILED, with the reason;
- `AWS::StepFunctions::StateMachine`: `Definition` (object), `DefinitionString`,
  `DefinitionS3Location`, `DefinitionSubstitutions`, `StateMachineType`; GetAtt `Arn`;
- `AWS::IAM::Role` attaches `ManagedPolicyArns` and updates its policies; a stack's
  `AWS::IAM::ManagedPolicy` is detached and deleted with the stack;
- `AWS::SageMaker::ModelPackageGroup` (Ref = ARN; GetAtt ModelPackageGroupArn, CreationTime,
  ModelPackageGroupStatus);
- "No updates are to be performed." whenever template and parameters are unchanged;
- change sets (`aws cloudformation deploy`) take the same paths (outputs, failure handling,
  capabilities, "didn't contain changes");
- CreateStack/UpdateStack demand CAPABILITY_IAM / CAPABILITY_NAMED_IAM / CAPABILITY_AUTO_EXPAND
  as AWS does (InsufficientCapabilitiesException), and honour OnFailure / DisableRollback.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import yaml

_DONE = "_localaws_cfn"


class ResourceFailed(Exception):
    """A stack resource that could not be created; carries its logical id and type."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


# ---------------------------------------------------------------- state machines
def _read_s3(location: dict[str, Any], account_id: str, region_name: str) -> str:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account_id][get_partition(region_name)]
    key = backend.get_object(location["Bucket"], location["Key"], location.get("Version"))
    if key is None:
        raise ValueError(
            f"DefinitionS3Location s3://{location['Bucket']}/{location['Key']} does not exist"
        )
    return key.value.decode("utf-8")


def _substitute(text: str, substitutions: dict[str, Any]) -> str:
    for name, value in substitutions.items():
        if not isinstance(value, str):
            value = json.dumps(value)
        text = text.replace("${" + name + "}", value)
    return text


def state_machine_definition(properties: dict[str, Any], account_id: str, region_name: str) -> str:
    """The ASL JSON a `AWS::StepFunctions::StateMachine` resource's properties describe."""
    if "DefinitionString" in properties:
        text = properties["DefinitionString"]
    elif "Definition" in properties:
        text = json.dumps(properties["Definition"])
    elif "DefinitionS3Location" in properties:
        text = _read_s3(properties["DefinitionS3Location"], account_id, region_name)
    else:
        raise ValueError("one of Definition, DefinitionString or DefinitionS3Location is required")
    text = _substitute(text, properties.get("DefinitionSubstitutions") or {})
    try:
        return json.dumps(json.loads(text))
    except ValueError:  # S3 definitions may be YAML
        return json.dumps(yaml.safe_load(text))


def _patch_state_machine() -> None:
    from moto.stepfunctions import models as sfn_models
    from moto.stepfunctions.models import StateMachine

    if getattr(StateMachine, _DONE, False):
        return

    def backend(account_id: str, region_name: str):
        # looked up at call time: the Step Functions patch points this at the executing backend
        return sfn_models.stepfunctions_backends[account_id][region_name]

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        return backend(account_id, region_name).create_state_machine(
            props.get("StateMachineName", resource_name),
            state_machine_definition(props, account_id, region_name),
            props.get("RoleArn", ""),
            tags=sfn_models.cfn_to_api_tags(props.get("Tags", [])),
            sm_type=props.get("StateMachineType"),
        )

    def update(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json.get("Properties", {})
        name = props.get("StateMachineName", original_resource.name)
        sfn = backend(account_id, region_name)
        if name != original_resource.name:  # a new name replaces the state machine
            new = cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
            sfn.delete_state_machine(original_resource.arn)
            return new
        machine = sfn.update_state_machine(
            original_resource.arn,
            definition=state_machine_definition(props, account_id, region_name),
            role_arn=props.get("RoleArn"),
        )
        sfn.tagger.tag_resource(machine.arn, sfn_models.cfn_to_api_tags(props.get("Tags", [])))
        return machine

    original_attr = StateMachine.get_cfn_attribute
    original_has = StateMachine.has_cfn_attr.__func__

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "Arn":
            return self.arn
        return original_attr(self, attribute_name)

    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Arn" or original_has(cls, attr)

    StateMachine.create_from_cloudformation_json = classmethod(create)
    StateMachine.update_from_cloudformation_json = classmethod(update)
    StateMachine.get_cfn_attribute = get_cfn_attribute
    StateMachine.has_cfn_attr = classmethod(has_cfn_attr)
    setattr(StateMachine, _DONE, True)


# ---------------------------------------------------------------- model package groups
def _register_model_package_group() -> None:
    from moto.core.common_models import CloudFormationModel
    from moto.sagemaker import models as sm_models
    from moto.sagemaker.models import ModelPackageGroup, sagemaker_backends

    if hasattr(sm_models, "ModelPackageGroupCloudFormation"):
        return

    # The stack keeps moto's own ModelPackageGroup object (it pickles as moto's); this class
    # only tells CloudFormation how to make and remove one. Its module must be under moto.
    # (moto files its models by the second part of the module name).
    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        backend = sagemaker_backends[account_id][region_name]
        name = props.get("ModelPackageGroupName", resource_name)
        backend.create_model_package_group(
            model_package_group_name=name,
            model_package_group_description=props.get("ModelPackageGroupDescription"),
            tags=props.get("Tags") or [],
        )
        return backend.model_package_groups[name]

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        sagemaker_backends[account_id][region_name].delete_model_package_group(resource_name)

    def update(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json.get("Properties", {})
        name = props.get("ModelPackageGroupName", original_resource.model_package_group_name)
        if name != original_resource.model_package_group_name:
            new = cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
            delete(cls, original_resource.model_package_group_name, {}, account_id, region_name)
            return new
        original_resource.model_package_group_description = props.get(
            "ModelPackageGroupDescription"
        )
        original_resource.tags = props.get("Tags") or []
        return original_resource

    attrs = {
        "__module__": sm_models.__name__,
        "__doc__": "CloudFormation resource type AWS::SageMaker::ModelPackageGroup.",
        "cloudformation_type": staticmethod(lambda: "AWS::SageMaker::ModelPackageGroup"),
        "cloudformation_name_type": staticmethod(lambda: "ModelPackageGroupName"),
        "has_cfn_attr": classmethod(lambda cls, attr: attr in _GROUP_ATTRS),
        "create_from_cloudformation_json": classmethod(create),
        "delete_from_cloudformation_json": classmethod(delete),
        "update_from_cloudformation_json": classmethod(update),
    }
    factory = type("ModelPackageGroupCloudFormation", (CloudFormationModel,), attrs)
    sm_models.ModelPackageGroupCloudFormation = factory

    # What a stack needs from the group object it keeps.
    ModelPackageGroup.physical_resource_id = property(lambda self: self.arn)
    ModelPackageGroup.is_created = lambda self: True
    ModelPackageGroup.has_cfn_attr = classmethod(lambda cls, attr: attr in _GROUP_ATTRS)
    ModelPackageGroup.get_cfn_attribute = _group_attribute


_GROUP_ATTRS = ("ModelPackageGroupArn", "CreationTime", "ModelPackageGroupStatus")


def _group_attribute(self, attribute_name: str) -> Any:
    from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

    if attribute_name == "ModelPackageGroupArn":
        return self.arn
    if attribute_name == "CreationTime":
        return self.creation_time.isoformat()
    if attribute_name == "ModelPackageGroupStatus":
        return self.model_package_group_status
    raise UnformattedGetAttTemplateException()


# ---------------------------------------------------------------- IAM roles and policies
def _doc(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def _sync_role(backend, role, props: dict[str, Any]) -> None:
    """Make the role's inline and managed policies those the template names."""
    wanted = {p["PolicyName"]: _doc(p["PolicyDocument"]) for p in props.get("Policies") or []}
    for name in list(role.policies):
        if name not in wanted:
            backend.delete_role_policy(role.name, name)
    for name, document in wanted.items():
        backend.put_role_policy(role.name, name, document)
    arns = set(props.get("ManagedPolicyArns") or [])
    for arn in list(role.managed_policies):
        if arn not in arns:
            backend.detach_role_policy(arn, role.name)
    for arn in sorted(arns - set(role.managed_policies)):
        backend.attach_role_policy(arn, role.name)


def _patch_iam() -> None:
    from moto.iam.models import ManagedPolicy, Role, iam_backends
    from moto.utilities.utils import get_partition

    if getattr(Role, _DONE, False):
        return
    original_create = Role.create_from_cloudformation_json.__func__
    original_delete = Role.delete_from_cloudformation_json.__func__

    def create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json["Properties"]
        bare = {
            **cloudformation_json,
            "Properties": {k: v for k, v in props.items() if k != "Policies"},
        }
        role = original_create(cls, resource_name, bare, account_id, region_name, **kwargs)
        backend = iam_backends[account_id][get_partition(region_name)]
        try:
            _sync_role(backend, role, props)
        except Exception:
            _delete_role(backend, role.name)
            raise
        return role

    def update(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json["Properties"]
        backend = iam_backends[account_id][get_partition(region_name)]
        name = props.get("RoleName", original_resource.name)
        if name != original_resource.name:
            new = cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
            _delete_role(backend, original_resource.name)
            return new
        role = original_resource
        role.assume_role_policy_document = _doc(props["AssumeRolePolicyDocument"])
        role.description = props.get("Description", "")
        role.max_session_duration = props.get("MaxSessionDuration", 3600)
        _sync_role(backend, role, props)
        return role

    def delete(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        role = next((r for r in backend.roles.values() if r.name == resource_name), None)
        for arn in list(role.managed_policies) if role else []:
            backend.detach_role_policy(arn, resource_name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    def _delete_role(backend, name: str) -> None:
        delete(Role, name, {}, backend.account_id, "us-east-1")

    def delete_policy(cls, resource_name, cloudformation_json, account_id, region_name):
        backend = iam_backends[account_id][get_partition(region_name)]
        policy = backend.get_policy(resource_name)
        for role in backend.roles.values():
            if policy.arn in role.managed_policies:
                backend.detach_role_policy(policy.arn, role.name)
        for user in backend.users.values():
            if policy.arn in user.managed_policies:
                backend.detach_user_policy(policy.arn, user.name)
        for group in backend.groups.values():
            if policy.arn in group.managed_policies:
                backend.detach_group_policy(policy.arn, group.name)
        backend.delete_policy(policy.arn)

    Role.create_from_cloudformation_json = classmethod(create)
    Role.update_from_cloudformation_json = classmethod(update)
    Role.delete_from_cloudformation_json = classmethod(delete)
    ManagedPolicy.delete_from_cloudformation_json = classmethod(delete_policy)
    setattr(Role, _DONE, True)


# ---------------------------------------------------------------- stack life cycle
def _patch_parsing() -> None:
    from moto.cloudformation import parsing

    if getattr(parsing, _DONE, False):
        return
    original_create = parsing.parse_and_create_resource

    def parse_and_create_resource(
        logical_id, resource_json, resources_map, account_id, region_name
    ):
        resource_type = resource_json.get("Type", "")
        if (
            resource_type not in parsing.NULL_MODELS
            and not resource_type.startswith("Custom::")
            and resource_type not in parsing.get_model_map()
        ):
            raise ResourceFailed(
                logical_id,
                resource_type,
                f"localaws cannot create resources of type {resource_type} (resource {logical_id})",
            )
        try:
            return original_create(
                logical_id, resource_json, resources_map, account_id, region_name
            )
        except ResourceFailed:
            raise
        except Exception as exc:
            raise ResourceFailed(logical_id, resource_type, f"{type(exc).__name__}: {exc}") from exc

    original_update = parsing.parse_and_update_resource
    original_map_update = parsing.ResourceMap.update

    def map_update(self, template, parameters=None):
        # remember what the resources looked like, to tell real changes from re-resolutions
        self.localaws_before = (dict(self._resource_json_map), dict(self.resolved_parameters))
        return original_map_update(self, template, parameters)

    def parse_and_update_resource(
        logical_id, resource_json, resources_map, account_id, region_name
    ):
        updated = original_update(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is not None:
            return updated
        # moto cannot update this type in place (it would drop the resource from the stack)
        old_json, old_params = getattr(resources_map, "localaws_before", ({}, {}))
        changed_params = [
            p
            for p in parsing.get_references_from_template(resource_json)
            if p in old_params and old_params[p] != resources_map.resolved_parameters.get(p)
        ]

        def props(j: dict | None) -> dict:
            return {**(j or {}), "Properties": (j or {}).get("Properties") or {}}

        if props(old_json.get(logical_id)) != props(resource_json) or changed_params:
            resource_type = resource_json.get("Type", "")
            raise ResourceFailed(
                logical_id,
                resource_type,
                f"localaws cannot update resources of type {resource_type} "
                f"in place (resource {logical_id})",
            )
        return resources_map[logical_id]

    parsing.parse_and_create_resource = parse_and_create_resource
    parsing.parse_and_update_resource = parse_and_update_resource
    parsing.ResourceMap.update = map_update
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    setattr(parsing, _DONE, True)


def unsupported_types(template: dict[str, Any]) -> list[str]:
    """Resource types in `template` that localaws cannot create."""
    from moto.cloudformation import parsing

    known = parsing.get_model_map()
    return sorted(
        {
            r.get("Type", "")
            for r in (template.get("Resources") or {}).values()
            if r.get("Type", "") not in known
            and r.get("Type", "") not in parsing.NULL_MODELS
            and not r.get("Type", "").startswith("Custom::")
        }
    )


def _resource_event(
    stack,
    logical_id: str,
    resource_type: str,
    status: str,
    reason: str | None,
    physical_id: str = "",
) -> None:
    from moto.cloudformation.models import Event

    stack.events.append(
        Event(
            stack_id=stack.stack_id,
            stack_name=stack.name,
            logical_resource_id=logical_id,
            physical_resource_id=physical_id,
            resource_type=resource_type,
            resource_status=status,
            resource_status_reason=reason,
            resource_properties=None,
        )
    )


def _patch_stack() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.parsing import OutputMap

    if getattr(Stack, _DONE, False):
        return
    original_create = Stack.create_resources
    original_update = Stack.update

    def create_resources(self) -> None:
        try:
            original_create(self)
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
                f"The following resource(s) failed to create: "
                f"[{failure.logical_id}]: {failure.reason}"
            )
            if getattr(_on_failure, "value", "ROLLBACK") == "DO_NOTHING":
                return
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event(
                "ROLLBACK_IN_PROGRESS", resource_status_reason=self.stack_status_reason
            )
            try:
                self.resource_map.delete()
            except Exception as exc:
                self.status = "ROLLBACK_FAILED"
                self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=str(exc))
                return
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")
        finally:
            if self.status != "CREATE_COMPLETE":
                # moto makes resources lazily (outputs, resource listings): make no more now;
                # keep what a CREATE_FAILED (no rollback) stack holds, so a delete removes it
                made = self.resource_map._parsed_resources
                self.resource_map._resource_json_map = {
                    k: v
                    for k, v in self.resource_map._resource_json_map.items()
                    if self.status == "CREATE_FAILED" and k in made
                }
                self.output_map = OutputMap(self.resource_map, {}, self.stack_id)

    def update(self, template: str, role_arn=None, parameters=None, tags=None) -> None:
        missing = unsupported_types(self.parse_template(template))
        if missing:
            raise ValidationError(
                self.name,
                message=f"localaws cannot create resources of type {', '.join(missing)}; "
                "the stack was not changed",
            )
        try:
            original_update(self, template, role_arn, parameters, tags)
        except ValidationError:
            raise
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.status = "UPDATE_FAILED"
            self.stack_status_reason = reason
            self._add_stack_event("UPDATE_FAILED", resource_status_reason=reason)
            return
        self.stack_status_reason = None

    def delete_stack(self, name_or_stack_id: str) -> None:
        stack = next(
            (s for s in self.stacks.values() if name_or_stack_id in (s.stack_id, s.name)), None
        )
        if stack is None:
            return
        try:
            stack.delete()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            stack.status = "DELETE_FAILED"
            stack.stack_status_reason = reason
            stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
            return
        self.stacks.pop(stack.stack_id, None)
        self.deleted_stacks[stack.stack_id] = stack
        for export in stack.exports:
            self.exports.pop(export.name, None)

    Stack.create_resources = create_resources
    Stack.update = update
    Stack.stack_status_reason = None
    CloudFormationBackend.delete_stack = delete_stack
    setattr(Stack, _DONE, True)


def _patch_no_op_update() -> None:
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.responses import CloudFormationResponse

    if getattr(CloudFormationResponse, _DONE, False):
        return

    def _validate_different_update(self, incoming_params, stack_body, old_stack) -> None:
        if not stack_body or stack_body != old_stack.template:
            return
        given = self._get_param_values(incoming_params or [], old_stack.stack_parameters)
        if _same_parameters(old_stack, old_stack.template_dict, given):
            raise ValidationError(old_stack.name, message="No updates are to be performed.")

    CloudFormationResponse._validate_different_update = _validate_different_update
    setattr(CloudFormationResponse, _DONE, True)


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
_on_failure = threading.local()


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


def _check_capabilities(response, template_body: str | None) -> None:
    from moto.cloudformation.exceptions import CloudFormationError
    from moto.cloudformation.models import Stack

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


def _patch_requests() -> None:
    """CreateStack/UpdateStack: capabilities as AWS requires them; OnFailure/DisableRollback."""
    from moto.cloudformation.responses import CloudFormationResponse

    if getattr(CloudFormationResponse.create_stack, _DONE, False):
        return
    original_create = CloudFormationResponse.create_stack
    original_update = CloudFormationResponse.update_stack

    def body_of(self, previous: str | None = None) -> str | None:
        if self._get_bool_param("UsePreviousTemplate", False):
            return previous
        if self._get_param("TemplateBody"):
            return self._get_param("TemplateBody")
        if self._get_param("TemplateURL"):
            return self._get_stack_from_s3_url(self._get_param("TemplateURL"))
        return None

    def create_stack(self):
        _check_capabilities(self, body_of(self))
        on_failure = self._get_param("OnFailure") or "ROLLBACK"
        if self._get_bool_param("DisableRollback", False):
            on_failure = "DO_NOTHING"
        _on_failure.value = on_failure
        try:
            result = original_create(self)
        finally:
            _on_failure.value = "ROLLBACK"
        if on_failure == "DELETE":
            stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
            if stack.status == "ROLLBACK_COMPLETE":
                self.cloudformation_backend.delete_stack(stack.stack_id)
        return result

    def update_stack(self):
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        _check_capabilities(self, body_of(self, stack.template))
        return original_update(self)

    setattr(create_stack, _DONE, True)
    CloudFormationResponse.create_stack = create_stack
    CloudFormationResponse.update_stack = update_stack


def _same_parameters(stack, template: dict[str, Any], given: dict[str, Any]) -> bool:
    """Whether `given` (plus the template's defaults) equals the stack's current parameters."""
    declared = template.get("Parameters") or {}
    new = {k: given.get(k, spec.get("Default")) for k, spec in declared.items()}

    def norm(values: dict[str, Any]) -> dict[str, str]:
        return {
            k: ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()
        }

    return norm(new) == norm(stack.stack_parameters)


def _patch_change_sets() -> None:
    """Change sets (`aws cloudformation deploy`) go through the same create/update paths as
    CreateStack/UpdateStack: outputs, failures and rollback, capabilities; an unchanged
    template and parameters give a FAILED change set ("didn't contain changes"), as on AWS."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.core.responses import ActionResult

    if getattr(CloudFormationBackend.execute_change_set, _DONE, False):
        return
    original_create = CloudFormationBackend.create_change_set

    def create_change_set_response(self):
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
        _check_capabilities(self, body)
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

    def create_change_set(
        self,
        stack_name,
        change_set_name,
        template,
        parameters,
        *args,
        change_set_type="CREATE",
        **kwargs,
    ):
        change_set_id, stack_id = original_create(
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
            unchanged = template == stack.template and _same_parameters(
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

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        change_set = self.change_sets.get(change_set_name) or next(
            (
                c
                for c in self.change_sets.values()
                if c.change_set_name == change_set_name
                and stack_name in (None, c.stack_name, c.stack_id)
            ),
            None,
        )
        if change_set is None:
            raise ValidationError(
                stack_name, message=f"ChangeSet [{change_set_name}] does not exist"
            )
        if change_set.execution_status != "AVAILABLE":
            error = ValidationError(
                stack_name,
                message=f"ChangeSet [{change_set.change_set_id}] cannot be executed "
                f"in its current execution status of "
                f"[{change_set.execution_status}]",
            )
            error.code = "InvalidChangeSetStatus"
            raise error
        stack = self.stacks[change_set.stack_id]
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
        if change_set.change_set_type == "CREATE":
            stack.template = change_set.template
            stack._parse_template()
            stack.description = stack.template_dict.get("Description")
            stack.parameters = change_set.parameters
            stack.cross_stack_resources = self.exports
            stack.resource_map = stack._create_resource_map()
            stack.output_map = stack._create_output_map()
            stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
            stack.create_resources()
            ok = stack.status == "CREATE_COMPLETE"
            if ok:
                for export in stack.exports:
                    self.exports[export.name] = export
        else:
            stack.update(
                change_set.template,
                change_set.role_arn,
                parameters=change_set.parameters,
                tags=change_set.tags or None,
            )
            ok = stack.status == "UPDATE_COMPLETE"
        change_set.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"

    setattr(execute_change_set, _DONE, True)
    CloudFormationResponse.create_change_set = create_change_set_response
    CloudFormationBackend.create_change_set = create_change_set
    CloudFormationBackend.execute_change_set = execute_change_set


def apply() -> None:
    """Install the CloudFormation extensions (idempotent)."""
    _patch_state_machine()
    _register_model_package_group()
    _patch_iam()
    _patch_parsing()
    _patch_stack()
    _patch_no_op_update()
    _patch_requests()
    _patch_change_sets()
