"""What the tenant tests share: fresh tenant ids, the leftover check, a registered version."""

from __future__ import annotations

import uuid

from helpers import tenants
from helpers.naming import model_package_group

CONTAINER = {
    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
    "ModelDataUrl": "s3://nowhere/model.tar.gz",
}


def new_id(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def nothing_left(session, tenant: str) -> bool:
    return not any(tenants.tenant_leftovers(session, tenant).values())


def add_version(session, tenant: str) -> str:
    """Register a (pending) model version in the tenant's group; its ARN."""
    return session.client("sagemaker").create_model_package(
        ModelPackageGroupName=model_package_group(tenant),
        InferenceSpecification={
            "Containers": [CONTAINER],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
