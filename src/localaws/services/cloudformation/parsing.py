"""CloudFormation template parsing: a resource localaws cannot create or update fails, loudly.

moto 5.2.5 skips a resource type it does not know with a log line, and drops from the stack a
resource it cannot update in place. Here both raise `ResourceFailed`, which the stack
operations (`stacks`) turn into CREATE_FAILED / UPDATE_FAILED with the reason.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing

from localaws.core.patching import Patches
from localaws.services.cloudformation.templates import can_create

patches = Patches("cloudformation.parsing")


class ResourceFailed(Exception):
    """A stack resource that could not be created; carries its logical id and type."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


@patches.wrap(parsing, "parse_and_create_resource")
def parse_and_create_resource(
    original, logical_id, resource_json, resources_map, account_id, region_name
):
    resource_type = resource_json.get("Type", "")
    if not can_create(resource_type):
        raise ResourceFailed(
            logical_id,
            resource_type,
            f"localaws cannot create resources of type {resource_type} (resource {logical_id})",
        )
    try:
        return original(logical_id, resource_json, resources_map, account_id, region_name)
    except ResourceFailed:
        raise
    except Exception as exc:
        raise ResourceFailed(logical_id, resource_type, f"{type(exc).__name__}: {exc}") from exc


@patches.wrap(parsing.ResourceMap, "update")
def map_update(original, self, template, parameters=None):
    # remember what the resources looked like, to tell real changes from re-resolutions
    self.localaws_before = (dict(self._resource_json_map), dict(self.resolved_parameters))
    return original(self, template, parameters)


@patches.wrap(parsing, "parse_and_update_resource")
def parse_and_update_resource(
    original, logical_id, resource_json, resources_map, account_id, region_name
):
    updated = original(logical_id, resource_json, resources_map, account_id, region_name)
    if updated is not None:
        return updated
    # moto cannot update this type in place (it would drop the resource from the stack)
    old_json, old_params = getattr(resources_map, "localaws_before", ({}, {}))
    changed_params = [
        p
        for p in parsing.get_references_from_template(resource_json)
        if p in old_params and old_params[p] != resources_map.resolved_parameters.get(p)
    ]

    def props(j: dict[str, Any] | None) -> dict[str, Any]:
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
