"""The localaws compute plane: SageMaker jobs and pipeline executions that really run.

- `jobs`: processing and training jobs under SageMaker's container contract.
- `images`: which container images are supported and what stands in for each.
- `workers` / `runner`: warm worker processes (a forking zygote) that run the job code, and
  what runs inside a job's process; `pathmap` maps a job's /opt/ml into its own directory.
- `xgboost_algorithm`: the built-in XGBoost algorithm mode.
- `pipelines`: the pipeline definition interpreter.
- `s3io`, `logs`: S3 transfers with the job role's keys, CloudWatch Logs streams.
- `recovery`: what was running when the server died comes back Failed.
(`endpoints*` host models; they belong to the endpoint work.)
"""
