"""Pipeline executions: an interpreter of the SageMaker pipeline definition JSON (2020-12-01).

Supported step types: Processing, Training, Condition, RegisterModel, Model (CreateModel) and
Fail; a definition with any other type fails at start with a reason naming it. Supported
expressions: ``{"Get": "Parameters.X" | "Execution.X" | "Steps.S.<property path>"}``,
``Std:Join``, ``Std:JsonGet`` (on a step's PropertyFile, or on an S3Uri), and the condition
types Equals, GreaterThan(OrEqualTo), LessThan(OrEqualTo), In, Not and Or.

Steps start as soon as their dependencies (DependsOn, and every step whose properties they
reference) have succeeded, in parallel threads up to MaxParallelExecutionSteps. Steps in a
condition's IfSteps / ElseSteps run only in the branch that the outcome selects. A failing step
lets running steps finish and starts no new ones; the execution then fails with the step's
reason. RetryPolicies, CacheConfig, StopPipelineExecution and RetryPipelineExecution (re-runs
the failed and stopped steps, keeps succeeded ones) follow AWS.

Jobs, models and model packages are created through this server's own API (with the admin's
keys, as the SageMaker service acts for the pipeline); the jobs themselves run under their
RoleArn. Property files are read with the pipeline's role.

State lives on moto's FakePipelineExecution (``localaws_steps``: plain dicts, picklable);
threads and events live here.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import threading
import time
import traceback
from datetime import datetime, timedelta
from typing import Any

import jmespath
from botocore.exceptions import BotoCoreError, ClientError

from localaws.compute import jobs, s3io
from localaws.core import hooks

SUPPORTED = ("Processing", "Training", "Condition", "RegisterModel", "Model", "Fail")
RUNNING = {"Starting", "Executing", "Stopping"}
DONE = {"Succeeded", "Failed", "Stopped"}
_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_:\-]*)|\[(?:'([^']*)'|\"([^\"]*)\"|(\d+))\]")


class StepError(RuntimeError):
    """A step cannot run or failed; str() is its FailureReason."""

    def __init__(self, message: str, retry_type: str | None = None) -> None:
        super().__init__(message)
        self.retry_type = retry_type


class _Runtime:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None


_runtimes: dict[str, _Runtime] = {}
_runtimes_lock = threading.Lock()


def _now():
    from moto.core.utils import utcnow

    return utcnow()


# --------------------------------------------------------------------------- definition
def parse(definition: Any) -> dict:
    """The definition as a dict; ValueError naming the problem if it is not one we can run."""
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise ValueError(f"PipelineDefinition is not valid JSON: {exc}") from None
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise ValueError("PipelineDefinition must be a JSON object with a 'Steps' list")
    return definition


def flatten(
    steps: list[dict], branch: tuple[str, str] | None = None, out: dict | None = None
) -> dict[str, dict]:
    """name -> {"step": step, "branch": (condition name, "if"|"else") or None}."""
    out = {} if out is None else out
    for step in steps:
        out[step["Name"]] = {"step": step, "branch": branch}
        if step.get("Type") == "Condition":
            args = step.get("Arguments", {})
            flatten(args.get("IfSteps", []), (step["Name"], "if"), out)
            flatten(args.get("ElseSteps", []), (step["Name"], "else"), out)
    return out


def _refs(value: Any, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Get" and isinstance(item, str) and item.startswith("Steps."):
                found.add(item.split(".")[1].split("[")[0])
            elif key not in ("IfSteps", "ElseSteps"):
                _refs(item, found)
    elif isinstance(value, list):
        for item in value:
            _refs(item, found)
    return found


def dependencies(entry: dict) -> set[str]:
    step = entry["step"]
    deps = set(step.get("DependsOn") or []) | _refs(step.get("Arguments", {}), set())
    if entry["branch"]:
        deps.add(entry["branch"][0])
    return deps


def check(definition: dict) -> None:
    """Refuse what cannot run: unknown step types, unknown dependencies, duplicate names."""
    seen: list[str] = []

    def walk(steps):
        for step in steps:
            seen.append(step.get("Name"))
            if step.get("Type") not in SUPPORTED:
                raise ValueError(
                    f"Step '{step.get('Name')}' has type '{step.get('Type')}', which "
                    f"localaws does not support (supported: {', '.join(SUPPORTED)})"
                )
            if step.get("Type") == "Condition":
                walk(step.get("Arguments", {}).get("IfSteps", []))
                walk(step.get("Arguments", {}).get("ElseSteps", []))

    walk(definition["Steps"])
    if len(seen) != len(set(seen)):
        raise ValueError("Step names must be unique in a pipeline definition")
    entries = flatten(definition["Steps"])
    for name, entry in entries.items():
        missing = dependencies(entry) - set(entries)
        if missing:
            raise ValueError(
                f"Step '{name}' depends on unknown step(s): {', '.join(sorted(missing))}"
            )


def parameters(definition: dict, overrides: list[dict] | None) -> dict[str, Any]:
    """Parameter values: defaults, then the execution's PipelineParameters, typed."""
    declared = {p["Name"]: p for p in definition.get("Parameters", [])}
    values: dict[str, Any] = {}
    for name, p in declared.items():
        if "DefaultValue" in p:
            values[name] = p["DefaultValue"]
    for item in overrides or []:
        name = item["Name"]
        if name not in declared:
            raise ValueError(f"Pipeline parameter '{name}' is not declared in the definition")
        values[name] = _typed(item["Value"], declared[name].get("Type", "String"), name)
    missing = [n for n in declared if n not in values]
    if missing:
        raise ValueError(f"Pipeline parameter(s) without a value: {', '.join(missing)}")
    return values


