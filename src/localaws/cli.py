"""localaws: an embedded AWS on this machine.

  localaws start    start the server in the background (idempotent), return once it answers
  localaws stop     stop it (its state stays)
  localaws status   running or not, URL, pid, since when, state size (exit 3 if not running)
  localaws env      `export` lines that point boto3, the AWS CLI and the SageMaker SDK at it
                    (and the SDK defaults file they name: default bucket, telemetry off)
  localaws reset    stop it and delete its state directory (asks on a terminal; --yes skips)

Defaults: port 4599 ($LOCALAWS_PORT), state directory `.localaws/` in the project
($LOCALAWS_STATE_DIR); the server log is `server.log` in the state directory.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from localaws.core.config import ACCOUNT_ID, DEFAULT_REGION, Config

COMMANDS = ("start", "stop", "status", "env", "reset")
HEALTH_PATH = "/_localaws/health"


class CliError(RuntimeError):
    """A failure to report as one line and a non-zero exit."""


def _health(config: Config, timeout: float = 0.5) -> dict | None:
    try:
        with urllib.request.urlopen(f"{config.endpoint_url}{HEALTH_PATH}", timeout=timeout) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_info(config: Config) -> dict | None:
    """The running server's `server.json` for this state directory, if its process lives."""
    try:
        info = json.loads(config.pid_file.read_text())
        pid = int(info["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _pid_alive(pid) else None


def _lock_held(config: Config) -> bool:
    """Whether a live server holds this state directory's lock (it does for its whole life)."""
    from localaws.server import LOCK_FILE

    try:
        with open(config.state_dir / LOCK_FILE, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def own_server(config: Config) -> dict | None:
    """`server.json` of this state directory's server if it is alive, answered or not.

    A server busy with writes may answer its health probe late; its process being alive and
    holding the state directory's lock is proof enough that it is ours and running.
    """
    info = _read_info(config)
    if not info or int(info.get("port", -1)) != config.port or not _alive(info.get("pid")):
        return None
    # the lock outlives a killed server while its forked workers wind down: the pid decides
    return info if _lock_held(config) else None


def _alive(pid: int | str | None) -> bool:
    """Whether process `pid` exists (a process of another user counts)."""
    try:
        os.kill(int(pid or 0), 0) if pid else None
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:
        pass
    return bool(pid)


def is_up(config: Config, timeout: float = 0.5) -> bool:
    """Whether a localaws server answers at `config`'s URL for `config`'s state directory."""
    health = _health(config, timeout)
    return bool(health) and Path(health["state_dir"]) == config.state_dir


def _port_busy(config: Config) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((config.host, config.port)) == 0


def start(config: Config, wait: float = 30.0) -> dict:
    """Start the server in the background (idempotent); return its info once it answers."""
    info = own_server(config)
    if info:  # running, perhaps too busy to answer the probe in time: never "another program"
        return info
    health = _health(config)
    if health:
        if Path(health["state_dir"]) == config.state_dir:
            return _read_info(config) or health
        raise CliError(
            f"port {config.port} is used by another localaws server "
            f"(state directory {health['state_dir']})"
        )
    if _port_busy(config):
        raise CliError(
            f"port {config.port} on {config.host} is in use by another program; "
            "choose another with --port or LOCALAWS_PORT"
        )
    if config.state_dir.exists() and not config.state_dir.is_dir():
        raise CliError(f"state directory {config.state_dir} is not a directory")
    try:
        config.state_dir.mkdir(parents=True, exist_ok=True)
        log = open(config.log_file, "ab")
    except OSError as exc:
        raise CliError(
            f"state directory {config.state_dir} is not writable: {exc.strerror}"
        ) from None
    offset = log.tell()
    with log:
        args = ["--state-dir", str(config.state_dir), "--port", str(config.port)]
        proc = launcher(args, log, _server_env(config))
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(_startup_failure(config, offset))
        health = _health(config, timeout=0.2)
        if health and health.get("pid") == proc.pid:
            return _read_info(config) or health
        time.sleep(0.03)
    proc.kill()
    raise CliError(f"localaws did not answer within {wait:.0f}s; see {config.log_file}")


def launch(args: list[str], log: BinaryIO, env: dict[str, str]) -> subprocess.Popen:
    """Run `python -m localaws.server <args>` in a session of its own, its output to `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "localaws.server", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )


#: What `start` launches the server with. Only the test suite replaces it (forks of a warm
#: process, tests/server_forks.py); `localaws start` always runs `launch`.
launcher: Callable[[list[str], BinaryIO, dict[str, str]], Any] = launch


def _server_env(config: Config) -> dict[str, str]:
    return {**os.environ, "LOCALAWS_HOST": config.host}


def _startup_failure(config: Config, offset: int) -> str:
    try:
        with open(config.log_file, "rb") as src:
            src.seek(offset)
            lines = src.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        lines = []
    reason = next((ln for ln in reversed(lines) if ln.startswith("localaws: ")), None)
    if reason:
        return reason.removeprefix("localaws: ")
    tail = lines[-1] if lines else "no output"
    return f"localaws exited at start ({tail}); see {config.log_file}"


def stop(config: Config) -> bool:
    """Stop the server of this state directory; False if none was running."""
    info = _read_info(config)
    if not info:
        return False
    pid = int(info["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _pid_alive(pid) or _zombie(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (OSError, IndexError):
        return False


def env_vars(config: Config) -> dict[str, str]:
    """Environment that points boto3, the AWS CLI and the SageMaker SDK at this server."""
    from localaws.core.credentials import read_admin_credentials

    creds = read_admin_credentials(config.state_dir)
    return {
        "AWS_ENDPOINT_URL": config.endpoint_url,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_REGION": DEFAULT_REGION,
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": str(sdk_config_file(config)),
    }


def sdk_config_file(config: Config) -> Path:
    """The SageMaker Python SDK (v2 and v3) defaults file for this server, written if needed.

    "Configuring and using defaults with the SageMaker Python SDK"
    (https://sagemaker.readthedocs.io/en/stable/overview.html#configuring-and-using-defaults-
    with-the-sagemaker-python-sdk): `Session.DefaultS3Bucket` spares `default_bucket()` the STS
    call it sends to the public regional endpoint whatever AWS_ENDPOINT_URL says (the bucket is
    AWS's default name; the SDK creates it), and `TelemetryOptOut` stops the telemetry calls
    that fail offline. It is the admin file (SAGEMAKER_ADMIN_CONFIG_OVERRIDE): a user's own
    config file still overrides it.
    """
    import yaml

    path = config.state_dir / "sagemaker-sdk-config.yaml"
    text = yaml.safe_dump(
        {
            "SchemaVersion": "1.0",
            "SageMaker": {
                "PythonSDK": {
                    "Modules": {
                        "Session": {"DefaultS3Bucket": f"sagemaker-{DEFAULT_REGION}-{ACCOUNT_ID}"},
                        "TelemetryOptOut": True,
                    }
                }
            },
        },
        sort_keys=False,
    )
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(text)
        partial.replace(path)
    return path


def _size(path: Path) -> int:
    from localaws.core.files import tree_size

    return tree_size(path)


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def status(config: Config) -> tuple[bool, str]:
    info = _read_info(config)
    size = _human(_size(config.state_dir)) if config.state_dir.is_dir() else "none"
    answering = bool(info) and is_up(config)
    if answering or own_server(config):
        since = datetime.datetime.fromtimestamp(info["started"]).isoformat(timespec="seconds")
        busy = "" if answering else " (busy: its health probe did not answer within 0.5 s)"
        return True, (
            f"localaws running at {config.endpoint_url}{busy}\n  pid {info['pid']}, "
            f"since {since}\n  state {config.state_dir} ({size})"
        )
    return False, f"localaws not running\n  state {config.state_dir} ({size})"


def reset(config: Config, yes: bool) -> str:
    state_dir = config.state_dir
    if not state_dir.exists():
        return f"nothing to delete: {state_dir} does not exist"
    if not state_dir.is_dir():
        raise CliError(f"{state_dir} is not a directory; not deleting it")
    print(
        f"This deletes {state_dir} ({_human(_size(state_dir))}): every bucket, object, "
        "table, role, stack, state machine and SageMaker record stored there, and the "
        "admin credentials.",
        flush=True,
    )
    if not yes and sys.stdin.isatty():
        answer = input("Delete? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise CliError("reset cancelled; nothing deleted")
    stop(config)
    shutil.rmtree(state_dir)
    return f"deleted {state_dir}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="localaws", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state-dir", type=Path, help="default: $LOCALAWS_STATE_DIR or ./.localaws"
    )
    parser.add_argument("--port", type=int, help="default: $LOCALAWS_PORT or 4599")
    parser.add_argument("--yes", "-y", action="store_true", help="reset: do not ask")
    parser.add_argument(
        "command", choices=COMMANDS, metavar="command", help="one of: " + ", ".join(COMMANDS)
    )
    args = parser.parse_args(argv)
    if args.port is not None and not 0 < args.port < 65536:
        parser.error(f"--port must be between 1 and 65535, got {args.port}")
    config = Config.from_env(args.state_dir, args.port)
    try:
        if args.command == "start":
            info = start(config)
            print(
                f"localaws running at {config.endpoint_url} (pid {info['pid']}, "
                f"state {config.state_dir})"
            )
        elif args.command == "stop":
            print("localaws stopped" if stop(config) else "localaws was not running")
        elif args.command == "status":
            running, text = status(config)
            print(text)
            return 0 if running else 3
        elif args.command == "env":
            for key, value in env_vars(config).items():
                print(f"export {key}={shlex.quote(value)}")
        elif args.command == "reset":
            print(reset(config, args.yes))
    except (CliError, RuntimeError) as exc:
        print(f"localaws: {exc}", file=sys.stderr)
        return 1
    return 0
