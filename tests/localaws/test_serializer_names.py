"""moto's answers are the same with the serializer's member names remembered per shape.

Each answer is built twice in one fresh process (`mock_aws`, no other test's settings), by
moto's own `ResponseSerializer.get_value` and by the patched one (`services.serialization`),
over every protocol the platform uses: JSON (SageMaker, DynamoDB, Step Functions), query (IAM,
CloudFormation, whose Stack has an explicit alias) and rest-xml (S3). A second round with the
patch reads the remembered names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
from moto import mock_aws

from localaws.services import serialization

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/r"
TEMPLATE = {
    "Parameters": {"Size": {"Type": "String", "Default": "1"}},
    "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
    "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["Q", "QueueName"]}}},
}


def _world() -> dict[str, Callable[[], Any]]:
    """Resources of several services, and the calls that describe them."""
    sm = boto3.client("sagemaker", region_name=REGION)
    sm.create_model_package_group(ModelPackageGroupName="g", ModelPackageGroupDescription="d")
    package = sm.create_model_package(
        ModelPackageGroupName="g",
        InferenceSpecification={
            "Containers": [{"Image": "x", "ModelDataUrl": "s3://b/k", "Environment": {"A": "1"}}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/m"}}
        },
        CustomerMetadataProperties={"tenant": "acme"},
    )["ModelPackageArn"]
    sm.create_model(
        ModelName="m",
        PrimaryContainer={"Image": "x", "ModelDataUrl": "s3://b/k", "Mode": "MultiModel"},
        ExecutionRoleArn=ROLE,
        Tags=[{"Key": "tenant-id", "Value": "acme"}],
    )
    sm.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {
                "VariantName": "v",
                "ModelName": "m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "1"}, "l": {"L": [{"S": "x"}]}})
    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(
        RoleName="r",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Tags=[{"Key": "tenant-id", "Value": "acme"}],
    )
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [allow]}
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(policy))
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="names-bucket")
    s3.put_object(Bucket="names-bucket", Key="k", Body=b"1")
    tags = {"TagSet": [{"Key": "tenant-id", "Value": "acme"}]}
    s3.put_bucket_tagging(Bucket="names-bucket", Tagging=tags)
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName="s",
        TemplateBody=json.dumps(TEMPLATE),
        Parameters=[{"ParameterKey": "Size", "ParameterValue": "2"}],
        Tags=[{"Key": "k", "Value": "v"}],
    )
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="sm",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    return {
        "DescribeModelPackage": lambda: sm.describe_model_package(ModelPackageName=package),
        "ListModelPackages": lambda: sm.list_model_packages(ModelPackageGroupName="g"),
        "DescribeModel": lambda: sm.describe_model(ModelName="m"),
        "ListModels": lambda: sm.list_models(),
        "DescribeEndpointConfig": lambda: sm.describe_endpoint_config(EndpointConfigName="c"),
        "ListTags": lambda: sm.list_tags(ResourceArn=sm.describe_model(ModelName="m")["ModelArn"]),
        "DescribeTable": lambda: ddb.describe_table(TableName="t"),
        "GetItem": lambda: ddb.get_item(TableName="t", Key={"k": {"S": "a"}}),
        "GetRole": lambda: iam.get_role(RoleName="r"),
        "ListRoles": lambda: iam.list_roles(),
        "ListRolePolicies": lambda: iam.list_role_policies(RoleName="r"),
        "ListRoleTags": lambda: iam.list_role_tags(RoleName="r"),
        "DescribeStacks": lambda: cfn.describe_stacks(StackName="s"),
        "GetBucketTagging": lambda: s3.get_bucket_tagging(Bucket="names-bucket"),
        "ListObjectVersions": lambda: s3.list_object_versions(Bucket="names-bucket"),
        "DescribeStateMachine": lambda: sfn.describe_state_machine(stateMachineArn=machine),
    }


def _answer(call: Callable[[], Any]) -> Any:
    answer = call()
    answer.pop("ResponseMetadata", None)
    return answer


def compare() -> None:
    """Run in a fresh process: assert the patched answers equal moto's own."""
    from moto.core.utils import get_service_model

    serialization.patches.undo()
    with mock_aws():
        calls = _world()
        before = {name: _answer(call) for name, call in calls.items()}
        serialization.patches.apply()
        first = {name: _answer(call) for name, call in calls.items()}
        again = {name: _answer(call) for name, call in calls.items()}
    assert before["DescribeStacks"]["Stacks"][0]["Parameters"]  # the explicit alias was used
    assert before["DescribeModelPackage"]["InferenceSpecification"]["Containers"][0]["Image"]
    for name in calls:
        assert first[name] == before[name], name
        assert again[name] == before[name], name
    # The patch is what serialized: its names sit on moto's cached shapes.
    output = get_service_model("sagemaker").operation_model("DescribeModelPackage").output_shape
    remembered = vars(output.members["InferenceSpecification"])[serialization._KEYS_ATTRIBUTE]
    assert any(key == "InferenceSpecification" for _, _, key in remembered)
    print(f"{len(calls)} answers the same")


def test_answers_are_moto_answers():
    # Nothing of a localaws server's environment (AWS_ENDPOINT_URL...) reaches mock_aws.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALAWS_", "MOTO_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    run = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "16 answers the same" in run.stdout


if __name__ == "__main__":
    compare()
