"""Warm workers: a zygote process that has the heavy libraries imported forks one child per job.

Starting a job then costs a fork (milliseconds) instead of an interpreter start plus the
pandas / scikit-learn / XGBoost imports (seconds). The zygote is single-threaded (forking a
threaded process is unsafe), is started lazily by the server, and speaks JSON lines on its
stdin/stdout: ``{"id", "spec"}`` in; ``{"id", "pid"}`` when a child starts, ``{"id", "status"}``
when it ends (exit code, or ``-signal`` when killed). Where fork is unavailable, or
``LOCALAWS_WARM_WORKERS=0``, each job gets a fresh interpreter (`runner.main`).
"""

from __future__ import annotations

import itertools
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Modules the zygote imports once so that jobs do not pay for them.
PRELOAD = (
    "numpy",
    "pandas",
    "sklearn",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.preprocessing",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "xgboost",
    # What pandas' pyarrow CSV engine and scikit-learn's dataframe checks (narwhals) import on
    # first use: each job paid for them (~8 % of a pipeline's job CPU in bench_scale).
    "pyarrow.csv",
    "pyarrow.pandas_compat",
    "narwhals.stable.v2",
    "narwhals._pandas_like.namespace",
    "narwhals._pandas_like.dataframe",
    "boto3",
    "botocore.session",
    "sagemaker_training.environment",
    "localaws.compute.xgboost_algorithm",
)


#: Set to 1 in the server's environment to start the zygote as soon as the server serves,
#: rather than at the first CreatePipeline or job: `make demo` sets it, so that the zygote's
#: ~3 CPU s of imports overlap the notebooks before the pipeline's (the first job waited
#: ~1.2 s for them). Off by default: a server that runs no job never pays for them.
WARM_AT_START_ENV = "LOCALAWS_WARM_WORKERS_AT_START"


class WorkerDied(RuntimeError):
    """The process that runs jobs went away without reporting the job's exit."""


@dataclass
class Handle:
    """One running job process."""

    pid: int | None = None
    status: int | None = None
    error: str | None = None
    _done: threading.Event = field(default_factory=threading.Event)
    _started: threading.Event = field(default_factory=threading.Event)
    _popen: subprocess.Popen | None = None
    _zygote: subprocess.Popen | None = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Exit status once the process ended (negative: killed by that signal), else None."""
        if self._popen is not None:
            try:
                self.status = _popen_status(self._popen.wait(timeout))
            except subprocess.TimeoutExpired:
                return None
            self._done.set()
            return self.status
        if not self._done.wait(timeout):
            return None
        if self.error:
            raise WorkerDied(self.error)
        return self.status

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the job's whole process group (the job may have started subprocesses)."""
        self._started.wait(10)
        if self.pid is None:
            return
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def _popen_status(code: int) -> int:
    return code  # Popen already reports -N for "killed by signal N"


def _zygote_main() -> None:
    """The zygote: preload, then fork a child for every spec read from stdin (`fork_loop`)."""
    preload()
    serve_jobs()


def preload() -> None:
    """Import what every job runs and `PRELOAD`, once (in the zygote, before it forks)."""
    import importlib

    from localaws.compute import runner  # noqa: F401 - what every job runs: imported once

    os.environ["SAGEMAKER_BASE_DIR"] = "/opt/ml"  # the toolkit reads it once, at import
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a missing optional library only costs warmth
            pass
    try:
        _warm_dataframe_checks()
    except Exception:  # noqa: BLE001 - a missing optional library only costs warmth
        pass


def _warm_dataframe_checks() -> None:
    """Fill, once, the caches scikit-learn fills at a job's first DataFrame: its dataframe
    checks ask narwhals for plugins, which reads the entry points of every installed
    distribution (about 14 ms of every Preprocess job, forked from here with it empty).
    Single-threaded, like all the zygote does before it forks."""
    import pandas as pd
    from sklearn.preprocessing import OneHotEncoder

    OneHotEncoder(handle_unknown="ignore").fit_transform(pd.DataFrame({"c": ["a", "b"]}))


def serve_jobs() -> None:
    """Be the zygote of a preloaded process: fork a job per spec on stdin, until its EOF."""
    fork_loop(_run_job)


def _run_job(request: dict, protocol: int) -> None:
    """In a forked child: run the job, then exit with its code."""
    from localaws.compute import runner

    code = 1
    try:
        # Only the zygote may hold the protocol pipe: its EOF tells the server that it died.
        os.close(protocol)
        runner.prepare(request["spec"])
        code = runner.run(request["spec"])
    finally:
        os._exit(code)


