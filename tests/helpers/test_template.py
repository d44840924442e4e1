"""The stack template lints clean and the state machine definitions are valid ASL.

Besides structure (targets exist, every state reachable, a way to end), each service task's
parameters are checked against botocore's model of that API, so casing mistakes that real
Step Functions would only report at run time are caught here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
import yaml

from helpers.stack import CLOUDFORMATION_DIR, TEMPLATE, render_template

ASL_FILES = sorted((CLOUDFORMATION_DIR / "statemachines").glob("*.asl.json"))
TERMINAL = {"Succeed", "Fail"}
# Step Functions service names that differ from botocore's.
SDK_SERVICES = {
    "sfn": "stepfunctions",
    "states": "stepfunctions",
    "sagemakerruntime": "sagemaker-runtime",
}
OPTIMIZED = {"dynamodb": "dynamodb", "states": "stepfunctions"}


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def _cfn_lint(path: Path) -> subprocess.CompletedProcess:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    return subprocess.run([str(cfn_lint), str(path)], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cfn_lint_source_template():
    result = _cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_cfn_lint_rendered_template(tmp_path):
    rendered = tmp_path / "stack.yaml"
    rendered.write_text(render_template())
    result = _cfn_lint(rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_contract():
    template = _template()
    params = template["Parameters"]
    assert params["TableName"]["Default"] == "allTenants"
    assert params["ResourcePrefix"]["Default"] == "mt"
    resources = template["Resources"]
    names = {
        r["Properties"].get("StateMachineName")
        for r in resources.values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    kinds = ("create", "deploy", "delete")
    assert names == {f"sm-multitenant-{k}-tenant-statemachine" for k in kinds}
    table = resources["TenantTable"]["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "tenant-name", "KeyType": "HASH"}]
    outputs = set(template["Outputs"])
    assert {
        "TenantTableName",
        "PipelineRoleArn",
        "StateMachineRoleArn",
        "CreateTenantStateMachineArn",
        "DeployTenantStateMachineArn",
        "DeleteTenantStateMachineArn",
    } <= outputs


def test_least_privilege_roles():
    text = TEMPLATE.read_text()
    assert "FullAccess" not in text
    for resource in _template()["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = [actions] if isinstance(actions, str) else actions
                assert not any(a == "*" or a.endswith(":*") for a in actions), statement
                if statement.get("Resource") == "*":
                    # Only listings (and calls with no resource-level permissions) may be global.
                    assert all(a.split(":")[1].startswith("List") for a in actions), statement


def test_substitutions_cover_every_placeholder():
    template = _template()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        props = resource["Properties"]
        text = (CLOUDFORMATION_DIR / props["DefinitionS3Location"]).read_text()
        used = set(re.findall(r"\$\{(\w+)\}", text))
        assert used <= set(props["DefinitionSubstitutions"]), used - set(
            props["DefinitionSubstitutions"]
        )


def _walk(states: dict, start: str, path: str):
    """Check one (sub-)machine; yield every Task state with its path."""
    assert start in states, f"{path}: StartAt {start!r} is not a state"
    edges: dict[str, set[str]] = {}
    for name, state in states.items():
        kind = state["Type"]
        targets = set()
        if "Next" in state:
            targets.add(state["Next"])
        if kind == "Choice":
            targets |= {c["Next"] for c in state["Choices"]}
            if "Default" in state:
                targets.add(state["Default"])
            assert "Next" not in state and "End" not in state
        for catch in state.get("Catch", []):
            targets.add(catch["Next"])
        missing = targets - set(states)
        assert not missing, f"{path}.{name}: unknown target(s) {missing}"
        if kind not in TERMINAL | {"Choice"}:
            assert ("Next" in state) != bool(state.get("End")), f"{path}.{name}: Next xor End"
        edges[name] = targets
        if kind == "Map":
            processor = state.get("ItemProcessor") or state["Iterator"]
            yield from _walk(processor["States"], processor["StartAt"], f"{path}.{name}")
        if kind == "Parallel":
            for i, branch in enumerate(state["Branches"]):
                yield from _walk(branch["States"], branch["StartAt"], f"{path}.{name}[{i}]")
        if kind == "Task":
            yield f"{path}.{name}", state
    reached, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo += edges[name]
    assert reached == set(states), f"{path}: unreachable {set(states) - reached}"
    ends = [n for n in reached if states[n]["Type"] in TERMINAL or states[n].get("End")]
    assert ends, f"{path}: no terminal state"


def _check_parameters(where: str, shape, params: dict) -> None:
    for key, value in params.items():
        member = key[:-2] if key.endswith(".$") else key
        camel = member[:1].lower() + member[1:]
        if member not in shape.members and camel in shape.members:
            member = camel  # camelCase APIs (Step Functions' own): ASL capitalises the first letter
        assert member in shape.members, (
            f"{where}: {member!r} is not a parameter of {shape.name} "
            f"(expected one of {sorted(shape.members)})"
        )
        target = shape.members[member]
        if not key.endswith(".$") and isinstance(value, dict) and target.type_name == "structure":
            _check_parameters(f"{where}.{member}", target, value)


@pytest.mark.parametrize("path", ASL_FILES, ids=lambda p: p.name)
def test_asl_is_valid(path):
    definition = json.loads(path.read_text())
    tasks = list(_walk(definition["States"], definition["StartAt"], path.name))
    models = botocore.session.get_session()
    for where, state in tasks:
        match = re.fullmatch(
            r"arn:aws:states:::(aws-sdk:)?([a-z0-9]+):([a-zA-Z0-9]+)", state["Resource"]
        )
        assert match, f"{where}: unsupported resource {state['Resource']}"
        sdk, service, action = match.groups()
        if not sdk:
            assert service in OPTIMIZED, f"{where}: optimized integration {service}"
        model = models.get_service_model(SDK_SERVICES.get(service, service))
        operation = action[0].upper() + action[1:]
        assert operation in model.operation_names, f"{where}: {service} has no {operation}"
        _check_parameters(
            where, model.operation_model(operation).input_shape, state.get("Parameters", {})
        )


def test_asl_files_are_all_referenced():
    referenced = {
        r["Properties"]["DefinitionS3Location"]
        for r in _template()["Resources"].values()
        if r["Type"] == "AWS::StepFunctions::StateMachine"
    }
    assert referenced == {f"statemachines/{p.name}" for p in ASL_FILES}
