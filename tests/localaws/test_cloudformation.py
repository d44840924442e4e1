"""CloudFormation on localaws: the resource types the project uses, nothing skipped silently."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

TEMPLATE = Path(__file__).parent / "data" / "cfn_stack.yaml"
GET_DEFINITION = {
    "StartAt": "Get",
    "States": {
        "Get": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:getItem",
            "Parameters": {"TableName": "${table}", "Key": {"pk": {"S.$": "$.key"}}},
            "ResultSelector": {"pk.$": "$.Item.pk.S"},
            "End": True,
        }
    },
}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stack_of(cf, name: str) -> dict:
    return cf.describe_stacks(StackName=name)["Stacks"][0]


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def execute(sfn, machine_arn: str, payload: dict) -> dict:
    arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
    deadline = time.monotonic() + 30
    while (desc := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return desc


@pytest.mark.slow
def test_template_passes_cfn_lint():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def definitions(clients) -> list[dict]:
    """A bucket holding the S3 state machine's definition; the stack parameters naming it."""
    bucket = uid("cfn-defs")
    clients("s3").create_bucket(Bucket=bucket)
    clients("s3").put_object(Bucket=bucket, Key="asl/get.json", Body=json.dumps(GET_DEFINITION))
    return [
        {"ParameterKey": "DefinitionBucket", "ParameterValue": bucket},
        {"ParameterKey": "DefinitionKey", "ParameterValue": "asl/get.json"},
    ]


