"""CloudFormation resource types localaws adds to moto or makes behave as AWS defines them.

- `AWS::StepFunctions::StateMachine`: `Definition` (object), `DefinitionString`,
  `DefinitionS3Location`, `DefinitionSubstitutions`, `StateMachineType`; GetAtt `Arn`;
- `AWS::IAM::Role` attaches `ManagedPolicyArns` and updates its policies; a stack's
  `AWS::IAM::ManagedPolicy` is detached and deleted with the stack;
- `AWS::SageMaker::ModelPackageGroup` (Ref = ARN; GetAtt ModelPackageGroupArn, CreationTime,
  ModelPackageGroupStatus).
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.iam.models import ManagedPolicy, Role, iam_backends
from moto.s3.models import s3_backends
from moto.sagemaker import models as sm_models
from moto.sagemaker.models import ModelPackageGroup, sagemaker_backends
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.models import StateMachine
from moto.utilities.utils import get_partition

from localaws.core.patching import Patches
from localaws.services.iam.lookups import role_named

# after Step Functions' backend group: state machines are created in the backend it installs
patches = Patches("cloudformation.resource_types", after=("stepfunctions.backend",))


@patches.refresh
def _clear_model_caches() -> None:
    """moto caches the resource types it knows (CloudFormationModel subclasses)."""
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()


# ---------------------------------------------------------------- state machines
def _read_s3(location: dict[str, Any], account_id: str, region_name: str) -> str:
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


def _sfn_backend(account_id: str, region_name: str):
    # looked up at call time: the Step Functions group points this at the executing backend
    return sfn_models.stepfunctions_backends[account_id][region_name]


@patches.replace(StateMachine, "create_from_cloudformation_json")
@classmethod
def create_state_machine(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
    props = cloudformation_json["Properties"]
    return _sfn_backend(account_id, region_name).create_state_machine(
        props.get("StateMachineName", resource_name),
        state_machine_definition(props, account_id, region_name),
        props.get("RoleArn", ""),
        tags=sfn_models.cfn_to_api_tags(props.get("Tags", [])),
        sm_type=props.get("StateMachineType"),
    )


@patches.replace(StateMachine, "update_from_cloudformation_json")
@classmethod
def update_state_machine(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    props = cloudformation_json.get("Properties", {})
    name = props.get("StateMachineName", original_resource.name)
    sfn = _sfn_backend(account_id, region_name)
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


@patches.wrap(StateMachine, "get_cfn_attribute")
def state_machine_attribute(original, self, attribute_name: str) -> Any:
    if attribute_name == "Arn":
        return self.arn
    return original(self, attribute_name)


@patches.wrap(StateMachine, "has_cfn_attr")
def state_machine_has_attr(original, attr: str) -> bool:
    return attr == "Arn" or original(attr)


# ---------------------------------------------------------------- model package groups
_GROUP_ATTRS = ("ModelPackageGroupArn", "CreationTime", "ModelPackageGroupStatus")


class ModelPackageGroupCloudFormation(CloudFormationModel):
    """CloudFormation resource type AWS::SageMaker::ModelPackageGroup.

    The stack keeps moto's own ModelPackageGroup object (it pickles as moto's); this class only
    tells CloudFormation how to make and remove one. moto files resource types by the second
    part of their module name, so it is filed under moto.sagemaker.models.
    """

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::ModelPackageGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ModelPackageGroupName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in _GROUP_ATTRS

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        props = cloudformation_json["Properties"]
        backend = sagemaker_backends[account_id][region_name]
        name = props.get("ModelPackageGroupName", resource_name)
        backend.create_model_package_group(
            model_package_group_name=name,
            model_package_group_description=props.get("ModelPackageGroupDescription"),
            tags=props.get("Tags") or [],
        )
        return backend.model_package_groups[name]

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        sagemaker_backends[account_id][region_name].delete_model_package_group(resource_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        props = cloudformation_json.get("Properties", {})
        name = props.get("ModelPackageGroupName", original_resource.model_package_group_name)
        if name != original_resource.model_package_group_name:
            new = cls.create_from_cloudformation_json(
                name, cloudformation_json, account_id, region_name
            )
            cls.delete_from_cloudformation_json(
                original_resource.model_package_group_name, {}, account_id, region_name
            )
            return new
        original_resource.model_package_group_description = props.get(
            "ModelPackageGroupDescription"
        )
        original_resource.tags = props.get("Tags") or []
        return original_resource


ModelPackageGroupCloudFormation.__module__ = sm_models.__name__
patches.add(sm_models, "ModelPackageGroupCloudFormation")(ModelPackageGroupCloudFormation)


def _group_attribute(self, attribute_name: str) -> Any:
    if attribute_name == "ModelPackageGroupArn":
        return self.arn
    if attribute_name == "CreationTime":
        return self.creation_time.isoformat()
    if attribute_name == "ModelPackageGroupStatus":
        return self.model_package_group_status
    raise UnformattedGetAttTemplateException()


# What a stack needs from the group object it keeps.
patches.add(ModelPackageGroup, "physical_resource_id")(property(lambda self: self.arn))
patches.add(ModelPackageGroup, "is_created")(lambda self: True)
patches.add(ModelPackageGroup, "has_cfn_attr")(classmethod(lambda cls, attr: attr in _GROUP_ATTRS))
patches.add(ModelPackageGroup, "get_cfn_attribute")(_group_attribute)


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


def _iam(account_id: str, region_name: str):
    return iam_backends[account_id][get_partition(region_name)]


@patches.wrap(Role, "create_from_cloudformation_json")
def create_role(original, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    props = cloudformation_json["Properties"]
    bare = {
        **cloudformation_json,
        "Properties": {k: v for k, v in props.items() if k != "Policies"},
    }
    role = original(resource_name, bare, account_id, region_name, **kwargs)
    backend = _iam(account_id, region_name)
    try:
        _sync_role(backend, role, props)
    except Exception:
        _delete_role(backend, role.name)
        raise
    return role


@patches.replace(Role, "update_from_cloudformation_json")
@classmethod
def update_role(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    props = cloudformation_json["Properties"]
    backend = _iam(account_id, region_name)
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


@patches.wrap(Role, "delete_from_cloudformation_json")
def delete_role(original, resource_name, cloudformation_json, account_id, region_name):
    backend = _iam(account_id, region_name)
    role = role_named(backend, resource_name)
    for arn in list(role.managed_policies) if role else []:
        backend.detach_role_policy(arn, resource_name)
    original(resource_name, cloudformation_json, account_id, region_name)


def _delete_role(backend, name: str) -> None:
    Role.delete_from_cloudformation_json(name, {}, backend.account_id, "us-east-1")


@patches.replace(ManagedPolicy, "delete_from_cloudformation_json")
@classmethod
def delete_policy(cls, resource_name, cloudformation_json, account_id, region_name):
    backend = _iam(account_id, region_name)
    policy = backend.get_policy(resource_name)
    # Copies (one C call each): a request on another thread may add or remove a principal.
    for role in list(backend.roles.values()):
        if policy.arn in role.managed_policies:
            backend.detach_role_policy(policy.arn, role.name)
    for user in list(backend.users.values()):
        if policy.arn in user.managed_policies:
            backend.detach_user_policy(policy.arn, user.name)
    for group in list(backend.groups.values()):
        if policy.arn in group.managed_policies:
            backend.detach_group_policy(policy.arn, group.name)
    backend.delete_policy(policy.arn)