def _typed(value: Any, kind: str, name: str) -> Any:
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
        if kind == "Boolean":
            if str(value).lower() not in ("true", "false"):
                raise ValueError(value)
            return str(value).lower() == "true"
    except ValueError:
        raise ValueError(
            f"Pipeline parameter '{name}' must be of type {kind}, got '{value}'"
        ) from None
    return str(value)


def _duration(text: str | None) -> timedelta | None:
    if not text:
        return None
    match = re.fullmatch(
        r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?",
        text,
    )
    if not match:
        return None
    y, mo, w, d, h, mi, s = (int(g or 0) for g in match.groups())
    return timedelta(days=365 * y + 30 * mo + 7 * w + d, hours=h, minutes=mi, seconds=s)


# --------------------------------------------------------------------------- execution
def start(backend, pipeline, execution, overrides: list[dict] | None) -> None:
    """Begin running a just-created execution; one that cannot run is Failed with the reason."""
    definition = parse(execution.pipeline_definition_for_execution)
    execution.localaws_parameters = parameters(definition, overrides)
    execution.localaws_steps = {}
    execution.pipeline_execution_failure_reason = None
    try:
        check(definition)
    except ValueError as exc:
        execution.pipeline_execution_status = "Failed"
        execution.pipeline_execution_failure_reason = str(exc)
        hooks.changed("sagemaker")
        return
    execution.pipeline_execution_status = "Executing"
    _launch(backend, pipeline, execution)


def retry(backend, pipeline, execution) -> None:
    """Re-run the failed and stopped steps of a finished execution (ValueError if it cannot)."""
    check(parse(execution.pipeline_definition_for_execution))
    for name, record in list(execution.localaws_steps.items()):
        if record["StepStatus"] in ("Failed", "Stopped"):
            execution.localaws_attempts = getattr(execution, "localaws_attempts", {})
            execution.localaws_attempts[name] = record.get("AttemptCount", 1)
            del execution.localaws_steps[name]
    execution.pipeline_execution_status = "Executing"
    execution.pipeline_execution_failure_reason = None
    execution.last_modified_time = _now()
    _launch(backend, pipeline, execution)


def stop(execution) -> None:
    runtime = _runtimes.get(execution.arn)
    execution.pipeline_execution_status = "Stopping"
    execution.last_modified_time = _now()
    if runtime:
        runtime.stop.set()
        runtime.wake.set()


def is_running(execution_arn: str) -> bool:
    return execution_arn in _runtimes


def _launch(backend, pipeline, execution) -> None:
    runtime = _Runtime()
    with _runtimes_lock:
        _runtimes[execution.arn] = runtime
    runtime.thread = threading.Thread(
        target=_Interpreter(backend, pipeline, execution, runtime).run,
        daemon=True,
        name=f"localaws-pipeline-{execution.arn[-12:]}",
    )
    runtime.thread.start()


