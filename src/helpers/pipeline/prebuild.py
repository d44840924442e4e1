"""Fill the definition cache at install time: `python -m helpers.pipeline.prebuild`.

The first `make demo` after install would build the pipeline definition with the SageMaker
SDK (import and build: ~5 s of notebook 02). `make install` runs this instead: on a throwaway
localaws (its own port and temporary state: the user's state is never touched) it does what
notebooks 00 and 02 do with their default parameters, deploy the stack and `upsert` the
pipeline, which builds the definition and stores it in `definition_cache`. The demo's upsert
then computes the same `fingerprint.inputs_digest` (same code, SDK, account, region, role)
and publishes the cached build with boto3 alone.

Nothing is shipped or assumed: the entry is a real build of this checkout, keyed by the hash
of everything it is built from; an edit of the job code, another SDK, region or role is a
miss, and the demo builds as it would without this step.
"""

from __future__ import annotations

import argparse
import time

from helpers.naming import DEFAULT_TABLE
from helpers.pipeline.publish import upsert
from helpers.session import connect
from helpers.stack import deploy_stack


def prebuild(region: str = "us-east-1", table_name: str = DEFAULT_TABLE) -> str:
    """Build and cache the definition as a default local demo would; return the pipeline ARN
    (on the throwaway server, gone once this returns)."""
    from localaws.ephemeral import running

    with running():
        session = connect("local", region)
        deploy_stack(session, table_name=table_name)
        return upsert(session)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--table-name", default=DEFAULT_TABLE)
    args = parser.parse_args(argv)
    started = time.monotonic()
    prebuild(args.region, args.table_name)
    print(f"pipeline definition built and cached in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
