"""The model build pipeline as a workshop attendee reads it: one row per step, from the
pipeline definition JSON (what `DescribePipeline` returns, or `pipeline.definition()`).

Each row says what the step runs (script or algorithm), on which image, what it reads and
writes, and what it decides or registers. Pipeline expressions are shown in words:
`{TenantBucket}` is an execution parameter, `Preprocess.train` an output of an earlier step,
`{ExecutionId}` the execution's id.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from IPython.display import HTML

    from helpers.session import AwsSession

COLUMNS = ["step", "type", "after", "runs", "image", "inputs", "outputs", "decides / registers"]
CONDITION_SYMBOLS = {
    "GreaterThanOrEqualTo": ">=",
    "GreaterThan": ">",
    "LessThanOrEqualTo": "<=",
    "LessThan": "<",
    "Equals": "==",
}
# Inputs that carry the job's own code: shown under "runs", not as data.
CODE_CHANNELS = {"code", "sm_drivers"}
_OUTPUT_REF = re.compile(r"^Steps\.(\w+)\.ProcessingOutputConfig\.Outputs\['([^']+)'\]")
ReadS3 = Callable[[str], bytes]


def flatten_steps(definition: Mapping[str, Any]) -> list[dict]:
    """Every step in execution order, the branches of a condition step right after it."""
    steps: list[dict] = []
    for step in definition["Steps"]:
        steps.append(step)
        args = step.get("Arguments", {})
        for branch in ("IfSteps", "ElseSteps"):
            steps += flatten_steps({"Steps": args.get(branch, [])})
    return steps


def parameter_values(
    definition: Mapping[str, Any], execution: list[dict] | None = None
) -> dict[str, str]:
    """Parameter values: the definition's defaults, overridden by an execution's parameter list
    (`[{"Name": ..., "Value": ...}]`, as `execution_parameters` builds it)."""
    values = {
        p["Name"]: str(p["DefaultValue"])
        for p in definition.get("Parameters", [])
        if "DefaultValue" in p
    }
    values.update({p["Name"]: str(p["Value"]) for p in execution or []})
    return values


def expression(value: Any, values: Mapping[str, str] | None = None, inline: bool = False) -> str:
    """A pipeline expression (or a plain value) in words.

    A parameter standing alone shows its value, `AccuracyThreshold (0.7)`; inside a join it is a
    placeholder, `s3://{TenantBucket}/...`.
    """
    values = values or {}
    if isinstance(value, Mapping):
        if "Get" in value:
            return _reference(value["Get"], values, inline)
        if "Std:Join" in value:
            join = value["Std:Join"]
            return join["On"].join(expression(v, values, inline=True) for v in join["Values"])
        if "Std:JsonGet" in value:
            get = value["Std:JsonGet"]
            _, step, _, report = get["PropertyFile"]["Get"].split(".")
            text = f"{step}.{report}: {get['Path']}"
            return f"{{{text}}}" if inline else text
        return json.dumps(value)
    return str(value)


def _reference(ref: str, values: Mapping[str, str], inline: bool) -> str:
    kind, _, rest = ref.partition(".")
    if kind == "Parameters":
        if inline or rest not in values:
            return f"{{{rest}}}"
        return f"{rest} ({values[rest]})"
    if kind == "Execution":
        return "{" + rest.removeprefix("Pipeline") + "}"
    if match := _OUTPUT_REF.match(ref):
        return f"{match[1]}.{match[2]}"
    if ref.endswith(".ModelArtifacts.S3ModelArtifacts"):
        return f"{rest.split('.')[0]}.model"
    return ref


def _upstream(value: Any) -> set[str]:
    """The steps an expression reads from."""
    if isinstance(value, Mapping):
        found = set()
        if isinstance(value.get("Get"), str) and value["Get"].startswith("Steps."):
            found.add(value["Get"].split(".")[1])
        for item in value.values():
            found |= _upstream(item)
        return found
    if isinstance(value, list):
        return set().union(*(_upstream(v) for v in value)) if value else set()
    return set()


def short_image(uri: str) -> str:
    """`683313688378.dkr.ecr.../sagemaker-xgboost:1.7-1` -> `sagemaker-xgboost:1.7-1`."""
    return uri.rsplit("/", 1)[-1]


def _lines(items: list[str]) -> str:
    return "\n".join(items) or "-"


def _processing(step: dict, values: Mapping[str, str]) -> dict[str, str]:
    args = step["Arguments"]
    app = args["AppSpecification"]
    entry = [e.rsplit("/", 1)[-1] for e in app.get("ContainerEntrypoint", [])]
    inputs = [
        f"{i['InputName']}: {expression(i['S3Input']['S3Uri'], values)}"
        for i in args.get("ProcessingInputs", [])
        if i["InputName"] not in CODE_CHANNELS
    ]
    outputs = [
        f"{o['OutputName']}: {expression(o['S3Output']['S3Uri'], values)}"
        for o in args.get("ProcessingOutputConfig", {}).get("Outputs", [])
    ]
    files = [
        f"report {p['PropertyFileName']} = {p['FilePath']}" for p in step.get("PropertyFiles", [])
    ]
    return {
        "runs": " ".join(entry),
        "image": short_image(app["ImageUri"]),
        "inputs": _lines(inputs),
        "outputs": _lines(outputs),
        "decides / registers": _lines(files),
    }


def _training(step: dict, values: Mapping[str, str], read_s3: ReadS3 | None) -> dict[str, str]:
    args = step["Arguments"]
    image = args["AlgorithmSpecification"]["TrainingImage"]
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in args["InputDataConfig"]
    }
    algorithm = short_image(image).removeprefix("sagemaker-").replace(":", " ")
    runs = f"{algorithm} (built-in algorithm)"
    if "sm_drivers" in channels:
        script = _entry_script(channels["sm_drivers"], read_s3)
        runs = f"{script or 'the code channel'} on {algorithm} (script mode)"
    hyperparameters = [
        f"{k}={expression(v, values)}" for k, v in args.get("HyperParameters", {}).items()
    ]
    return {
        "runs": runs,
        "image": short_image(image),
        "inputs": _lines(
            [f"{n}: {expression(u, values)}" for n, u in channels.items() if n not in CODE_CHANNELS]
        ),
        "outputs": f"model: {expression(args['OutputDataConfig']['S3OutputPath'], values)}",
        "decides / registers": "hyperparameters " + ", ".join(hyperparameters),
    }


def _entry_script(drivers_uri: Any, read_s3: ReadS3 | None) -> str | None:
    """The entry script ModelTrainer recorded in its `sm_drivers/sourcecode.json`, if readable."""
    if read_s3 is None or not isinstance(drivers_uri, str):
        return None
    try:
        source = json.loads(read_s3(drivers_uri.rstrip("/") + "/sourcecode.json"))
    except Exception:  # noqa: BLE001 - the table is informative; the script name is optional
        return None
    return (source or {}).get("entry_script")


def _condition(step: dict, values: Mapping[str, str]) -> dict[str, str]:
    args = step["Arguments"]
    tests = [
        f"{expression(c['LeftValue'], values)} "
        f"{CONDITION_SYMBOLS.get(c['Type'], c['Type'])} {expression(c['RightValue'], values)}"
        for c in args["Conditions"]
    ]
    then = ", ".join(s["Name"] for s in args.get("IfSteps", [])) or "nothing"
    otherwise = ", ".join(s["Name"] for s in args.get("ElseSteps", [])) or "nothing"
    return {
        "runs": "(no job: evaluated by the pipeline)",
        "decides / registers": "\n".join(
            ["if " + " and\n".join(tests), f"then {then}", f"else {otherwise}"]
        ),
    }


def _register(step: dict, values: Mapping[str, str]) -> dict[str, str]:
    args = step["Arguments"]
    container = args["InferenceSpecification"]["Containers"][0]
    program = container.get("Environment", {}).get("SAGEMAKER_PROGRAM")
    statistics = args.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    registers = [
        f"a version in {expression(args['ModelPackageGroupName'], values)}",
        f"status {expression(args.get('ModelApprovalStatus', 'PendingManualApproval'), values)}",
    ]
    if statistics:
        registers.append(f"metrics {expression(statistics['S3Uri'], values)}")
    return {
        "runs": f"(no job: registers the model{f', served by {program}' if program else ''})",
        "image": short_image(container["Image"]),
        "inputs": f"model: {expression(container['ModelDataUrl'], values)}",
        "decides / registers": "\n".join(registers),
    }


def _fail(step: dict, values: Mapping[str, str]) -> dict[str, str]:
    message = expression(step["Arguments"].get("ErrorMessage", ""), values)
    return {"runs": "(no job: stops the execution as Failed)", "decides / registers": message}


def steps_table(
    definition: Mapping[str, Any] | str,
    execution_parameters: list[dict] | None = None,
    read_s3: ReadS3 | None = None,
) -> pd.DataFrame:
    """One row per step (columns: `COLUMNS`), in execution order.

    `execution_parameters` fills in parameter values (default: the definition's defaults);
    `read_s3(uri) -> bytes`, if given, names the training entry script.
    """
    spec: Mapping[str, Any] = json.loads(definition) if isinstance(definition, str) else definition
    values = parameter_values(spec, execution_parameters)
    describe: dict[str, Callable[[dict, Mapping[str, str]], dict[str, str]]] = {
        "Processing": _processing,
        "Training": partial(_training, read_s3=read_s3),
        "Condition": _condition,
        "RegisterModel": _register,
        "Fail": _fail,
    }
    branches = {
        branch["Name"]: step["Name"]
        for step in spec["Steps"]
        for key in ("IfSteps", "ElseSteps")
        for branch in step.get("Arguments", {}).get(key, [])
    }
    rows = []
    for step in flatten_steps(spec):
        kind = step["Type"]
        details = describe[kind](step, values) if kind in describe else {"runs": f"({kind} step)"}
        args = step.get("Arguments", {})
        after = _upstream(args["Conditions"] if kind == "Condition" else args)
        after |= set(step.get("DependsOn", []))
        if step["Name"] in branches:
            after = {branches[step["Name"]]}
        rows.append(
            {
                "step": step["Name"],
                "type": kind,
                "after": ", ".join(sorted(after)) or "-",
                **details,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS).fillna("-")


def styled(table: pd.DataFrame) -> HTML:
    """`table` as HTML for a notebook: multi-line cells kept, left-aligned, no index."""
    from IPython.display import HTML

    style = (
        table.style.set_uuid("steps")  # stable HTML ids: no diff between two runs
        .hide(axis="index")
        .format(escape="html")
        .set_properties(**{"white-space": "pre-wrap", "text-align": "left"})
        .set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
    )
    return HTML(style.to_html())


def described_steps_table(
    session: AwsSession, pipeline_name: str, execution_parameters: list[dict] | None = None
) -> pd.DataFrame:
    """`steps_table` of a pipeline as SageMaker describes it (`DescribePipeline`)."""
    described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline_name)
    s3 = session.client("s3")

    def read_s3(uri: str) -> bytes:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    return steps_table(described["PipelineDefinition"], execution_parameters, read_s3)