@pytest.mark.slow
def test_stack_creates_executes_updates_and_deletes(clients, definitions):
    cf, sfn, ddb, iam, sm, s3, logs = (
        clients(n)
        for n in ("cloudformation", "stepfunctions", "dynamodb", "iam", "sagemaker", "s3", "logs")
    )
    name, table = uid("cfn"), uid("cfn-table")
    body = TEMPLATE.read_text()
    params = [*definitions, {"ParameterKey": "TableName", "ParameterValue": table}]

    cf.create_stack(
        StackName=name, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_IAM"]
    )
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = outputs(stack)
    assert out["TableName"] == table and out["TableArn"].endswith(f":table/{table}")
    assert out["PutMachineName"] == f"{name}-put"
    assert out["PutMachineArn"].endswith(f":stateMachine:{name}-put")
    assert out["S3MachineArn"].endswith(f":stateMachine:{name}-from-s3")
    assert out["GroupArn"].endswith(f":model-package-group/{name}-group")
    assert out["GroupArnAttribute"] == out["GroupArn"] and out["GroupStatus"] == "Completed"

    # Definition object + DefinitionSubstitutions (one substitution is a Ref to the table)
    put = execute(sfn, out["PutMachineArn"], {"key": "acme"})
    assert put["status"] == "SUCCEEDED", put
    assert json.loads(put["output"]) == "hello"
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "acme"}})["Item"]
    # DefinitionS3Location + DefinitionSubstitutions
    got = execute(sfn, out["S3MachineArn"], {"key": "acme"})
    assert got["status"] == "SUCCEEDED", got
    assert json.loads(got["output"]) == {"pk": "acme"}

    role = out["RoleArn"].rsplit("/", 1)[1]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["write-table"]
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert len(attached) == 1 and "ReadPolicy" in attached[0]["PolicyName"]
    group = sm.describe_model_package_group(ModelPackageGroupName=f"{name}-group")
    assert group["ModelPackageGroupDescription"] == "first"
    assert sm.list_tags(ResourceArn=out["GroupArn"])["Tags"] == [
        {"Key": "tenant-id", "Value": "cfn"}
    ]
    assert logs.describe_log_groups(logGroupNamePrefix=f"/localaws/{name}")["logGroups"]
    assert s3.head_bucket(Bucket=out["BucketName"])

    with pytest.raises(ClientError, match="No updates are to be performed"):
        cf.update_stack(
            StackName=name, TemplateBody=body, Parameters=params, Capabilities=["CAPABILITY_IAM"]
        )
    with pytest.raises(ClientError, match="No updates are to be performed"):
        cf.update_stack(
            StackName=name,
            TemplateBody=body,
            Capabilities=["CAPABILITY_IAM"],
            Parameters=[
                {"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in params
            ],
        )

    changed = body.replace("greeting: hello", "greeting: bonjour")
    cf.update_stack(
        StackName=name,
        TemplateBody=changed,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[*params, {"ParameterKey": "GroupDescription", "ParameterValue": "second"}],
    )
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(stack)["PutMachineArn"] == out["PutMachineArn"]
    again = execute(sfn, out["PutMachineArn"], {"key": "beta"})
    assert json.loads(again["output"]) == "bonjour"
    assert (
        sm.describe_model_package_group(ModelPackageGroupName=f"{name}-group")[
            "ModelPackageGroupDescription"
        ]
        == "second"
    )

    cf.delete_stack(StackName=name)
    statuses = {s["StackName"]: s["StackStatus"] for s in cf.list_stacks()["StackSummaries"]}
    assert statuses[name] == "DELETE_COMPLETE"
    assert table not in ddb.list_tables()["TableNames"]
    assert not any(r["RoleName"] == role for r in iam.list_roles()["Roles"])
    assert not any(
        "ReadPolicy" in p["PolicyName"] and p["PolicyName"].startswith(name)
        for p in iam.list_policies(Scope="Local")["Policies"]
    )
    machines = {m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    assert out["PutMachineArn"] not in machines and out["S3MachineArn"] not in machines
    groups = sm.list_model_package_groups(NameContains=name)["ModelPackageGroupSummaryList"]
    assert groups == []
    assert not logs.describe_log_groups(logGroupNamePrefix=f"/localaws/{name}")["logGroups"]
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=out["BucketName"])


def test_unsupported_resource_type_fails_the_stack_and_rolls_back(clients, definitions):
    cf, ddb, sfn = clients("cloudformation"), clients("dynamodb"), clients("stepfunctions")
    name, table = uid("cfn-bad"), uid("cfn-bad-table")
    body = TEMPLATE.read_text().replace(
        "Type: AWS::Logs::LogGroup", "Type: AWS::SageMaker::Pipeline"
    )
    cf.create_stack(
        StackName=name,
        TemplateBody=body,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[*definitions, {"ParameterKey": "TableName", "ParameterValue": table}],
    )

    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "AWS::SageMaker::Pipeline" in stack["StackStatusReason"]
    events = cf.describe_stack_events(StackName=name)["StackEvents"]
    failed = [
        e
        for e in events
        if e["ResourceStatus"] == "CREATE_FAILED" and e["LogicalResourceId"] == "Logs"
    ]
    assert failed and "AWS::SageMaker::Pipeline" in failed[0]["ResourceStatusReason"]
    # what was made before the failure is gone, and nothing appears later
    assert stack.get("Outputs") is None
    assert table not in ddb.list_tables()["TableNames"]
    assert not [m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith(name)]
    cf.delete_stack(StackName=name)


def test_update_adding_unsupported_type_is_refused_and_changes_nothing(clients):
    cf = clients("cloudformation")
    name = uid("cfn-upd")
    small = {
        "Resources": {
            "Table": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                },
            }
        }
    }
    cf.create_stack(StackName=name, TemplateBody=json.dumps(small))
    bigger = json.loads(json.dumps(small))
    bigger["Resources"]["Domain"] = {"Type": "AWS::SageMaker::Domain", "Properties": {}}
    with pytest.raises(ClientError, match="AWS::SageMaker::Domain"):
        cf.update_stack(StackName=name, TemplateBody=json.dumps(bigger))
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    resources = cf.describe_stack_resources(StackName=name)["StackResources"]
    assert [r["LogicalResourceId"] for r in resources] == ["Table"]
    cf.delete_stack(StackName=name)