def fork_loop(
    child: Callable[[dict, int], None],
    idle: Callable[[], None] | None = None,
    end_children_at_eof: bool = True,
) -> dict | None:
    """Fork `child(request, protocol_fd)` for every `{"id", "spec"}` line read from stdin.

    Answers `{"id", "pid"}` at each fork and `{"id", "status"}` when that child ends, on a
    copy of stdout (stdout itself goes to /dev/null: stray prints must not corrupt the
    protocol); calls `idle()` when nothing came for 20 ms. At EOF on stdin it ends its children
    (if `end_children_at_eof`) and returns None; in a child whose `child` returned, it returns
    that child's request.
    """
    out = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    children: dict[int, int] = {}
    stdin = sys.stdin.buffer
    buffer = b""
    while True:
        # Nothing to reap or do when idle: sleep until a request (or EOF) comes.
        wait = 0.02 if children or idle is not None else None
        ready, _, _ = select.select([stdin], [], [], wait)
        if not ready and idle is not None:
            idle()
        if ready:
            chunk = os.read(stdin.fileno(), 65536)
            if not chunk:  # the server went away: its jobs cannot report any more, end them
                for pid in children if end_children_at_eof else ():
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        pass
                return None
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    child(request, out.fileno())
                    return request
                children[pid] = request["id"]
                out.write(json.dumps({"id": request["id"], "pid": pid}) + "\n")
        while children:
            try:
                pid, raw = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid not in children:  # a child `child` forked on its own (not a request's)
                continue
            status = -os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)
            out.write(json.dumps({"id": children.pop(pid), "status": status}) + "\n")


class WorkerPool:
    """Starts job processes, warm (forked from the zygote) when possible, else cold."""

    #: The zygote's program and its environment (None: this process's) and stderr; the test
    #: suite's server fork server (tests/server_forks.py) runs another under this protocol.
    zygote_code = "from localaws.compute.workers import _zygote_main; _zygote_main()"
    zygote_env: dict[str, str] | None = None
    zygote_stderr: int | None = subprocess.DEVNULL

    def __init__(self, warm: bool | None = None) -> None:
        if warm is None:
            warm = os.environ.get("LOCALAWS_WARM_WORKERS", "1") != "0"
        self.warm = warm and hasattr(os, "fork")
        self._lock = threading.Lock()
        self._zygote: subprocess.Popen | None = None
        self._handles: dict[int, Handle] = {}
        self._ids = itertools.count(1)

    # -- zygote management -------------------------------------------------
    def _ensure_zygote(self) -> subprocess.Popen:
        if self._zygote is not None and self._zygote.poll() is None:
            return self._zygote
        zygote = subprocess.Popen(
            [sys.executable, "-c", self.zygote_code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.zygote_stderr,
            start_new_session=True,
            env=self.zygote_env,
        )
        self._use(zygote)
        return zygote

    def adopt(self, zygote: Any) -> None:
        """Use `zygote`, a running zygote made otherwise (the part of `subprocess.Popen` used
        here: `stdin`, `stdout`, `poll`, `kill`, `wait`), until it ends; then start one."""
        with self._lock:
            self._use(zygote)

    def _use(self, zygote: Any) -> None:
        self._zygote = zygote
        threading.Thread(
            target=self._read, args=(zygote,), daemon=True, name="localaws-zygote-reader"
        ).start()

    def _read(self, zygote: subprocess.Popen) -> None:
        assert zygote.stdout is not None
        for line in zygote.stdout:
            message = json.loads(line)
            handle = self._handles.get(message["id"])
            if handle is None:
                continue
            if "pid" in message:
                handle.pid = message["pid"]
                handle._started.set()
            else:
                handle.status = message["status"]
                self._handles.pop(message["id"], None)
                handle._done.set()
        # EOF: the zygote died; its running children cannot be reaped by it any more.
        with self._lock:
            orphans = {i: h for i, h in self._handles.items() if h._zygote is zygote}
            for job_id in orphans:
                del self._handles[job_id]
            orphans = list(orphans.values())
        for handle in orphans:
            handle.kill()
            handle.error = "InternalServerError: the local worker process died while the job ran"
            handle._started.set()
            handle._done.set()

    def warm_up(self) -> None:
        """Start the zygote now (it imports in the background)."""
        if self.warm:
            with self._lock:
                self._ensure_zygote()

    # -- jobs --------------------------------------------------------------
    def start(self, spec: dict) -> Handle:
        """Start a process running `spec` (see `runner`); return its handle."""
        handle = Handle()
        if not self.warm:
            spec_file = tempfile.NamedTemporaryFile(
                "w", suffix=".json", dir=spec["cwd"], delete=False
            )
            with spec_file:
                json.dump(spec, spec_file)
            handle._popen = subprocess.Popen(
                [sys.executable, "-m", "localaws.compute.runner", spec_file.name],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                cwd=spec["cwd"],
            )
            handle.pid = handle._popen.pid
            handle._started.set()
            return handle
        with self._lock:
            zygote = self._ensure_zygote()
            job_id = next(self._ids)
            self._handles[job_id] = handle
            handle._zygote = zygote
            assert zygote.stdin is not None
            try:
                zygote.stdin.write((json.dumps({"id": job_id, "spec": spec}) + "\n").encode())
                zygote.stdin.flush()
            except OSError:
                self._handles.pop(job_id, None)
                raise WorkerDied("the local worker process is not accepting jobs") from None
        handle._started.wait(60)
        return handle

    def shutdown(self) -> None:
        if self._zygote is not None and self._zygote.poll() is None:
            self._zygote.kill()
            self._zygote.wait()
        self._zygote = None


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def warm_up_at_start() -> None:
    """Start the zygote now if the environment asks for it (WARM_AT_START_ENV)."""
    if os.environ.get(WARM_AT_START_ENV) == "1":
        pool().warm_up()


def pool() -> WorkerPool:
    """The server's shared worker pool."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool()
        return _pool
