"""`localaws start | stop | status | env | reset`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from localaws.config import DEFAULT_REGION, Config

ACCESS_KEY = "test"
SECRET_KEY = "test"


def _read_info(config: Config) -> dict | None:
    try:
        info = json.loads(config.pid_file.read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(info["pid"], 0)
    except ProcessLookupError:
        return None
    return info


def is_up(config: Config, timeout: float = 0.5) -> bool:
    try:
        with urllib.request.urlopen(f"{config.endpoint_url}/moto-api/data.json", timeout=timeout):
            return True
    except OSError:
        return False


def start(config: Config, wait: float = 30.0) -> dict:
    """Start the server in the background (idempotent); return once it answers."""
    if (info := _read_info(config)) and is_up(config):
        return info
    config.state_dir.mkdir(parents=True, exist_ok=True)
    log = open(config.log_file, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "localaws.server", "--state-dir", str(config.state_dir),
         "--port", str(config.port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"localaws exited at start; see {config.log_file}")
        if is_up(config, timeout=0.2):
            return _read_info(config) or {"pid": proc.pid}
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"localaws did not answer within {wait:.0f}s; see {config.log_file}")


def stop(config: Config) -> bool:
    info = _read_info(config)
    if not info:
        return False
    os.kill(info["pid"], signal.SIGTERM)
    for _ in range(200):
        try:
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.kill(info["pid"], signal.SIGKILL)
    return True


def env_vars(config: Config) -> dict[str, str]:
    """Environment that points boto3, the AWS CLI and the SageMaker SDK at this server."""
    return {
        "AWS_ENDPOINT_URL": config.endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": DEFAULT_REGION,
        "AWS_REGION": DEFAULT_REGION,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="localaws", description=__doc__)
    parser.add_argument("--state-dir", type=Path, help="default: $LOCALAWS_STATE_DIR or ./.localaws")
    parser.add_argument("--port", type=int, help="default: $LOCALAWS_PORT or 4599")
    parser.add_argument("command", choices=["start", "stop", "status", "env", "reset"])
    args = parser.parse_args(argv)
    config = Config.from_env(args.state_dir, args.port)
    if args.command == "start":
        info = start(config)
        print(f"localaws running at {config.endpoint_url} (pid {info['pid']}, state {config.state_dir})")
    elif args.command == "stop":
        print("localaws stopped" if stop(config) else "localaws was not running")
    elif args.command == "status":
        info = _read_info(config)
        print(f"running at {config.endpoint_url}, pid {info['pid']}" if info else "not running")
        return 0 if info else 3
    elif args.command == "env":
        for key, value in env_vars(config).items():
            print(f"export {key}={value}")
    elif args.command == "reset":
        stop(config)
        shutil.rmtree(config.state_dir, ignore_errors=True)
        print(f"deleted {config.state_dir}")
    return 0
