"""SageMaker (and sagemaker-runtime) requests -> IAM checks.

The resource is named by the request's parameters, as the Service Authorization Reference
lists them: `EndpointName` -> `endpoint/<name>`, `EndpointConfigName` -> `endpoint-config/...`,
`ModelName`, `TrainingJobName`, `ProcessingJobName`, `TransformJobName`, `PipelineName`,
`PipelineExecutionArn`, `ModelPackageGroupName`, `ModelPackageName`/`ModelPackageArn`,
`ResourceArn` (tags). Names are lower-cased in ARNs, as SageMaker does. `List*` and `Search`
act on `*` except where a parameter names the resource (ListTags, ListPipelineExecutions,
ListPipelineExecutionSteps). A request passing a role (`RoleArn`, `ExecutionRoleArn`) also
needs `iam:PassRole` on it with `iam:PassedToService = sagemaker.amazonaws.com`.
Condition keys: `aws:ResourceTag/*` (the resource's tags, read when a policy asks),
`aws:RequestTag/*` and `aws:TagKeys` (from `Tags`), `sagemaker:TargetModel` (InvokeEndpoint).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from moto.sagemaker.models import sagemaker_backends

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check

patches = Patches("sagemaker.authorization", after=("iam.enforcement",))

# parameter -> (resource type in the ARN, attribute of moto's backend holding it by name)
_NAMED: dict[str, tuple[str, str]] = {
    "EndpointName": ("endpoint", "endpoints"),
    "EndpointConfigName": ("endpoint-config", "endpoint_configs"),
    "ModelName": ("model", "_models"),
    "TrainingJobName": ("training-job", "training_jobs"),
    "ProcessingJobName": ("processing-job", "processing_jobs"),
    "TransformJobName": ("transform-job", "transform_jobs"),
    "PipelineName": ("pipeline", "pipelines"),
    "ModelPackageGroupName": ("model-package-group", "model_package_groups"),
    "NotebookInstanceName": ("notebook-instance", "notebook_instances"),
    "ExperimentName": ("experiment", "experiments"),
    "TrialName": ("experiment-trial", "trials"),
}
_ARN_PARAMS = ("ResourceArn", "PipelineExecutionArn", "ModelPackageArn")
_LISTS_WITH_RESOURCE = {"ListTags", "ListPipelineExecutions", "ListPipelineExecutionSteps"}
_ROLE_PARAMS = ("RoleArn", "ExecutionRoleArn")


def _tags_of(request: Request, kind: str, name: str) -> Any:
    def tags() -> dict[str, str]:
        backend = sagemaker_backends[request.account][request.region]
        attribute = next((attr for k, attr in _NAMED.values() if k == kind), None)
        found = getattr(backend, attribute, {}).get(name) if attribute else None
        found = found[0] if isinstance(found, list) and found else found
        return {t["Key"]: t["Value"] for t in getattr(found, "tags", None) or []}

    return tags


def _resources(request: Request) -> list[tuple[str, Any]]:
    """(ARN, lazy tags) of every resource the request names."""
    found: list[tuple[str, Any]] = []
    for param in _ARN_PARAMS:
        value = request.param(param)
        if isinstance(value, str) and value.startswith("arn:"):
            found.append((value, None))
    package = request.param("ModelPackageName")
    if isinstance(package, str):
        arn = package if package.startswith("arn:") else None
        found.append((arn or request.arn("sagemaker", f"model-package/{package.lower()}"), None))
    for param, (kind, _) in _NAMED.items():
        value = request.param(param)
        if not isinstance(value, str) or not value:
            continue
        if value.startswith("arn:"):
            found.append((value, None))
        else:
            arn = request.arn("sagemaker", f"{kind}/{value.lower()}")
            found.append((arn, _tags_of(request, kind, value)))
    return found


def _request_tags(request: Request) -> dict[str, Any]:
    tags = request.param("Tags")
    if not isinstance(tags, list) or not tags:
        return {}
    context: dict[str, Any] = {f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in tags}
    context["aws:TagKeys"] = [t["Key"] for t in tags]
    return context


def resolve(request: Request) -> list[Check] | None:
    action = request.action
    if request.response.path.startswith("/endpoints/"):  # the runtime's three operations
        return _invoke(request)
    context = _request_tags(request)
    if (action.startswith("List") and action not in _LISTS_WITH_RESOURCE) or action == "Search":
        resources: list[tuple[str, Any]] = [("*", None)]
    else:
        resources = _resources(request)[:2] or [("*", None)]
    checks = []
    for arn, tags in resources:
        ctx = dict(context)
        if tags is not None:
            ctx["aws:ResourceTag/*"] = tags
        checks.append(Check(f"sagemaker:{action}", arn, ctx))
    for param in _ROLE_PARAMS:
        role = request.param(param)
        if isinstance(role, str) and role:
            passed = {"iam:PassedToService": "sagemaker.amazonaws.com"}
            checks.append(Check("iam:PassRole", role, passed))
    return checks


def _invoke(request: Request) -> list[Check]:
    name = unquote(request.response.path.split("/")[2])
    context: dict[str, Any] = {"aws:ResourceTag/*": _tags_of(request, "endpoint", name)}
    target = request.header("X-Amzn-SageMaker-Target-Model")
    if target:
        context["sagemaker:TargetModel"] = target
    arn = request.arn("sagemaker", f"endpoint/{name.lower()}")
    # InvokeEndpointWithResponseStream is authorized as sagemaker:InvokeEndpoint.
    action = "InvokeEndpointAsync" if request.action == "InvokeEndpointAsync" else "InvokeEndpoint"
    return [Check(f"sagemaker:{action}", arn, context)]


patches.put(RESOLVERS, "sagemaker", resolve)