def test_failed_delete_keeps_the_stack_with_a_reason(clients):
    """A group that still holds versions cannot go (as on AWS): DELETE_FAILED, then retry."""
    cf, sm = clients("cloudformation"), clients("sagemaker")
    name = uid("cfn-del")
    template = {
        "Resources": {
            "Group": {
                "Type": "AWS::SageMaker::ModelPackageGroup",
                "Properties": {"ModelPackageGroupName": name},
            }
        }
    }
    cf.create_stack(StackName=name, TemplateBody=json.dumps(template))
    version = sm.create_model_package(
        ModelPackageGroupName=name,
        InferenceSpecification={
            "Containers": [{"Image": "img"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    cf.delete_stack(StackName=name)
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert "contains model packages" in stack["StackStatusReason"]
    sm.delete_model_package(ModelPackageName=version)
    cf.delete_stack(StackName=name)
    with pytest.raises(ClientError):
        sm.describe_model_package_group(ModelPackageGroupName=name)


def test_iam_resources_need_capabilities_as_on_aws(clients):
    cf = clients("cloudformation")
    name = uid("cfn-caps")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    unnamed = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}}
        }
    }
    named = json.loads(json.dumps(unnamed))
    named["Resources"]["Role"]["Properties"]["RoleName"] = name

    with pytest.raises(ClientError, match=r"Requires capabilities : \[CAPABILITY_IAM\]") as exc:
        cf.create_stack(StackName=name, TemplateBody=json.dumps(unnamed))
    assert exc.value.response["Error"]["Code"] == "InsufficientCapabilitiesException"
    with pytest.raises(ClientError, match="CAPABILITY_NAMED_IAM"):
        cf.create_stack(
            StackName=name, TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_IAM"]
        )
    with pytest.raises(ClientError):
        cf.describe_stacks(StackName=name)  # nothing was created

    cf.create_stack(
        StackName=name, TemplateBody=json.dumps(unnamed), Capabilities=["CAPABILITY_IAM"]
    )
    with pytest.raises(ClientError, match="CAPABILITY_NAMED_IAM"):
        cf.update_stack(
            StackName=name, TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_IAM"]
        )
    cf.update_stack(
        StackName=name, TemplateBody=json.dumps(named), Capabilities=["CAPABILITY_NAMED_IAM"]
    )
    assert stack_of(cf, name)["StackStatus"] == "UPDATE_COMPLETE"
    assert clients("iam").get_role(RoleName=name)
    cf.delete_stack(StackName=name)


def test_disable_rollback_keeps_what_was_made(clients, definitions):
    cf, ddb = clients("cloudformation"), clients("dynamodb")
    name, table = uid("cfn-keep"), uid("cfn-keep-table")
    body = TEMPLATE.read_text().replace(
        "Type: AWS::Logs::LogGroup", "Type: AWS::SageMaker::Pipeline"
    )
    cf.create_stack(
        StackName=name,
        TemplateBody=body,
        DisableRollback=True,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[*definitions, {"ParameterKey": "TableName", "ParameterValue": table}],
    )
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "CREATE_FAILED"
    assert "AWS::SageMaker::Pipeline" in stack["StackStatusReason"]
    assert table in ddb.list_tables()["TableNames"]
    cf.delete_stack(StackName=name)
    assert table not in ddb.list_tables()["TableNames"]


@pytest.mark.parametrize("on_failure", ["DO_NOTHING", "DELETE"])
def test_on_failure_keeps_or_deletes_the_failed_stack(clients, definitions, on_failure):
    cf, ddb = clients("cloudformation"), clients("dynamodb")
    name, table = uid("cfn-onfail"), uid("cfn-onfail-table")
    body = TEMPLATE.read_text().replace(
        "Type: AWS::Logs::LogGroup", "Type: AWS::SageMaker::Pipeline"
    )
    stack_id = cf.create_stack(
        StackName=name,
        TemplateBody=body,
        OnFailure=on_failure,
        Capabilities=["CAPABILITY_IAM"],
        Parameters=[*definitions, {"ParameterKey": "TableName", "ParameterValue": table}],
    )["StackId"]
    if on_failure == "DO_NOTHING":
        assert stack_of(cf, name)["StackStatus"] == "CREATE_FAILED"
        assert table in ddb.list_tables()["TableNames"]
        cf.delete_stack(StackName=name)
    else:  # rolled back, then deleted: only its id still finds it
        with pytest.raises(ClientError, match="does not exist"):
            cf.describe_stacks(StackName=name)
        assert stack_of(cf, stack_id)["StackStatus"] == "DELETE_COMPLETE"
    assert table not in ddb.list_tables()["TableNames"]


