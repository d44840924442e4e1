"""`make compat`: SageMaker Python SDK v2 code, unmodified, against a private localaws.

Starts a localaws on a free port with temporary state and points the environment at it as
`localaws env` does (endpoint, credentials, the SDK defaults file), then runs the v2 abalone
pipeline twice and the `.sync` state machine, and prints feature | works / fails (reason).
Exit status 1 if anything fails. Run it in `.venv-compat` (SDK v2), not the project's venv.
"""

from __future__ import annotations

import os
import sys
import traceback


def _attempt(rows: list, feature: str, action):
    """Run `action`; on an exception, record `feature` as failing with its reason."""
    from compat.checks import Row

    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the table reports it
        rows.append(Row(feature, False, f"{type(exc).__name__}: {str(exc)[:300]}"))
        traceback.print_exc()
        return None


def main() -> int:
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")  # once per class is enough
    import boto3
    import sagemaker
    from sagemaker.workflow.pipeline_context import PipelineSession

    from compat import checks, pipeline_v2, state_machine
    from localaws.ephemeral import running

    rows: list[checks.Row] = []
    with running():
        aws = boto3.Session(region_name=checks.REGION)
        session = PipelineSession()
        bucket = _attempt(rows, "Session.default_bucket() offline", session.default_bucket)
        if bucket is None:
            print(checks.table(f"SageMaker Python SDK {sagemaker.__version__}", rows))
            return 1
        rows.append(checks.Row("Session.default_bucket() offline", True, bucket))
        _, role = checks.make_tenant(aws, "compat", bucket=bucket)
        name = checks.unique("abalone-v2")

        def upsert() -> bool:
            pipeline_v2.build(session, name, role).upsert(role_arn=role)
            return True

        if _attempt(rows, "pipeline definition (upsert)", upsert) is None:
            print(checks.table(f"SageMaker Python SDK {sagemaker.__version__}", rows))
            return 1
        rows.append(checks.Row("pipeline definition (upsert)", True))
        pipeline = _attempt(
            rows,
            "abalone pipeline",
            lambda: checks.pipeline_rows(aws, name, bucket),
        )
        rows.extend(pipeline or [])
        machine = _attempt(rows, "state machine", lambda: state_machine.run(aws, bucket, role)[2])
        rows.extend(machine or [])
    print()
    print(checks.table(f"SageMaker Python SDK {sagemaker.__version__} against localaws", rows))
    return 0 if all(r.works for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
