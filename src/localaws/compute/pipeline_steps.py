"""One pipeline step at a time: what each step type does, against this server's own API.

`StepExecutor.execute` runs one step: a Processing, Training or Transform step creates
the job through this server's SageMaker API (with the admin's keys, as the SageMaker service
acts for the pipeline; the job itself runs under its RoleArn) and waits for it; RegisterModel
(creating a missing model package group first) and Model create a model package / model;
Condition evaluates its conditions; Fail fails. CacheConfig reuses a completed job of an
earlier execution with the same key (`step_cache`). Property files are read with the
pipeline's role. Scheduling the steps of an execution is `pipelines`.
"""

from __future__ import annotations

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
from localaws.compute.step_cache import cache_key
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
        return s3io.read(self._s3(), bucket, key)

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
        key = cache_key(step["Name"], kind, args) if cache.get("Enabled") else None
        if key and self._cache_hit(key, cache, kind, record):
            return "Succeeded"
        if kind == "Processing":
            status = self._job(step, record, args, "processing")
        elif kind == "Training":
            status = self._job(step, record, args, "training")
        elif kind == "Transform":
            status = self._job(step, record, args, "transform")
        elif kind == "RegisterModel":
            args.pop("ModelPackageName", None)
            if args.get("SkipModelValidation") in (None, "None"):
                args.pop("SkipModelValidation", None)
            self._ensure_group(args.get("ModelPackageGroupName"))
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
        job_kind = kind.lower()
        job, _ = _JOB_KINDS[job_kind]
        name = hit["metadata"][job]["Arn"].rsplit("/", 1)[-1]
        try:
            props = self._call(f"describe_{job_kind}_job", **{f"{job}Name": name})
        except StepError:
            return False
        if props.get(f"{job}Status") != "Completed":
            return False
        record["Metadata"] = hit["metadata"]
        record["CacheHitResult"] = {"SourcePipelineExecutionArn": hit["execution"]}
        record["_properties"] = props
        return True

    def _ensure_group(self, group: str | None) -> None:
        """A RegisterModel step creates its model package group when there is none, as on AWS.

        Outside pipelines the SDK does it itself (`Session.create_model_package_from_containers`
        creates a group named by a plain string before CreateModelPackage); under a
        PipelineSession that request is only recorded, so in a pipeline it is the step that
        does it: the public abalone example pipeline registers into a group it never creates
        ("AbaloneRegisterModel ... register the model as a versioned model package group",
        https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-overview.html).
        """
        if not group or group.startswith("arn:"):
            return
        try:
            self.sm.describe_model_package_group(ModelPackageGroupName=group)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("ValidationException",):
                raise StepError(f"ClientError: {exc}") from None
        try:
            self.sm.create_model_package_group(ModelPackageGroupName=group)
        except ClientError as exc:
            if "already exists" not in str(exc):  # another step of the run created it first
                raise StepError(f"ClientError: {exc}") from None

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
        job, stringified = _JOB_KINDS[kind]
        name = self._name(step["Name"])
        args[f"{job}Name"] = name
        for field in stringified:
            stringify(args.get(field))
        arn = self._call(f"create_{kind}_job", **args)[f"{job}Arn"]
        record["Metadata"] = {job: {"Arn": arn}}
        self.changed(durable=False)
        stop_sent = False
        while not jobs.wait(arn, 0.5):
            if self.stopping.is_set() and not stop_sent:
                stop_sent = True
                record["StepStatus"] = "Stopping"
                self._call(f"stop_{kind}_job", **{f"{job}Name": name})
        props = self._call(f"describe_{kind}_job", **{f"{job}Name": name})
        record["_properties"] = props
        status = props.get(f"{job}Status")
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


# job kind -> (the API's name for it, request fields whose values must be strings); a Transform
# step's arguments are a CreateTransformJob request, its job runs under its model's role
_JOB_KINDS = {
    "processing": ("ProcessingJob", ("Environment",)),
    "training": ("TrainingJob", ("HyperParameters", "Environment")),
    "transform": ("TransformJob", ("Environment",)),
}
