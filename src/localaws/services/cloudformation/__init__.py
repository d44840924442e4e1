"""CloudFormation: what localaws changes in moto's, one `Patches` group per module.

`resource_types` (state machines, IAM roles and policies, model package groups), `parsing`
(unknown or non-updatable resources fail), `stacks` (create/update/delete, rollback,
capabilities), `change_sets`, `reads` (reads during an operation create nothing);
`templates` holds what they read from a template; `delays` (test-only) slows resources.
"""