class _Interpreter:
    def __init__(self, backend, pipeline, execution, runtime: _Runtime) -> None:
        self.backend, self.pipeline, self.execution, self.runtime = (
            backend,
            pipeline,
            execution,
            runtime,
        )
        self.region = backend.region_name
        self.definition = parse(execution.pipeline_definition_for_execution)
        self.entries = flatten(self.definition["Steps"])
        self.exec_id = execution.arn.rsplit("/", 1)[-1]
        self.lock = threading.Lock()
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

    def changed(self, durable: bool = True) -> None:
        """Note a change; `durable` ones are saved now (the backend is saved whole, so the
        transient ones - a step starting - ride along with the next save)."""
        self.execution.last_modified_time = _now()
        if durable:
            hooks.changed("sagemaker")

    # -- main loop -------------------------------------------------------
    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - never leave an execution Executing
            traceback.print_exc()
            self.execution.pipeline_execution_status = "Failed"
            self.execution.pipeline_execution_failure_reason = f"InternalServerError: {exc}"
        finally:
            with _runtimes_lock:
                _runtimes.pop(self.execution.arn, None)
            self.changed()

    def _state_of(self, name: str) -> str:
        """Succeeded/Failed/Stopped/running/skipped/pending for step `name`."""
        record = self.records().get(name)
        if record:
            return "running" if record["StepStatus"] in RUNNING else record["StepStatus"]
        entry = self.entries[name]
        if entry["branch"]:
            cond, side = entry["branch"]
            cond_state = self._state_of(cond)
            if cond_state == "skipped":
                return "skipped"
            if cond_state == "Succeeded":
                outcome = self.records()[cond]["Metadata"]["Condition"]["Outcome"]
                if (outcome == "True") != (side == "if"):
                    return "skipped"
        for dep in dependencies(entry):
            if dep != (entry["branch"] or ("",))[0] and self._state_of(dep) == "skipped":
                return "skipped"
        return "pending"

    def _loop(self) -> None:
        limit = int(
            (self.execution.parallelism_configuration or {}).get("MaxParallelExecutionSteps") or 50
        )
        while True:
            self.runtime.wake.clear()
            with self.lock:
                states = {name: self._state_of(name) for name in self.entries}
                running = [n for n, s in states.items() if s == "running"]
                failed = [n for n, s in states.items() if s == "Failed"]
                ready = []
                if not failed and not self.runtime.stop.is_set():
                    ready = [
                        n
                        for n, s in states.items()
                        if s == "pending"
                        and all(states[d] == "Succeeded" for d in dependencies(self.entries[n]))
                    ]
                ready = ready[: max(0, limit - len(running))]
                for name in ready:
                    self._begin(name)
            for name in ready:
                threading.Thread(
                    target=self._run_step, args=(name,), daemon=True, name=f"localaws-step-{name}"
                ).start()
            if not running and not ready:
                break
            self.runtime.wake.wait(1.0)
        self._conclude()

    def _conclude(self) -> None:
        records = self.records()
        failed = [(n, r) for n, r in records.items() if r["StepStatus"] == "Failed"]
        if failed:
            name, record = failed[0]
            self.execution.pipeline_execution_status = "Failed"
            self.execution.pipeline_execution_failure_reason = (
                f"Step failure: One or multiple steps failed. Step '{name}': "
                f"{record.get('FailureReason') or 'failed'}"
            )[:1024]
        elif self.runtime.stop.is_set():
            self.execution.pipeline_execution_status = "Stopped"
        else:
            self.execution.pipeline_execution_status = "Succeeded"

    def _begin(self, name: str) -> None:
        step = self.entries[name]["step"]
        attempts = getattr(self.execution, "localaws_attempts", {}).get(name, 0)
        record = {
            "StepName": name,
            "StepStatus": "Executing",
            "StartTime": _now(),
            "Metadata": {},
            "AttemptCount": attempts + 1,
        }
        for key in ("DisplayName", "Description"):
            if step.get(key):
                record[f"Step{key}"] = step[key]
        self.records()[name] = record
        self.changed(durable=False)

    def _run_step(self, name: str) -> None:
        step = self.entries[name]["step"]
        record = self.records()[name]
        policies = step.get("RetryPolicies") or []
        attempt, started = 0, time.monotonic()
        while True:
            try:
                status, reason = self._execute(step, record), None
            except StepError as exc:
                status, reason = ("Stopped" if self.runtime.stop.is_set() else "Failed"), str(exc)
                delay = _retry_delay(policies, exc.retry_type, attempt, time.monotonic() - started)
                if status == "Failed" and delay is not None and not self.runtime.stop.is_set():
                    attempt += 1
                    record["AttemptCount"] = record.get("AttemptCount", 1) + 1
                    record["Metadata"] = {}
                    self.changed()
                    if not self.runtime.stop.wait(delay):
                        continue
                    status = "Stopped"
            except Exception as exc:  # noqa: BLE001
                traceback.print_exc()
                status, reason = "Failed", f"InternalServerError: {type(exc).__name__}: {exc}"
            break
        with self.lock:
            record["StepStatus"] = status
            record["EndTime"] = _now()
            if reason and status == "Failed":
                record["FailureReason"] = reason[:1024]
            self.changed()
        self.runtime.wake.set()

    # -- step types ------------------------------------------------------
    def _execute(self, step: dict, record: dict) -> str:
        kind = step["Type"]
        if kind == "Condition":
            outcome = all(self._condition(c) for c in step["Arguments"].get("Conditions", []))
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
        expire = _duration(cache.get("ExpireAfter"))
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
            _stringify(args.get("Environment"))
            arn = self._call("create_processing_job", **args)["ProcessingJobArn"]
            record["Metadata"] = {"ProcessingJob": {"Arn": arn}}
        else:
            args["TrainingJobName"] = name
            _stringify(args.get("HyperParameters"))
            _stringify(args.get("Environment"))
            arn = self._call("create_training_job", **args)["TrainingJobArn"]
            record["Metadata"] = {"TrainingJob": {"Arn": arn}}
        self.changed(durable=False)
        stop_sent = False
        while not jobs.wait(arn, 0.5):
            if self.runtime.stop.is_set() and not stop_sent:
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

    # -- expressions -----------------------------------------------------
    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and "Get" in value:
                return self.lookup(value["Get"])
            if len(value) == 1 and "Std:Join" in value:
                spec = value["Std:Join"]
                return str(spec.get("On", "")).join(
                    _text(self.resolve(v)) for v in spec.get("Values", [])
                )
            if len(value) == 1 and "Std:JsonGet" in value:
                return self.json_get(value["Std:JsonGet"])
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def lookup(self, path: str) -> Any:
        head, _, rest = path.partition(".")
        if head == "Parameters":
            values = self.execution.localaws_parameters
            if rest not in values:
                raise StepError(f"ValidationException: unknown pipeline parameter '{rest}'")
            return values[rest]
        if head == "Execution":
            execution = {
                "PipelineExecutionId": self.exec_id,
                "PipelineExecutionArn": self.execution.arn,
                "PipelineName": self.pipeline.pipeline_name,
                "PipelineArn": self.pipeline.arn,
                "StartDateTime": self.execution.start_time.isoformat(),
                "CurrentDateTime": _now().isoformat(),
            }
            if rest not in execution:
                raise StepError(f"ValidationException: unknown execution variable '{rest}'")
            return execution[rest]
        if head == "Steps":
            step_name, _, prop = rest.partition(".")
            record = self.records().get(step_name)
            if not record or record["StepStatus"] != "Succeeded":
                raise StepError(
                    f"ValidationException: property {path}: step '{step_name}' has not succeeded"
                )
            return _navigate(record.get("_properties", {}), prop, path)
        raise StepError(f"ValidationException: cannot resolve reference '{path}'")

    def json_get(self, spec: dict) -> Any:
        if "PropertyFile" in spec:
            ref = spec["PropertyFile"]
            ref = ref.get("Get") if isinstance(ref, dict) else ref
            parts = ref.split(".")
            if len(parts) != 4 or parts[0] != "Steps" or parts[2] != "PropertyFiles":
                raise StepError(f"ValidationException: bad property file reference '{ref}'")
            step_name, file_name = parts[1], parts[3]
            step = self.entries[step_name]["step"]
            pf = next(
                (p for p in step.get("PropertyFiles", []) if p["PropertyFileName"] == file_name),
                None,
            )
            if pf is None:
                raise StepError(
                    f"ValidationException: step '{step_name}' has no property file '{file_name}'"
                )
            outputs = self.lookup(f"Steps.{step_name}.ProcessingOutputConfig.Outputs")
            output = next((o for o in outputs if o.get("OutputName") == pf["OutputName"]), None)
            if output is None:
                raise StepError(
                    f"ValidationException: step '{step_name}' has no output '{pf['OutputName']}'"
                )
            uri = f"{output['S3Output']['S3Uri'].rstrip('/')}/{pf['FilePath']}"
        else:
            uri = self.resolve(spec.get("S3Uri"))
        bucket, key = s3io.split(uri)
        try:
            body = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            document = json.loads(body)
        except ClientError as exc:
            raise StepError(
                f"ClientError: reading property file {uri}: "
                f"{exc.response.get('Error', {}).get('Code')}"
            ) from None
        except ValueError as exc:
            raise StepError(
                f"ValidationException: property file {uri} is not JSON: {exc}"
            ) from None
        result = jmespath.search(_jmespath(spec["Path"]), document)
        if result is None:
            raise StepError(
                f"ValidationException: JsonGet path '{spec['Path']}' not found in {uri}"
            )
        return result

    def _condition(self, cond: dict) -> bool:
        kind = cond.get("Type")
        if kind == "Not":
            return not self._condition(cond["Expression"])
        if kind == "Or":
            return any(self._condition(c) for c in cond["Conditions"])
        if kind == "In":
            query = self.resolve(cond["QueryValue"])
            return any(_compare(query, self.resolve(v), "Equals") for v in cond["Values"])
        if kind in (
            "Equals",
            "GreaterThan",
            "GreaterThanOrEqualTo",
            "LessThan",
            "LessThanOrEqualTo",
        ):
            return _compare(self.resolve(cond["LeftValue"]), self.resolve(cond["RightValue"]), kind)
        raise StepError(f"ValidationException: condition type '{kind}' is not supported")


