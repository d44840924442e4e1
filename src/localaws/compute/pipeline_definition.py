"""The SageMaker pipeline definition JSON (2020-12-01): parsing, checks, parameters, expressions.

Supported step types: Processing, Training, Transform, Condition, RegisterModel, Model
(CreateModel) and Fail; `check` refuses a definition with any other type, naming it.
Supported expressions (`Expressions`):
``{"Get": "Parameters.X" | "Execution.X" | "Steps.S.<property path>"}``, ``Std:Join``,
``Std:JsonGet`` (on a step's PropertyFile, or on an S3Uri), and the condition types Equals,
GreaterThan(OrEqualTo), LessThan(OrEqualTo), In, Not and Or. Running an execution is
`pipelines`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import jmespath
from botocore.exceptions import ClientError

from localaws.compute import s3io

SUPPORTED = ("Processing", "Training", "Transform", "Condition", "RegisterModel", "Model", "Fail")


RUNNING = {"Starting", "Executing", "Stopping"}


DONE = {"Succeeded", "Failed", "Stopped"}


_TOKEN = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_:\-]*)|\[(?:'([^']*)'|\"([^\"]*)\"|(\d+))\]")


class StepError(RuntimeError):
    """A step cannot run or failed; str() is its FailureReason."""

    def __init__(self, message: str, retry_type: str | None = None) -> None:
        super().__init__(message)
        self.retry_type = retry_type


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
    """Steps that must succeed before `entry` (a `flatten` value) may start."""
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


def duration(text: str | None) -> timedelta | None:
    """An ISO 8601 duration (CacheConfig.ExpireAfter), None if absent or unreadable."""
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


class Expressions:
    """Evaluates a definition's expressions; the execution supplies the values they read."""

    def __init__(self, definition: dict) -> None:
        self.definition = definition
        self.entries = flatten(definition["Steps"])

    # -- what the running execution supplies ------------------------------
    def parameter_values(self) -> dict[str, Any]:
        """The execution's typed parameter values (`parameters`)."""
        raise NotImplementedError

    def execution_variables(self) -> dict[str, Any]:
        """`Execution.X` values: PipelineExecutionId, PipelineExecutionArn, ..."""
        raise NotImplementedError

    def step_record(self, name: str) -> dict | None:
        """Step `name`'s record (its `_properties` are what `Steps.S.<path>` reads)."""
        raise NotImplementedError

    def read_object(self, bucket: str, key: str) -> bytes:
        """An S3 object's body (for JsonGet); botocore's ClientError if unreadable."""
        raise NotImplementedError

    # -- evaluation --------------------------------------------------------
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
            values = self.parameter_values()
            if rest not in values:
                raise StepError(f"ValidationException: unknown pipeline parameter '{rest}'")
            return values[rest]
        if head == "Execution":
            execution = self.execution_variables()
            if rest not in execution:
                raise StepError(f"ValidationException: unknown execution variable '{rest}'")
            return execution[rest]
        if head == "Steps":
            step_name, _, prop = rest.partition(".")
            record = self.step_record(step_name)
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
            body = self.read_object(bucket, key)
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

    def condition(self, cond: dict) -> bool:
        kind = cond.get("Type")
        if kind == "Not":
            return not self.condition(cond["Expression"])
        if kind == "Or":
            return any(self.condition(c) for c in cond["Conditions"])
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


def stringify(mapping: dict | None) -> None:
    """Make every value of `mapping` a string, as CreateXJob wants Environment/HyperParameters."""
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
