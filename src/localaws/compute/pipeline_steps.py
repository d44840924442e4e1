"""One pipeline step at a time: what each step type does, against this server's own API.

`StepExecutor.execute` runs one step of an execution: a Processing or Training step creates
the job through this server's SageMaker API (with the admin's keys, as the SageMaker service
acts for the pipeline; the job itself runs under its RoleArn) and waits for it; RegisterModel
and Model create a model package / model; Condition evaluates its conditions; Fail fails.
CacheConfig reuses a completed job of an earlier execution. Property files are read with the
pipeline's role. Scheduling the steps of an execution is `pipelines`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from localaws.compute import jobs, s3io
from localaws.compute.pipeline_definition import (
    Expressions,
    StepError,
    duration,
    parse,
    stringify,
)
from localaws.core import hooks


def now() -> Any:
    from moto.core.utils import utcnow

    return utcnow()


class StepExecutor(Expressions):
    """Runs the steps of one execution (moto's FakePipelineExecution) one call at a time."""

    def __init__(self, backend, pipeline, execution, stopping: threading.Event) -> None:
        super().__init__(parse(execution.pipeline_definition_for_execution))
        self.backend, self.pipeline, self.execution = backend, pipeline, execution
        self.stopping = stopping
        self.region = backend.region_name
        self.exec_id = execution.arn.rsplit("/", 1)[-1]
        self._sm = None

    # -- helpers ---------------------------------------------------------
    @property
    def sm(self):
        if self._sm is None:
            from localaws.core.credentials import admin_credentials

            self._sm = s3io.client("sagemaker", admin_credentials(), self.region)
        return self._sm

    def _s3(self):
        from localaws.core.credentials import admin_credentials, role_credentials

        role = self.pipeline.role_arn
        try:
            creds = role_credentials(role, "SageMaker") if role else admin_credentials()
        except ValueError as exc:
            raise StepError(f"ClientError: cannot assume the pipeline role: {exc}") from None
        return s3io.client("s3", creds, self.region)

    def records(self) -> dict[str, dict]:
        return self.execution.localaws_steps

    # -- what expressions read (see `Expressions`) ------------------------
    def parameter_values(self) -> dict[str, Any]:
        return self.execution.localaws_parameters

    def execution_variables(self) -> dict[str, Any]:
        return {
            "PipelineExecutionId": self.exec_id,
            "PipelineExecutionArn": self.execution.arn,
            "PipelineName": self.pipeline.pipeline_name,
            "PipelineArn": self.pipeline.arn,
            "StartDateTime": self.execution.start_time.isoformat(),
            "CurrentDateTime": now().isoformat(),
        }

    def step_record(self, name: str) -> dict | None:
        return self.records().get(name)

    def read_object(self, bucket: str, key: str) -> bytes:
        return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()

    def changed(self, durable: bool = True) -> None:
        """Note a change; `durable` ones are saved now (the backend is saved whole, so the
        transient ones - a step starting - ride along with the next save)."""
        self.execution.last_modified_time = now()
        if durable:
            hooks.changed("sagemaker", self.execution)

    # -- step types ------------------------------------------------------
    def execute(self, step: dict, record: dict) -> str:
        """Run `step` (its `record` collects Metadata and properties); its StepStatus."""
        kind = step["Type"]
        if kind == "Condition":
            outcome = all(self.condition(c) for c in step["Arguments"].get("Conditions", []))
            record["Metadata"] = {"Condition": {"Outcome": str(outcome)}}
            record["_properties"] = {"Outcome": str(outcome)}
            return "Succeeded"
        if kind == "Fail":
            message = str(self.resolve(step.get("Arguments", {}).get("ErrorMessage", "")))
            record["Metadata"] = {"Fail": {"ErrorMessage": message}}
            raise StepError(message)
        args = self.resolve(step.get("Arguments", {}))
        cache = step.get("CacheConfig") or {}
        key = None
        if cache.get("Enabled") and kind in ("Processing", "Training"):
            key = hashlib.sha256(
                json.dumps([step["Name"], kind, args], sort_keys=True, default=str).encode()
            ).hexdigest()
            if self._cache_hit(key, cache, kind, record):
                return "Succeeded"
        if kind == "Processing":
            status = self._job(step, record, args, "processing")
        elif kind == "Training":
            status = self._job(step, record, args, "training")
        elif kind == "RegisterModel":
            args.pop("ModelPackageName", None)
            if args.get("SkipModelValidation") in (None, "None"):
                args.pop("SkipModelValidation", None)
            arn = self._call("create_model_package", **args)["ModelPackageArn"]
            record["Metadata"] = {"RegisterModel": {"Arn": arn}}
            record["_properties"] = self._call("describe_model_package", ModelPackageName=arn)
            status = "Succeeded"
        elif kind == "Model":
            args.setdefault("ModelName", self._name(step["Name"]))
            arn = self._call("create_model", **args)["ModelArn"]
            record["Metadata"] = {"Model": {"Arn": arn}}
            record["_properties"] = self._call("describe_model", ModelName=args["ModelName"])
            status = "Succeeded"
        else:
            raise StepError(f"Step type '{kind}' is not supported by localaws")
        if key and status == "Succeeded":
            cache_store = getattr(self.pipeline, "localaws_step_cache", None)
            if cache_store is None:
                cache_store = self.pipeline.localaws_step_cache = {}
            cache_store[key] = {
                "metadata": record["Metadata"],
                "execution": self.execution.arn,
                "time": time.time(),
            }
        return status

    def _cache_hit(self, key: str, cache: dict, kind: str, record: dict) -> bool:
        hit = (getattr(self.pipeline, "localaws_step_cache", None) or {}).get(key)
        if not hit:
            return False
        expire = duration(cache.get("ExpireAfter"))
        if expire and time.time() - hit["time"] > expire.total_seconds():
            return False
        meta_key = "ProcessingJob" if kind == "Processing" else "TrainingJob"
        arn = hit["metadata"][meta_key]["Arn"]
        name = arn.rsplit("/", 1)[-1]
        try:
            props = (
                self._call("describe_processing_job", ProcessingJobName=name)
                if kind == "Processing"
                else self._call("describe_training_job", TrainingJobName=name)
            )
        except StepError:
            return False
        if props.get("ProcessingJobStatus", props.get("TrainingJobStatus")) != "Completed":
            return False
        record["Metadata"] = hit["metadata"]
        record["CacheHitResult"] = {"SourcePipelineExecutionArn": hit["execution"]}
        record["_properties"] = props
        return True

    def _name(self, step_name: str) -> str:
        prefix = f"pipelines-{self.exec_id}-"
        suffix = "-" + "".join(random.choices(string.ascii_letters + string.digits, k=10))
        middle = re.sub(r"[^A-Za-z0-9-]", "-", step_name).strip("-")[
            : 63 - len(prefix) - len(suffix)
        ]
        return f"{prefix}{middle}{suffix}"

    def _call(self, operation: str, **kwargs) -> dict:
        try:
            response = getattr(self.sm, operation)(**kwargs)
        except ClientError as exc:
            err = exc.response.get("Error", {})
            code = err.get("Code", "")
            retry_type = (
                "Step.THROTTLING"
                if "Throttl" in code
                else "Step.SERVICE_FAULT"
                if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 400) >= 500
                else None
            )
            raise StepError(f"ClientError: {code}: {err.get('Message', '')}", retry_type) from None
        except (BotoCoreError, TypeError) as exc:
            raise StepError(f"ValidationException: invalid {operation} arguments: {exc}") from None
        response.pop("ResponseMetadata", None)
        return response

    def _job(self, step: dict, record: dict, args: dict, kind: str) -> str:
        name = self._name(step["Name"])
        if kind == "processing":
            args["ProcessingJobName"] = name
            stringify(args.get("Environment"))
            arn = self._call("create_processing_job", **args)["ProcessingJobArn"]
            record["Metadata"] = {"ProcessingJob": {"Arn": arn}}
        else:
            args["TrainingJobName"] = name
            stringify(args.get("HyperParameters"))
            stringify(args.get("Environment"))
            arn = self._call("create_training_job", **args)["TrainingJobArn"]
            record["Metadata"] = {"TrainingJob": {"Arn": arn}}
        self.changed(durable=False)
        stop_sent = False
        while not jobs.wait(arn, 0.5):
            if self.stopping.is_set() and not stop_sent:
                stop_sent = True
                record["StepStatus"] = "Stopping"
                self._call(
                    "stop_processing_job" if kind == "processing" else "stop_training_job",
                    **(
                        {"ProcessingJobName": name}
                        if kind == "processing"
                        else {"TrainingJobName": name}
                    ),
                )
        props = (
            self._call("describe_processing_job", ProcessingJobName=name)
            if kind == "processing"
            else self._call("describe_training_job", TrainingJobName=name)
        )
        record["_properties"] = props
        status = props.get("ProcessingJobStatus") or props.get("TrainingJobStatus")
        if status == "Completed":
            return "Succeeded"
        reason = props.get("FailureReason") or f"Job {name} ended {status}"
        if status == "Stopped":
            raise StepError(reason)
        raise StepError(
            reason,
            "SageMaker.JOB_INTERNAL_ERROR"
            if reason.startswith("InternalServerError")
            else "SageMaker.CAPACITY_ERROR"
            if reason.startswith("CapacityError")
            else None,
        )
