"""Everything localaws changes in moto, one folder per AWS service, applied in one declared order.

Each module that changes moto declares one `localaws.core.patching.Patches` group and registers
its changes on it with decorators (`wrap` / `replace` / `add`, or `set` / `put`); importing a
module changes nothing. `apply()` (what `server.create_app` calls) applies, in this order:
`boot_groups()`, which change what moto's modules do at import and so come before anything
imports them, then `groups()`. Each list is checked before any of it is applied, so a moto
upgrade that removed or renamed an attribute stops the start with one line naming it. To add a
change: put it in the service's module (or a new one) on that module's group, add a new group
where its order needs it (with `after=` naming the groups it relies on), and run
`tests/localaws/test_patching.py`, which checks every target exists in the pinned moto.
"""

from __future__ import annotations

from localaws.core.patching import Patches, apply_all


def boot_groups() -> list[Patches]:
    """Groups that change what moto does at import: applied before `groups()` imports it."""
    from localaws.services import region_lists

    return [region_lists.patches]


def groups() -> list[Patches]:
    """Every patch group, in the order they are applied (imports moto: call it when needed)."""
    from localaws.services import moto_dispatch, serialization
    from localaws.services.dynamodb import items
    from localaws.services.iam import enforcement, lookups, simulate
    from localaws.services.logs import streams
    from localaws.services.s3 import (
        key_index,
        key_iteration,
        multi_delete,
        storage,
        tagging,
        versions,
    )
    from localaws.services.sagemaker import (
        endpoints,
        jobs,
        listing,
        names,
        pipelines,
        registry,
        transform,
    )

    return [
        enforcement.patches,  # first: every request from then on is authenticated
        simulate.patches,
        lookups.patches,  # roles by name / ARN, sessions by key: no scan per request
        storage.patches,  # S3 objects as blob files, saved per key name
        multi_delete.patches,  # DeleteObjects authorized per key
        key_index.patches,  # each bucket's object names kept sorted
        key_iteration.patches,  # listings read the names' versions from moto's own copy
        versions.patches,  # after key_index: ListObjectVersions at the cost of its page
        tagging.patches,  # no tag entry per untagged object version
        *job_io_groups(),  # after storage: jobs' S3 bodies from / to the blob store
        items.patches,  # DynamoDB items saved per hash key
        *stepfunctions_groups(),  # before CloudFormation: stacks create state machines
        *cloudformation_groups(),
        registry.patches,
        listing.patches,
        endpoints.patches,  # after registry: wraps the registry's CreateModelPackage
        names.patches,  # after endpoints: a taken model / endpoint config name is refused first
        jobs.patches,
        transform.patches,  # batch transform jobs that run
        pipelines.patches,
        streams.patches,  # CloudWatch Logs streams saved in chunks, each pickled once
        *authorization_groups(),  # request -> IAM checks tables, one per service (any order)
        serialization.patches,  # timestamps in answers parsed without dateutil
        moto_dispatch.patches,  # last: caches method lists of the response classes changed above
    ]


def stepfunctions_groups() -> list[Patches]:
    """Step Functions' groups, in their order (imports moto's executing parser)."""
    from localaws.services.stepfunctions import (
        backend,
        execution,
        faults,
        field_paths,
        history_limit,
        json_paths,
        program_cache,
        state_data,
        sync_executions,
        task_threads,
        tasks,
    )

    return [
        backend.patches,  # before CloudFormation: stacks create state machines in its backend
        tasks.patches,
        execution.patches,
        json_paths.patches,  # Jayway's JSONPath (regex filters, projections)
        field_paths.patches,  # "RoleArn.$" in Parameters is a path like any "<name>.$"
        program_cache.patches,  # after field_paths: a definition is parsed once, not per run
        history_limit.patches,  # 25,000 events per execution (test-only: lower by env)
        faults.patches,  # test-only: LOCALAWS_FAULT_KILL_AT_STATE
        state_data.patches,  # JSON copies of state data, one serialisation per input
        task_threads.patches,  # a task without a timeout runs in its execution's thread
        sync_executions.patches,  # StartSyncExecution (moto has no handler)
    ]


def cloudformation_groups() -> list[Patches]:
    """CloudFormation's groups, in their order (imports moto.cloudformation)."""
    from localaws.services.cloudformation import (
        change_sets,
        delays,
        operations,
        parsing,
        reads,
        resource_types,
        stacks,
    )

    return [
        resource_types.patches,  # after stepfunctions.backend: stacks' state machines run
        parsing.patches,
        stacks.patches,
        operations.patches,  # after stacks: a retried CreateStack answers its stack
        change_sets.patches,  # after stacks: executes through their create/rollback paths
        reads.patches,  # after stacks: reads during an operation create nothing
        delays.patches,  # test-only: LOCALAWS_FAULT_CFN_RESOURCE_DELAY
    ]


def all_groups() -> list[Patches]:
    """Every group in the order a start applies them (imports all)."""
    return boot_groups() + groups()


def apply() -> None:
    """Apply every group as a server start does (see the module docstring)."""
    apply_all(boot_groups(), then=groups)


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
