"""The localaws server process: moto's WSGI app, patched, persistent, served on one port.

Start-up order: lock the state directory (flock on `server.lock`, held for the process's
life), bind the port, check and apply localaws's changes to moto (`localaws.services.groups`,
IAM checks included), restore saved state, create the admin credentials, run restore hooks,
then write `server.json` and serve. Any failure exits non-zero with one
clear line on stderr, before anything stored is touched.
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localaws.core.config import Config

log = logging.getLogger("localaws.server")
LOCK_FILE = "server.lock"
EXIT_IN_USE = 2
EXIT_BAD_STATE = 3
EXIT_INCOMPATIBLE_MOTO = 4


class StartupError(RuntimeError):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Start-up builds millions of long-lived objects (moto's modules, the restored state) and
    frees almost none: the cyclic collector would walk the growing heap again and again for
    nothing (two thirds of a restore's CPU with 150 tenants). It runs again afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def create_app(config: Config, persist: bool = True):
    """Build the WSGI application: moto's dispatcher with localaws's extensions applied."""
    # Step Functions tasks call back into this server; moto reads the port from MOTO_PORT.
    os.environ["MOTO_PORT"] = str(config.port)
    from moto.core.config import default_user_config
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from localaws import services
    from localaws.core import credentials, hooks
    from localaws.persistence.blobs import BlobStore
    from localaws.persistence.middleware import PersistMiddleware
    from localaws.persistence.store import Store
    from localaws.services.s3 import storage as s3_storage

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
    services.apply()
    app = DomainDispatcherApplication(create_backend_app)
    if not persist:
        return app
    started = time.time()
    store = Store(config.state_dir)
    store.ensure_format()
    blobs = BlobStore(config.state_dir / "blobs", store.journal)
    s3_storage.attach(blobs)
    restored = store.restore()
    removed = blobs.collect_garbage(s3_storage.referenced_blobs())
    log.info("restored %s (%d unreferenced blobs removed)", restored or "nothing", removed)
    hooks.activate(store)
    credentials.ensure_admin(config.state_dir)
    hooks.run_restore_callbacks()

    def health() -> dict:
        return {
            "pid": os.getpid(),
            "state_dir": str(config.state_dir),
            "port": config.port,
            "started": started,
        }

    full = PersistMiddleware(app, store, health)
    from localaws.core import loopback

    loopback.install(full, config.port)
    return full


def _lock_state_dir(config: Config):
    state_dir = config.state_dir
    if state_dir.exists() and not state_dir.is_dir():
        raise StartupError(f"state directory {state_dir} is not a directory", EXIT_BAD_STATE)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(state_dir / LOCK_FILE, "a+")
    except OSError as exc:
        raise StartupError(
            f"state directory {state_dir} is not writable: {exc.strerror}", EXIT_BAD_STATE
        ) from None
    if not os.access(state_dir, os.W_OK):
        raise StartupError(f"state directory {state_dir} is not writable", EXIT_BAD_STATE)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        other = ""
        try:
            other = f" (pid {json.loads(config.pid_file.read_text())['pid']})"
        except (OSError, ValueError, KeyError):
            pass
        raise StartupError(
            f"another localaws server{other} already uses state directory {state_dir}", EXIT_IN_USE
        ) from None
    return handle


def serve(config: Config) -> None:
    """Run the server in the foreground until SIGTERM/SIGINT."""
    from werkzeug.serving import make_server

    lock = _lock_state_dir(config)

    class Deferred:
        app = None

        def __call__(self, environ, start_response):
            return self.app(environ, start_response)

    deferred = Deferred()
    try:
        httpd = make_server(config.host, config.port, deferred, threaded=True)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror}", EXIT_IN_USE
        ) from None
    try:
        with _collector_paused():
            deferred.app = create_app(config)
    except Exception as exc:
        from localaws.core.patching import PatchError
        from localaws.persistence.store import StateError

        httpd.server_close()
        lock.close()
        if isinstance(exc, StateError):
            raise StartupError(str(exc), EXIT_BAD_STATE) from None
        if isinstance(exc, PatchError):  # moto is not the version localaws was written for
            raise StartupError(str(exc), EXIT_INCOMPATIBLE_MOTO) from None
        raise
    from localaws.core.files import write_atomic

    info = {
        "pid": os.getpid(),
        "host": config.host,
        "port": config.port,
        "started": time.time(),
        "state_dir": str(config.state_dir),
    }
    write_atomic(config.pid_file, json.dumps(info).encode())
    from localaws.compute.workers import warm_up_at_start

    warm_up_at_start()

    def _stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    log.info("localaws serving %s on %s", config.state_dir, config.endpoint_url)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
        store = getattr(deferred.app, "store", None)
        if store is not None:
            store.journal.close()
        config.pid_file.unlink(missing_ok=True)
        lock.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m localaws.server")
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        serve(Config.from_env(args.state_dir, args.port))
    except StartupError as exc:
        print(f"localaws: {exc}", file=sys.stderr)
        raise SystemExit(exc.code) from None


if __name__ == "__main__":
    main()
