"""CloudFormation reads during a stack operation: a consistent view that creates nothing.

moto 5.2.5 makes stack resources lazily: evaluating a stack's outputs or listing its resources
creates any resource not made yet. localaws serves requests on threads, so DescribeStacks or
DescribeStackResources polled while CreateStack runs created the same resources as the create
(EntityAlreadyExists, a rollback, a 500), and a read during DeleteStack re-created deleted ones.

Here reads only look: `Stack.outputs` is the list published when the last create or update
completed (none before CREATE_COMPLETE; the previous one while an update runs), and
`Stack.stack_resources` lists the resources made so far. The stack reads CREATE_IN_PROGRESS,
UPDATE_IN_PROGRESS or DELETE_IN_PROGRESS while the operation runs (moto shows CREATE_PENDING,
or the previous status). As AWS documents: "Outputs" are "A list of output structures" of a
stack whose StackStatus is one of CREATE_IN_PROGRESS ... CREATE_COMPLETE ...
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Stack.html), and
outputs are available once the stack is complete: "After the stack is created, you can view
the outputs" (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/outputs-section-structure.html).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import ValidationError
from moto.cloudformation.models import Stack

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