def _stringify(mapping: dict | None) -> None:
    for key, value in (mapping or {}).items():
        if not isinstance(value, str):
            mapping[key] = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _compare(left: Any, right: Any, kind: str) -> bool:
    def num(v):
        if isinstance(v, bool):
            return v
        try:
            return float(v)
        except (TypeError, ValueError):
            return v

    if isinstance(left, (int, float)) or isinstance(right, (int, float)):
        left, right = num(left), num(right)
    try:
        return {
            "Equals": left == right,
            "GreaterThan": left > right,
            "GreaterThanOrEqualTo": left >= right,
            "LessThan": left < right,
            "LessThanOrEqualTo": left <= right,
        }[kind]
    except TypeError:
        raise StepError(
            f"ValidationException: cannot compare {left!r} and {right!r} ({kind})"
        ) from None


def _navigate(value: Any, prop: str, path: str) -> Any:
    if prop.startswith("Properties."):
        prop = prop[len("Properties.") :]
    for match in _TOKEN.finditer(prop):
        name, sq, dq, index = match.groups()
        if name is not None:
            if not isinstance(value, dict) or name not in value:
                raise StepError(f"ValidationException: property {path} not found")
            value = value[name]
        elif index is not None:
            if not isinstance(value, list) or int(index) >= len(value):
                raise StepError(f"ValidationException: property {path} not found")
            value = value[int(index)]
        else:
            wanted = sq if sq is not None else dq
            if isinstance(value, dict) and wanted in value:
                value = value[wanted]
                continue
            hit = (
                next(
                    (
                        item
                        for item in value
                        if isinstance(item, dict)
                        and any(k.endswith("Name") and v == wanted for k, v in item.items())
                    ),
                    None,
                )
                if isinstance(value, list)
                else None
            )
            if hit is None:
                raise StepError(f"ValidationException: property {path} not found")
            value = hit
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _jmespath(path: str) -> str:
    """The JsonGet path as JMESPath: drop a leading `$.`, turn `['key']` into `."key"`."""
    path = path[2:] if path.startswith("$.") else path
    return re.sub(r"\[['\"]([^'\"]+)['\"]\]", lambda m: f'."{m.group(1)}"', path)


def _retry_delay(
    policies: list[dict], retry_type: str | None, attempt: int, elapsed: float
) -> float | None:
    if not retry_type:
        return None
    for policy in policies:
        if retry_type in policy.get("ExceptionType", []):
            max_attempts = policy.get("MaxAttempts")
            if max_attempts is not None and attempt >= int(max_attempts):
                return None
            expire = policy.get("ExpireAfterMin")
            if expire is not None and elapsed > 60 * float(expire):
                return None
            return (
                float(policy.get("IntervalSeconds", 1))
                * float(policy.get("BackoffRate", 2.0)) ** attempt
            )
    return None


# --------------------------------------------------------------------------- API views
def step_summaries(execution, sort_order: str = "Descending") -> list[dict]:
    records = list((getattr(execution, "localaws_steps", None) or {}).values())
    records.sort(key=lambda r: r["StartTime"], reverse=sort_order != "Ascending")
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in records]