@pytest.mark.slow
def test_aws_cli_deploy_uses_change_sets_like_aws(clients, definitions, localaws):
    cf = clients("cloudformation")
    name, table = uid("cfn-cli"), uid("cfn-cli-table")
    cli = Path(sys.executable).with_name("aws")
    overrides = [f"{p['ParameterKey']}={p['ParameterValue']}" for p in definitions]

    def deploy(*extra: str, capabilities: bool = True) -> subprocess.CompletedProcess:
        args = [
            str(cli),
            "cloudformation",
            "deploy",
            "--stack-name",
            name,
            "--template-file",
            str(TEMPLATE),
            "--parameter-overrides",
            *overrides,
            f"TableName={table}",
            *extra,
        ]
        if capabilities:
            args += ["--capabilities", "CAPABILITY_IAM"]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    refused = deploy(capabilities=False)
    assert refused.returncode != 0 and "CAPABILITY_IAM" in refused.stderr
    created = deploy()
    assert created.returncode == 0, created.stderr
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert outputs(stack)["TableName"] == table
    unchanged = deploy()
    assert unchanged.returncode != 0 and "No changes to deploy" in unchanged.stderr
    updated = deploy("GroupDescription=second")
    assert updated.returncode == 0, updated.stderr
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs(stack)["TableName"] == table
    assert (
        clients("sagemaker").describe_model_package_group(ModelPackageGroupName=f"{name}-group")[
            "ModelPackageGroupDescription"
        ]
        == "second"
    )
    cf.delete_stack(StackName=name)
    assert table not in clients("dynamodb").list_tables()["TableNames"]


def test_update_localaws_cannot_apply_fails_with_the_reason(clients):
    cf, ddb = clients("cloudformation"), clients("dynamodb")
    name = uid("cfn-tbl")
    table = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        },
    }
    template = {
        "Resources": {"Table": table},
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Table", "Arn"]}}},
    }
    cf.create_stack(StackName=name, TemplateBody=json.dumps(template))
    changed = json.loads(json.dumps(template))
    changed["Resources"]["Table"]["Properties"]["Tags"] = [{"Key": "k", "Value": "v"}]
    cf.update_stack(StackName=name, TemplateBody=json.dumps(changed))
    stack = stack_of(cf, name)
    assert stack["StackStatus"] == "UPDATE_FAILED"
    assert "cannot update resources of type AWS::DynamoDB::Table" in stack["StackStatusReason"]
    assert outputs(stack)["Arn"].endswith(f":table/{name}")  # the stack still knows its table
    cf.delete_stack(StackName=name)
    assert name not in ddb.list_tables()["TableNames"]


def test_create_retried_with_its_token_answers_the_same_stack(clients):
    cf = clients("cloudformation")
    name = uid("cfn-token")
    table = {
        "Type": "AWS::DynamoDB::Table",
        "Properties": {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        },
    }
    body = json.dumps({"Resources": {"Table": table}})
    first = cf.create_stack(StackName=name, TemplateBody=body, ClientRequestToken="try-1")
    again = cf.create_stack(StackName=name, TemplateBody=body, ClientRequestToken="try-1")
    assert again["StackId"] == first["StackId"]
    for other in ({"ClientRequestToken": "try-2"}, {}):
        with pytest.raises(ClientError) as refused:
            cf.create_stack(StackName=name, TemplateBody=body, **other)
        assert refused.value.response["Error"]["Code"] == "AlreadyExistsException"
    listed = [s for s in cf.list_stacks()["StackSummaries"] if s["StackName"] == name]
    assert [s["StackId"] for s in listed] == [first["StackId"]]
    assert len(cf.describe_stack_resources(StackName=name)["StackResources"]) == 1
    cf.delete_stack(StackName=name)
    # the token created a stack that is gone: the same token makes a new one
    anew = cf.create_stack(StackName=name, TemplateBody=body, ClientRequestToken="try-1")
    assert anew["StackId"] != first["StackId"]
    cf.delete_stack(StackName=name)
