"""Processing jobs: S3 inputs to their LocalPaths, the config files, the entry point, outputs.

`job_spec` downloads each S3Input, writes `config/{processingjobconfig,resourceconfig}.json`
and turns ContainerEntrypoint + ContainerArguments into a worker spec; `upload` copies each
S3Output's LocalPath to its S3Uri.
"""

from __future__ import annotations

import json
import os
from typing import Any

from localaws.compute import container, images, s3io
from localaws.compute.container import JobError


def job_spec(job: Any, base: str, s3: Any, credentials: dict, region: str) -> tuple[dict, list]:
    """The worker spec of processing `job` (no metrics), its inputs staged in `base`."""
    app = job.app_specification or {}
    images.resolve(app.get("ImageUri", ""))
    cluster = (getattr(job, "processing_resources", None) or {}).get("ClusterConfig", {})
    container.one_instance(cluster.get("InstanceCount", 1))
    for item in job.processing_inputs or []:
        source = item.get("S3Input")
        if not source:
            raise JobError(
                f"ClientError: processing input '{item.get('InputName')}': only S3Input "
                "is supported by localaws (no DatasetDefinition)"
            )
        if source.get("S3InputMode", "File") != "File":
            raise JobError(
                f"ClientError: processing input '{item.get('InputName')}': S3InputMode "
                f"'{source.get('S3InputMode')}' is not supported by localaws (File only)"
            )
        s3io.download(
            s3,
            source["S3Uri"],
            container.local_path(source["LocalPath"], base),
            source.get("S3DataType"),
        )
    for output in (job.processing_output_config or {}).get("Outputs", []):
        if "S3Output" in output:
            os.makedirs(container.local_path(output["S3Output"]["LocalPath"], base), exist_ok=True)
    config = os.path.join(base, "config")
    request = {
        "ProcessingJobArn": job.arn,
        "ProcessingJobName": job.processing_job_name,
        "AppSpecification": app,
        "ProcessingInputs": job.processing_inputs or [],
        "ProcessingOutputConfig": job.processing_output_config or {},
        "RoleArn": job.role_arn,
    }
    with open(os.path.join(config, "processingjobconfig.json"), "w") as fh:
        json.dump(request, fh, default=str)
    with open(os.path.join(config, "resourceconfig.json"), "w") as fh:
        json.dump({"current_host": "algo-1", "hosts": ["algo-1"]}, fh)
    entry = app.get("ContainerEntrypoint")
    if not entry:
        raise JobError(
            "ClientError: AppSpecification.ContainerEntrypoint is required by localaws "
            "(the image's default entry point does not exist locally)"
        )
    extra = {
        **(getattr(job, "environment", None) or {}),
        "PROCESSING_JOB_NAME": job.processing_job_name,
    }
    env = container.base_env(job, credentials, region, container.rewrite(extra, base))
    spec = container.command_spec(
        container.rewrite(list(entry), base),
        container.rewrite(list(app.get("ContainerArguments") or []), base),
    )
    spec.update(cwd=base, env=env, failure_file=os.path.join(base, "output", "message"))
    return spec, []


def upload(job: Any, base: str, s3: Any) -> None:
    """Upload every S3Output's LocalPath to its S3Uri."""
    for output in (job.processing_output_config or {}).get("Outputs", []):
        target = output.get("S3Output")
        if target:
            s3io.upload_dir(s3, container.local_path(target["LocalPath"], base), target["S3Uri"])
