"""Everything localaws changes in moto, one folder per AWS service, applied in one declared order.

Each module that changes moto declares one `localaws.core.patching.Patches` group and registers
its changes on it with decorators (`wrap` / `replace` / `add`, or `set` / `put`); importing a
module changes nothing. `groups()` below lists every group in the order `server.create_app`
applies them (`apply_all`): the whole list is checked first, so a moto upgrade that removed or
renamed an attribute stops the start with one line naming it. To add a change: put it in the
service's module (or a new one) on that module's group, add a new group to `groups()` where its
order needs it (with `after=` naming the groups it relies on), and run
`tests/localaws/test_patching.py`, which checks every target exists in the pinned moto.
"""

from __future__ import annotations

from localaws.core.patching import Patches


def groups() -> list[Patches]:
    """Every patch group, in the order they are applied (imports moto: call it when needed)."""
    from localaws.services import moto_dispatch
    from localaws.services.cloudformation import (
        change_sets,
        delays,
        operations,
        parsing,
        reads,
        resource_types,
        stacks,
    )
    from localaws.services.dynamodb import items
    from localaws.services.iam import enforcement, lookups, simulate
    from localaws.services.s3 import multi_delete, storage, versions
    from localaws.services.sagemaker import (
        endpoints,
        jobs,
        listing,
        names,
        pipelines,
        registry,
        transform,
    )
    from localaws.services.stepfunctions import (
        backend,
        execution,
        faults,
        field_paths,
        history_limit,
        json_paths,
        program_cache,
        tasks,
    )

    return [
        enforcement.patches,  # first: every request from then on is authenticated
        simulate.patches,
        lookups.patches,  # roles by name / ARN, sessions by key: no scan per request
        storage.patches,  # S3 objects as blob files, saved per key name
        multi_delete.patches,  # DeleteObjects authorized per key
        versions.patches,  # ListObjectVersions without deep copies
        *job_io_groups(),  # after storage: jobs' S3 bodies from / to the blob store
        items.patches,  # DynamoDB items saved per hash key
        backend.patches,  # before CloudFormation: stacks create state machines in its backend
        tasks.patches,
        execution.patches,
        json_paths.patches,  # Jayway's JSONPath (regex filters, projections)
        field_paths.patches,  # "RoleArn.$" in Parameters is a path like any "<name>.$"
        program_cache.patches,  # after field_paths: a definition is parsed once, not per run
        history_limit.patches,  # 25,000 events per execution (test-only: lower by env)
        faults.patches,  # test-only: LOCALAWS_FAULT_KILL_AT_STATE
        resource_types.patches,
        parsing.patches,
        stacks.patches,
        operations.patches,  # after stacks: a retried CreateStack answers its stack
        change_sets.patches,  # after stacks: executes through their create/rollback paths
        reads.patches,  # after stacks: reads during an operation create nothing
        delays.patches,  # test-only: LOCALAWS_FAULT_CFN_RESOURCE_DELAY
        registry.patches,
        listing.patches,
        endpoints.patches,  # after registry: wraps the registry's CreateModelPackage
        names.patches,  # after endpoints: a taken model / endpoint config name is refused first
        jobs.patches,
        transform.patches,  # batch transform jobs that run
        pipelines.patches,
        *authorization_groups(),  # request -> IAM checks tables, one per service (any order)
        moto_dispatch.patches,  # last: caches method lists of the response classes changed above
    ]


def authorization_groups() -> list[Patches]:
    """The per-service tables that turn a request into IAM checks (`iam.enforcement` uses them)."""
    from localaws.services.cloudformation import authorization as cloudformation
    from localaws.services.dynamodb import authorization as dynamodb
    from localaws.services.iam import api_authorization as iam
    from localaws.services.logs import authorization as logs
    from localaws.services.s3 import authorization as s3
    from localaws.services.sagemaker import authorization as sagemaker
    from localaws.services.stepfunctions import authorization as stepfunctions
    from localaws.services.sts import authorization as sts

    tables = (s3, dynamodb, sagemaker, stepfunctions, sts, iam, logs, cloudformation)
    return [table.patches for table in tables]


def job_io_groups() -> list[Patches]:
    """Jobs' S3 object bodies without HTTP (`compute.s3io.direct`), IAM checked."""
    from localaws.services.s3 import direct

    return [direct.patches]
