"""A throwaway localaws: free port, temporary state, environment pointed at it while it runs."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localaws.cli import env_vars, start, stop
from localaws.core.config import Config


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running(state_dir: Path | None = None) -> Iterator[Config]:
    """Run a private localaws; LOCALAWS_* and AWS_* point at it until the block ends."""
    with tempfile.TemporaryDirectory(prefix="localaws-") as scratch:
        config = Config(state_dir=Path(state_dir or scratch), port=free_port())
        saved = dict(os.environ)
        os.environ["LOCALAWS_STATE_DIR"] = str(config.state_dir)
        os.environ["LOCALAWS_PORT"] = str(config.port)
        try:
            start(config)
            os.environ.update(env_vars(config))
            yield config
        finally:
            stop(config)
            os.environ.clear()
            os.environ.update(saved)
