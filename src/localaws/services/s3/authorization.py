"""S3 requests -> IAM checks: the action moto names, the bucket/object ARN, `s3:prefix`, and
the bucket policy as the resource policy (its Conditions evaluated).

S3 checks that a bucket exists before it authorizes (AWS answers NoSuchBucket, 404, to anyone
for a bucket that does not exist; 403 only for buckets that exist), so this does too: a Step
Functions task then names the error `S3.NoSuchBucketException`, as on AWS.
"""

from __future__ import annotations

from moto.s3.exceptions import MissingBucket
from moto.s3.models import s3_backends

from localaws.core.patching import Patches
from localaws.services.iam.authorization import RESOLVERS, Request
from localaws.services.iam.policy import Check, PolicySource

patches = Patches("s3.authorization", after=("iam.enforcement",))
_LIST_ACTIONS = {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"}


def bucket_check(account: str, action: str, resource: str) -> Check:
    """The check of `action` on `resource` (a bucket or object ARN) with the bucket's policy
    as resource policy; MissingBucket if the bucket does not exist (but for CreateBucket)."""
    bucket_name = resource.split(":::", 1)[-1].split("/", 1)[0]
    policy = None
    if bucket_name and bucket_name != "*":
        bucket = s3_backends[account]["aws"].buckets.get(bucket_name)
        if bucket is None:
            if action != "s3:CreateBucket":
                raise MissingBucket(bucket=bucket_name)
        elif bucket.policy:
            text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
            policy = PolicySource(bucket_name, "resource", text)
    return Check(action, resource, {}, policy)


def resolve(request: Request) -> list[Check]:
    check = bucket_check(request.account, f"s3:{request.action}", request.moto_resource)
    if check.action in _LIST_ACTIONS:
        check.context["s3:prefix"] = (request.query.get("prefix") or [""])[0]
        if "delimiter" in request.query:
            check.context["s3:delimiter"] = request.query["delimiter"][0]
    return [check]


patches.put(RESOLVERS, "s3", resolve)
