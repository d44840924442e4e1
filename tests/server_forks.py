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

The fork server reads requests as JSON lines on stdin (`{"id", "args", "log", "env", "cwd"}`)
and answers `{"id", "pid"}` at the fork, `{"id", "status"}` when the child ends (it reaps
its children, so a killed server is never left a zombie); it exits when its stdin closes.
`install()` makes it what `localaws.cli.start` launches with, in this process only:
`localaws start` (the CLI, which tests/localaws/test_localaws_cli.py runs as a command) is
always a plain `python -m localaws.server`.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

START_TIMEOUT_S = 120.0  # the first start waits for the fork server's imports


class Forked:
    """The part of `subprocess.Popen` that `localaws.cli.start` uses, for a forked server."""

    def __init__(self) -> None:
        self.pid = 0
        self.returncode: int | None = None
        self.forked = threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ForkServer:
    """The client side: starts the fork server on first use, hands out `Forked` handles."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._handles: dict[int, Forked] = {}

    def _ensure(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCALAWS_", "AWS_"))}
            here = str(Path(__file__).parent)
            code = f"import sys; sys.path.insert(0, {here!r}); import server_forks; "
            code += f"sys.path.remove({here!r}); server_forks.serve_forks()"
            self._proc = subprocess.Popen(
                [sys.executable, "-c", code],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
            threading.Thread(target=self._read, args=(self._proc,), daemon=True).start()
            atexit.register(self._close, self._proc)
        return self._proc

    @staticmethod
    def _close(proc: subprocess.Popen) -> None:
        """End the fork server and reap it (so its and its servers' CPU time is counted)."""
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            reply = json.loads(line)
            handle = self._handles.get(reply["id"])
            if handle is None:
                continue
            if "pid" in reply:
                handle.pid = reply["pid"]
                handle.forked.set()
            else:
                handle.returncode = reply["status"]
                self._handles.pop(reply["id"], None)
        for handle in list(self._handles.values()):
            handle.forked.set()  # the fork server died: whoever waits learns it (pid 0)

    def launch(self, args: list[str], log: BinaryIO, env: dict[str, str]) -> Forked:
        """Start `localaws.server` with `args` as `localaws.cli.launch` does, by a fork."""
        handle = Forked()
        request = {"args": args, "log": log.name, "env": env, "cwd": os.getcwd()}
        with self._lock:
            proc = self._ensure()
            request["id"] = next(self._ids)
            self._handles[request["id"]] = handle
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
        if not handle.forked.wait(START_TIMEOUT_S) or not handle.pid:
            raise RuntimeError(f"the test fork server did not start a localaws server ({args})")
        return handle


def install() -> None:
    """Make `localaws.cli.start` in this process fork its servers from a warm fork server."""
    from localaws import cli

    cli.launcher = ForkServer().launch


# ------------------------------------------------------------------- in the fork server
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


#: The services a test server answers and its Step Functions tasks call.
SERVICES = ("s3", "dynamodb", "sagemaker", "stepfunctions", "iam", "sts", "logs", "cloudformation")


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


def _become_server(request: dict[str, Any], protocol: list[int]) -> None:
    """In the forked child: take on the starter's session, output, directory, environment."""
    os.setsid()
    for fd in protocol:
        os.close(fd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
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

    def program(definition: str) -> Any:
        if definition not in seen:  # for the fork server to parse before the next forks
            seen.add(definition)
            name = hashlib.sha256(definition.encode()).hexdigest()
            target = Path(request["definitions"]) / f"{name}.json"
            if not target.exists():
                partial = target.with_suffix(f".{os.getpid()}.tmp")
                partial.write_text(definition)
                partial.replace(target)
        return parse(definition)

    program_cache.program = program


def _parse_one_new(definitions: Path, parsed: set[str]) -> None:
    """Parse one state machine definition a server met that this process has not parsed yet:
    the servers forked next find its program in Step Functions' program cache (a parse is
    0.2-0.5 s of CPU, once per server and definition otherwise)."""
    from localaws.services.stepfunctions import program_cache

    for path in definitions.glob("*.json"):
        if path.name not in parsed:
            parsed.add(path.name)
            try:
                program_cache.program(path.read_text())
            except Exception:  # noqa: BLE001 - a definition that does not parse: the server says
                pass
            return


def _check_single_threaded() -> None:
    """Forking a process with other threads (Python's or a native library's) is unsafe."""
    tasks = Path("/proc/self/task")
    native = len(os.listdir(tasks)) if tasks.is_dir() else 1
    if threading.active_count() != 1 or native != 1:
        raise RuntimeError("the test fork server has threads: it cannot fork servers safely")


def serve_forks() -> None:
    """The fork server's loop; in a child, it returns into the server's start instead."""
    _preload()
    out = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # stray prints must not corrupt the protocol
    os.close(devnull)
    stdin = sys.stdin.fileno()
    children: dict[int, int] = {}
    buffer = b""
    definitions = Path(tempfile.mkdtemp(prefix="localaws-forks-definitions-"))
    atexit.register(shutil.rmtree, definitions, True)
    parsed: set[str] = set()
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.02)
        if not ready:
            _parse_one_new(definitions, parsed)
        if ready:
            chunk = os.read(stdin, 65536)
            if not chunk:
                return  # the test process is gone; servers still running end with their tests
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                request["definitions"] = str(definitions)
                _check_single_threaded()
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _become_server(request, [stdin, out])
                    from localaws import server

                    server.main(request["args"])
                    sys.exit(0)
                children[pid] = request["id"]
                os.write(out, json.dumps({"id": request["id"], "pid": pid}).encode() + b"\n")
        while children:
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
            reply = {"id": children.pop(pid), "status": status}
            os.write(out, json.dumps(reply).encode() + b"\n")


def kill9(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL server `pid`; return once it has ended (a zombie would pass for a running
    server). Reaped here if it is this process's child (a plain start), else by the fork
    server, which reaps within tens of milliseconds."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:  # not our child
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.01)
    raise TimeoutError(f"process {pid} still there {timeout:.0f} s after SIGKILL")
