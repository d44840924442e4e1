"""S3 DeleteObjects authorized per key, as AWS does.

moto 5.2.5 authorizes a DeleteObjects request as `s3:DeleteObject` on the bucket ARN and, when
that is refused (policies grant object actions on `bucket/*`, as they should), answers
AccessDenied for every key. AWS checks each key instead: `s3:DeleteObject` on
`arn:aws:s3:::bucket/key`, and `s3:DeleteObjectVersion` too when a version is named. This
re-runs the request's (already signature-checked) authorization per key with the same
evaluator (`localaws.services.iam.enforcement`) and deletes the keys it allows.

In quiet mode (`<Quiet>true</Quiet>`) the answer lists only the keys that could not be deleted,
as AWS documents ("In quiet mode, the response includes only keys for which the delete
operation encountered an error", Amazon S3 User Guide, "Deleting multiple objects"); moto
listed every deleted key, which a state machine then carried in its data from state to state.

It also records the request's object names in the request scope, as moto's key parsing does
for single-object requests: persistence then saves those names only, not every object of
the bucket (a bucket of 10,000 versions emptied 100 at a time re-saved it all per batch).
"""

from __future__ import annotations

from collections.abc import Callable

import xmltodict
from moto.core.responses import ActionResult
from moto.iam.access_control import S3IAMRequest
from moto.s3.exceptions import MalformedXML
from moto.s3.responses import S3Response

from localaws.core import request_scope
from localaws.core.patching import Patches
from localaws.services.iam import enforcement

patches = Patches("s3.multi_delete", after=("iam.enforcement",))


def _allowed(may: Callable[[str, str], bool], bucket: str, obj: dict) -> bool:
    resource = f"arn:aws:s3:::{bucket}/{obj['Key']}"
    actions = ["s3:DeleteObject"] + (["s3:DeleteObjectVersion"] if obj.get("VersionId") else [])
    return all(may(action, resource) for action in actions)


@patches.replace(S3Response, "_bucket_response_delete_keys")
def _bucket_response_delete_keys(self, bucket_name: str, authenticated: bool = True):
    body = xmltodict.parse(self.body, strip_whitespace=False)
    bypass = self.headers.get("x-amz-bypass-governance-retention", "").lower() == "true"
    objects = body["Delete"].get("Object", [])
    objects = objects if isinstance(objects, list) else [objects]
    if not objects:
        raise MalformedXML()
    scope = request_scope.current()
    if scope is not None:
        scope.s3_keys.update(o["Key"] for o in objects)
    if "Authorization" in self.headers:
        may = enforcement.authorizer(self, S3IAMRequest)
        allowed = [o for o in objects if _allowed(may, bucket_name, o)]
    else:  # unsigned: enforcement refuses such requests before they get here
        allowed = []
    refused = [o["Key"] for o in objects if o not in allowed]
    deleted, locked = self.backend.delete_objects(bucket_name, allowed, bypass)
    quiet = str(body["Delete"].get("Quiet") or "").strip().lower() == "true"
    errors = [(k, "AccessDenied", "Access Denied") for k in refused] + [
        (k, "AccessDenied", "Access Denied because object protected by object lock.")
        for k in locked
    ]
    self.data["Action"] = "DeleteObjects"
    result = {
        "Deleted": [
            {
                "Key": key,
                "VersionId": version or None,
                "DeleteMarkerVersionId": marker or None,
                "DeleteMarker": True if marker else None,
            }
            for key, version, marker in ([] if quiet else deleted)
        ],
        "Errors": [{"Key": k, "Code": c, "Message": m} for k, c, m in errors],
    }
    return self.serialized(ActionResult(result))
