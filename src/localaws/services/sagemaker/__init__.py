"""SageMaker: what localaws changes in moto's SageMaker, one `Patches` group per module.

`registry` (model packages and groups), `listing` (ListModels), `jobs` (processing and
training jobs that run), `pipelines` (executions that run), `endpoints` (endpoints that serve).
"""
