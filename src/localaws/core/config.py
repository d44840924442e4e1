"""Where localaws listens and keeps its state; overridable through the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 4599
DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"


def default_state_dir() -> Path:
    """`$LOCALAWS_STATE_DIR`, else `.localaws/` in the nearest project (pyproject.toml) up."""
    if env := os.environ.get("LOCALAWS_STATE_DIR"):
        return Path(env).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if (folder / "pyproject.toml").is_file():
            return folder / ".localaws"
    return Path.home() / ".localaws"


@dataclass(frozen=True)
class Config:
    """Where one localaws server listens and stores its state."""

    state_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, state_dir: str | Path | None = None, port: int | None = None) -> Config:
        return cls(
            state_dir=Path(state_dir).expanduser().resolve() if state_dir else default_state_dir(),
            host=os.environ.get("LOCALAWS_HOST", DEFAULT_HOST),
            port=port or int(os.environ.get("LOCALAWS_PORT", DEFAULT_PORT)),
        )

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "server.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "server.log"
