"""Test-only: slow each stack resource's creation and deletion, to hold a stack in progress.

`LOCALAWS_FAULT_CFN_RESOURCE_DELAY=<seconds>` in the server's environment makes each resource
a stack creates, adds or deletes wait that long first, as slower AWS resources do, so tests
can poll a stack deterministically while an operation runs. Unset (the default), this costs
one dictionary look-up per resource.
"""

from __future__ import annotations

import os
import time

from moto.cloudformation import parsing

from localaws.core.patching import Patches

patches = Patches("cloudformation.delays", after=("cloudformation.parsing",))
ENV = "LOCALAWS_FAULT_CFN_RESOURCE_DELAY"


def _wait() -> None:
    delay = os.environ.get(ENV)
    if delay:
        time.sleep(float(delay))


@patches.wrap(parsing, "parse_and_create_resource")
def parse_and_create_resource(original, *args, **kwargs):
    _wait()
    return original(*args, **kwargs)


@patches.wrap(parsing.ResourceMap, "_delete_resource")
def delete_resource(original, self, *args, **kwargs):
    _wait()
    return original(self, *args, **kwargs)
