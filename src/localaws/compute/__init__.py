"""The localaws compute plane: SageMaker jobs, pipeline executions and endpoints that really run.

- `jobs`: processing and training jobs: launching, state, running one to its end.
- `container`: SageMaker's container contract here (`/opt/ml` mapped into a job directory,
  the base environment, entry points as worker specs).
- `training` / `processing`: each job kind's inputs, config files, what runs, outputs.
- `images`: which container images are supported and what stands in for each.
- `workers` / `runner`: warm worker processes (a forking zygote) that run the job code, and
  what runs inside a job's process; `pathmap` maps a job's /opt/ml into its own directory.
- `xgboost_algorithm`: the built-in XGBoost algorithm mode.
- `pipelines`: executions (start, stop, retry) and the step scheduler;
  `step_cache`: the documented cache key of a step;
  `pipeline_definition`: the definition JSON, its checks, parameters and expressions;
  `pipeline_steps`: what each step type does.
- `endpoints`: hosting endpoints for InvokeEndpoint; `endpoint_models`: what a variant
  serves and loading it; `endpoint_handlers`: the inference handlers.
- `s3io`, `logs`: S3 transfers with the job role's keys, CloudWatch Logs streams.
- `recovery`: what was running when the server died comes back Failed.
"""
