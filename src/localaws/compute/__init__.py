"""The localaws compute plane: SageMaker jobs and pipeline executions that really run.

- `jobs`: processing and training jobs under SageMaker's container contract.
- `images`: which container images are supported and what stands in for each.
- `workers`: warm worker processes (a forking zygote) that run the job code.
- `xgboost_algorithm`: the built-in XGBoost algorithm mode.
- `pipelines`: the pipeline definition interpreter.
- `recovery`: what was running when the server died comes back Failed.
"""
