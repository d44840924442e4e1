"""Build the pipeline definition in the background while the platform is set up.

Building the definition (importing the SageMaker SDK, running its step builders) is most of
notebook 02 on a first run. Its inputs are known once the stack is deployed, so notebook 00
calls `start(session)`: unless the local definition cache (`definition_cache`) already holds
a build of those inputs, a detached process (`python -m helpers.pipeline.prebuild`) builds it
into the cache while notebooks 00 and 01 go on, and 02's `upsert` publishes it with boto3
alone. It writes nothing a build would not: the cache entry and the job code in the code
bucket.

One build per inputs digest at a time: the builder holds an exclusive `flock` on
`<cache>/<digest>.lock` while it builds; `publish.upsert` takes the same lock before it builds,
so it waits for a running builder and then finds its entry. The kernel releases the lock of a
builder that dies (kill -9 included); its half-written entry is never visible
(`definition_cache.store` renames a finished folder into place), so the next upsert builds.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3

from helpers.pipeline import definition_cache
from helpers.session import AwsSession

LOG_FILE = "prebuild.log"
WAIT_S = 300.0  # longest wait for another builder; then build anyway


def lock_path(digest: str, root: Path | None = None) -> Path:
    return (root or definition_cache.cache_dir()) / f"{digest}.lock"


@contextmanager
def build_lock(digest: str, wait_s: float = WAIT_S) -> Iterator[bool]:
    """Hold the build lock of `digest` (waiting up to `wait_s` for another builder); yields
    False if it could not be taken (no cache folder, or the wait ran out): build anyway."""
    try:
        path = lock_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held for the block
    except OSError:
        yield False
        return
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        handle.close()  # releases the lock


def start(session: AwsSession, hyperparameters: dict | None = None) -> int | None:
    """Start building the definition for the stack's pipeline role in the background, unless
    it is cached or being built already; return the builder's pid, or None.

    The builder inherits the build lock, taken here: an `upsert` called as soon as this
    returns waits for it."""
    from helpers.pipeline.publish import build_inputs
    from helpers.stack import stack_outputs

    role_arn = stack_outputs(session)["PipelineRoleArn"]
    _, digest = build_inputs(session, role_arn, hyperparameters)
    if definition_cache.load(digest) is not None:
        return None
    try:
        path = lock_path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "a")  # noqa: SIM115 - its lock passes to the child
        log = open(path.parent / LOG_FILE, "wb")  # noqa: SIM115 - the last build's
    except OSError:
        return None  # no cache to build into: 02 builds as before
    with lock, log:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # being built
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "helpers.pipeline.prebuild",
                "--backend",
                session.backend,
                "--region",
                session.region,
                "--role-arn",
                role_arn,
                "--hyperparameters",
                json.dumps(hyperparameters or {}),
                "--lock-fd",
                str(lock.fileno()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(lock.fileno(),),  # the lock is the open file's: the child holds it now
            start_new_session=True,  # outlives the notebook's kernel
        )
    return child.pid


def build(session: AwsSession, role_arn: str, hyperparameters: dict | None) -> bool:
    """Build into the cache unless it holds the build already; False if it did."""
    from helpers.pipeline.publish import build_entry, build_inputs

    bucket, digest = build_inputs(session, role_arn, hyperparameters)
    if definition_cache.load(digest) is not None:
        return False
    definition_cache.store(digest, build_entry(session, bucket, hyperparameters))
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline.prebuild")
    parser.add_argument("--backend", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--role-arn", required=True)
    parser.add_argument("--hyperparameters", default="{}")
    parser.add_argument("--lock-fd", type=int, required=True, help="the build lock, held")
    args = parser.parse_args(argv)
    # The parent's environment already points at the backend (connect() set it): never start
    # a localaws from here.
    session = AwsSession(args.backend, args.region, boto3.Session(region_name=args.region))
    started = time.perf_counter()
    with open(args.lock_fd, "a") as _held:  # closed (the lock released) when done
        built = build(session, args.role_arn, json.loads(args.hyperparameters) or None)
    took = time.perf_counter() - started
    print(f"prebuild: {'built' if built else 'already cached'} in {took:.1f} s", flush=True)


if __name__ == "__main__":
    main()
