"""Step Functions: executions run, their tasks call this server as the execution role.

`backend` (one backend, role checks, history paging), `tasks` (task calls and error names),
`execution` (status, persistence, pickling); `clients` and `sagemaker_tasks` are their helpers.
"""
