"""CloudFormation reads during a stack operation: a consistent view that creates nothing.

moto 5.2.5 makes stack resources lazily: evaluating a stack's outputs or listing its resources
creates any resource not made yet. localaws serves requests on threads, so DescribeStacks or
DescribeStackResources polled while CreateStack runs created the same resources as the create
(EntityAlreadyExists, a rollback, a 500), and a read during DeleteStack re-created deleted ones.

Here reads only look: `Stack.outputs` is the list published when the last create or update
completed (none before CREATE_COMPLETE; the previous one while an update runs),
`Stack.stack_resources` lists the resources made so far, and stack lookups read copies of the
backend's stack dicts. While an operation runs the stack reads CREATE_IN_PROGRESS,
UPDATE_IN_PROGRESS or DELETE_IN_PROGRESS (moto showed CREATE_PENDING, which is not among
StackStatus's valid values, or the previous status). AWS sources: the Stack data type
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html: StackStatus
values, Outputs), DescribeStacks (.../APIReference/API_DescribeStacks.html) and the stack
status codes (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
view-stack-events.html): CREATE_IN_PROGRESS is "Ongoing creation of one or more stacks"; the
outputs' values come from resources, which exist only once created.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import CloudFormationBackend, Stack

from localaws.core.patching import Patches

patches = Patches("cloudformation.reads", after=("cloudformation.stacks",))

_UNSET = object()  # stacks saved before this group existed: outputs computed once settled
_original_outputs = Stack.outputs


def _publish(stack: Stack) -> None:
    """Evaluate the outputs in the operation's thread, once every resource exists."""
    stack.localaws_outputs = _original_outputs.fget(stack)


@patches.wrap(Stack, "__init__")
def init(original, self, *args: Any, **kwargs: Any) -> None:
    original(self, *args, **kwargs)
    self.localaws_outputs = None
    if self.status == "CREATE_PENDING":  # not a status AWS has: the create has begun
        self.status = "CREATE_IN_PROGRESS"


@patches.replace(Stack, "outputs")
@property
def outputs(self) -> list[dict[str, Any]] | None:
    published = self.__dict__.get("localaws_outputs", _UNSET)
    if published is _UNSET:
        return None if self.status.endswith("_IN_PROGRESS") else _original_outputs.fget(self)
    return published


@patches.replace(Stack, "stack_resources")
@property
def stack_resources(self) -> list[Any]:
    """The resources made so far, in template order; a read never makes one."""
    made = self.resource_map._parsed_resources
    resources = (made.get(k) for k in list(self.resource_map._resource_json_map))
    return [r for r in resources if r is not None]


# moto's lookups loop over the live stack dicts in Python, which a concurrent CreateStack or
# DeleteStack grows ("dictionary changed size during iteration", a 500): these loop over copies.
@patches.replace(CloudFormationBackend, "describe_stacks")
def describe_stacks(self, name_or_stack_id: str | None) -> list[Stack]:
    stacks = list(self.stacks.values())
    if not name_or_stack_id:
        return stacks
    found = [s for s in stacks if name_or_stack_id in (s.name, s.stack_id)] or [
        s for s in list(self.deleted_stacks.values()) if s.stack_id == name_or_stack_id
    ]
    if not found:
        raise ValidationError(name_or_stack_id)
    return found[:1]


@patches.replace(CloudFormationBackend, "get_stack")
def get_stack(self, name_or_stack_id: str) -> Stack:
    """By stack id (deleted stacks included) or by the name of a live stack."""
    live = dict(self.stacks)
    by_id = live.get(name_or_stack_id) or dict(self.deleted_stacks).get(name_or_stack_id)
    if by_id is not None:
        return by_id
    for stack in live.values():
        if stack.name == name_or_stack_id:
            return stack
    raise ValidationError(name_or_stack_id)


@patches.wrap(Stack, "create_resources")
def create_resources(original, self) -> None:
    self.localaws_outputs = None
    original(self)
    if self.status == "CREATE_COMPLETE":
        _publish(self)


@patches.wrap(Stack, "update")
def update(original, self, *args: Any, **kwargs: Any) -> None:
    before = self.status
    self.status = "UPDATE_IN_PROGRESS"
    try:
        original(self, *args, **kwargs)
    except ValidationError:  # refused before anything changed
        self.status = before
        raise
    if self.status == "UPDATE_COMPLETE":
        _publish(self)
