"""Test machinery: localaws servers forked from a warm process instead of a fresh interpreter.

A plain start (`localaws.cli.launch`) spends ~2 CPU seconds importing moto and applying
localaws's patch groups before it restores anything; the suite starts well over a hundred
servers. Each pytest process therefore keeps one *fork server*: a single-threaded process that
imports and applies all that once, then forks one child per start. The child becomes exactly
what a plain start runs: its own session, its output appended to the server log, the starter's
working directory and environment, then `localaws.server.main(args)`, which locks the state
directory, binds the port, restores the state and writes its pid into `server.json`. So kill -9,
restart-and-recover and state-directory locking are what the tests exercise, as before.

What a fork would otherwise carry over from the warm process, the child redoes: moto's own
random generator is reseeded (the stdlib's reseeds itself at fork), and the patch groups'
`refresh` functions run again inside the server's `services.apply()`, so settings read from
the environment (e.g. LOCALAWS_SFN_HISTORY_LIMIT) are the child's, and a bad one fails the
start as it does in a plain start. Module constants read at import (moto's settings,
LOCALAWS_MAX_JOBS) come from the fork server's environment: the starter's at its first start,
without LOCALAWS_* / AWS_*; no test sets them.

The fork server and its client are the job zygote's (`localaws.compute.workers`: `fork_loop`,
`WorkerPool`) with another program: a request's spec is `{"args", "log", "env", "cwd"}`; it
reaps its children, so a killed server is never left a zombie; it exits when its stdin
closes, leaving running servers to their tests. While idle it also parses the state machine
definitions its servers met, so the servers forked next find them in their program cache.
The fork server has also imported what a job zygote imports (`workers.preload`: numpy,
pandas, scikit-learn, XGBoost, ~3 CPU s), with the settings that keep those imports from
starting native threads (`SINGLE_THREADED_IMPORTS`; it checks before every fork that it has
one thread). A server child, still single-threaded, forks its own job zygote from that at once
(`_fork_job_zygote`) and hands it to its `WorkerPool`: its jobs are forked from it as from a
zygote the pool would start, and run the real job code; a server that runs no job keeps an
idle one (a few milliseconds of fork). The zygote ends with its server, however it ends.
`install()` makes it what `localaws.cli.start` launches with, in this process only:
`localaws start` (the CLI, which tests/localaws/test_localaws_cli.py runs as a command) is
always a plain `python -m localaws.server`.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from localaws.compute import workers
from localaws.compute.workers import Handle, WorkerPool, fork_loop

#: The services a test server answers and its Step Functions tasks call.
SERVICES = ("s3", "dynamodb", "sagemaker", "stepfunctions", "iam", "sts", "logs", "cloudformation")
_definitions: Path | None = None  # in the fork server: definitions its servers met, one a file
#: Set in the fork server before it imports numpy & co., which otherwise start native threads
#: at import: OpenBLAS's pool (so jobs use one BLAS thread; XGBoost's OpenMP threads start in
#: the job, as before) and pyarrow's jemalloc background thread.
SINGLE_THREADED_IMPORTS = {
    "OPENBLAS_NUM_THREADS": "1",
    "JE_ARROW_MALLOC_CONF": "background_thread:false",
}


class Forked:
    """The part of `subprocess.Popen` that `localaws.cli.start` uses, for a forked server."""

    def __init__(self, handle: Handle) -> None:
        self.handle = handle
        self.pid = handle.pid

    def poll(self) -> int | None:
        return self.handle.wait(0)

    def kill(self) -> None:
        self.handle.kill()  # the server leads its own process group


class ForkServer(WorkerPool):
    """The client side: starts the fork server on first use, hands out `Forked` handles."""

    zygote_stderr = None  # a fork server that fails to start says why on the test's stderr

    def __init__(self) -> None:
        super().__init__(warm=True)
        here = str(Path(__file__).parent)
        self.zygote_code = (
            f"import sys; sys.path.insert(0, {here!r}); import server_forks; "
            f"sys.path.remove({here!r}); server_forks.serve_forks()"
        )
        self.zygote_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("LOCALAWS_", "AWS_")) or k == "LOCALAWS_CACHE_DIR"
        }  # the cache of parsed programs: the session's (conftest.py), never the user's
        atexit.register(self._close)

    def _close(self) -> None:
        """End the fork server and reap it (so its and its servers' CPU time is counted)."""
        zygote = self._zygote
        if zygote is not None and zygote.stdin is not None:
            zygote.stdin.close()
            try:
                zygote.wait(timeout=30)
            except subprocess.TimeoutExpired:
                zygote.kill()

    def launch(self, args: list[str], log: BinaryIO, env: dict[str, str]) -> Forked:
        """Start `localaws.server` with `args` as `localaws.cli.launch` does, by a fork."""
        handle = self.start({"args": args, "log": log.name, "env": env, "cwd": os.getcwd()})
        if handle.pid is None:
            raise RuntimeError(
                "the test fork server did not start a localaws server (its error is above; "
                "LOCALAWS_TEST_PLAIN_STARTS=1 starts servers plainly)"
            )
        return Forked(handle)


def install(warm: bool = False) -> None:
    """Make `localaws.cli.start` in this process fork its servers from a warm fork server;
    `warm`: start that now (it imports in the background) rather than at the first start."""
    from localaws import cli

    forks = ForkServer()
    cli.launcher = forks.launch
    if warm:
        forks.warm_up()


def kill9(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL server `pid`; return once it has ended (a zombie would pass for a running
    server). Reaped here if it is this process's child (a plain start), else by the fork
    server, which reaps within tens of milliseconds."""
    from localaws.cli import _pid_alive, _zombie

    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _zombie(pid):
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child: the fork server reaps it
                pass
        if not _pid_alive(pid):
            return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} still there {timeout:.0f} s after SIGKILL")


# ------------------------------------------------------------------- in the fork server
def serve_forks() -> None:
    """The fork server: preload, then fork; in a child, go on into the server's start."""
    global _definitions
    os.environ.update(SINGLE_THREADED_IMPORTS)
    _preload()
    _definitions = Path(tempfile.mkdtemp(prefix="localaws-forks-definitions-"))
    atexit.register(shutil.rmtree, _definitions, True)
    parsed: set[str] = set()
    request = fork_loop(_become_server, lambda: _parse_one_new(parsed), end_children_at_eof=False)
    if request is not None:
        from localaws import server

        server.main(request["spec"]["args"])
        sys.exit(0)


def _preload() -> None:
    """Import and apply, once, what every server start imports and applies."""
    from localaws import server
    from localaws.core.config import Config

    with tempfile.TemporaryDirectory(prefix="localaws-forks-") as scratch:
        server.create_app(Config(state_dir=Path(scratch), port=0), persist=False)
    os.environ.pop("MOTO_PORT", None)  # each child's create_app sets its own
    import werkzeug.serving  # noqa: F401 - what `serve` imports

    import localaws.persistence.middleware  # noqa: F401
    import localaws.persistence.store  # noqa: F401

    _warm_botocore_data()
    workers.preload()  # what each server's job zygote would import (see _fork_job_zygote)
    gc.freeze()  # the children's collections skip all this; fewer pages copied on write
    _check_single_threaded()


def _warm_botocore_data() -> None:
    """Fill the per-process caches of botocore's data that every server fills on its first
    requests (~20 % of a short test server's CPU): moto's service models and region lists,
    and the models and endpoint rules of the clients its Step Functions tasks create. Data
    files only: no backend, no client of a server is made."""
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.utils import get_service_model

    from localaws.services.stepfunctions import clients

    session = AccountSpecificBackend.get_session()
    for service in SERVICES:
        get_service_model(service)
        for partition in session.get_available_partitions():
            session.get_available_regions(service, partition_name=partition)
        clients._session.client(
            service,
            region_name="us-east-1",
            endpoint_url="http://127.0.0.1:9",
            aws_access_key_id="warm-up",
            aws_secret_access_key="warm-up",
        )


def _parse_one_new(parsed: set[str]) -> None:
    """Parse one state machine definition a server met that this process has not parsed yet:
    the servers forked next find its program in Step Functions' program cache (a parse is
    0.2-0.5 s of CPU, once per server and definition otherwise)."""
    from localaws.services.stepfunctions import program_cache

    assert _definitions is not None
    for path in _definitions.glob("*.json"):
        if path.name not in parsed:
            parsed.add(path.name)
            try:
                program_cache.program(path.read_text())
            except Exception:  # noqa: BLE001 - a definition that does not parse: the server says
                pass
            gc.freeze()
            _check_single_threaded()
            return


def _check_single_threaded() -> None:
    """Forking a process with other threads (Python's or a native library's) is unsafe."""
    tasks = Path("/proc/self/task")
    native = len(os.listdir(tasks)) if tasks.is_dir() else 1
    if threading.active_count() != 1 or native != 1:
        raise RuntimeError("the test fork server has threads: it cannot fork servers safely")


def _become_server(request: dict[str, Any], protocol: int) -> None:
    """In the forked child: take on the starter's session, output, directory, environment."""
    spec = request["spec"]
    os.setsid()
    atexit.unregister(shutil.rmtree)  # the fork server's definitions are not the server's
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # in place of the request pipe
    os.dup2(devnull, protocol)  # and of the replies: only the fork server may hold them
    log = os.open(spec["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    if workers.pool().warm:  # LOCALAWS_WARM_WORKERS=0 (cold jobs) is the server's to honour
        workers.pool().adopt(_fork_job_zygote())
    from moto.moto_api._internal import mock_random

    from localaws import services
    from localaws.services.stepfunctions import program_cache

    mock_random.seed()  # moto's names and ids: not the warm process's sequence
    applied = services.apply

    def apply_in_child() -> None:
        applied()  # already applied before the fork: a no-op
        for group in services.all_groups():
            if group is not program_cache.patches:  # its programs were parsed under these patches
                group.refresh_again()

    services.apply = apply_in_child
    parse = program_cache.program
    seen: set[str] = set()
    definitions = _definitions
    assert definitions is not None

    def program(definition: str) -> Any:
        if definition not in seen:  # for the fork server to parse before the next forks
            seen.add(definition)
            name = hashlib.sha256(definition.encode()).hexdigest()
            target = definitions / f"{name}.json"
            partial = target.with_suffix(f".{threading.get_ident()}.tmp")
            try:  # a hint only: never the reason an execution fails
                if not target.exists():
                    partial.write_text(definition)
                    partial.replace(target)
            except OSError:
                pass
        return parse(definition)

    program_cache.program = program


class ForkedZygote:
    """A server's job zygote forked by `_fork_job_zygote`: the part of `subprocess.Popen`
    that `WorkerPool` uses. It is the server's child, as a zygote the pool starts would be."""

    def __init__(self, pid: int, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped already: it ended
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        while (code := self.poll()) is None:
            time.sleep(0.01)
        return code

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)


def _fork_job_zygote() -> ForkedZygote:
    """In a server child, still single-threaded: fork the job zygote that its `WorkerPool`
    would otherwise start as a new interpreter (~3 CPU s of imports, done once here by the
    fork server). The zygote is what `workers._zygote_main` runs after its imports: its own
    session, requests on stdin, replies on stdout, stderr to /dev/null, ending at stdin's EOF
    (when the server ends, however it ends) with its jobs."""
    requests, to_zygote = os.pipe()
    from_zygote, replies = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.dup2(requests, 0)
            os.dup2(replies, 1)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            for fd in (requests, to_zygote, from_zygote, replies, devnull):
                os.close(fd)
            workers.serve_jobs()
        finally:
            os._exit(0)
    os.close(requests)
    os.close(replies)
    return ForkedZygote(pid, os.fdopen(to_zygote, "wb"), os.fdopen(from_zygote, "rb"))
